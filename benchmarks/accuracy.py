"""Accuracy benchmark: the default recipes on the three MedMNIST tasks at 28 px.

Trains ``xai_lab.training.recipes.RECIPES[name]`` for pneumoniamnist, dermamnist and
retinamnist on this machine, and prints one table: validation ACC / AUC (and QWK for the
ordinal retina task), training wall time, and the published MedMNIST v2 TEST baselines beside
them. Our figures are on the validation split (the official test splits are held out), so they
are not directly comparable: they show that the recipe trains as intended.

It also measures the training throughput (images/s, steady-state epochs) of
``xai_lab.training.fit`` against a bare ``model.fit`` on the same model and data, in the same
run, and prints the ratio (target >= 0.9). ``--compare-ordinal`` adds softmax vs CORAL on
retinamnist, compared by quadratic weighted kappa.

Baselines: Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B. (2023).
MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
classification. Scientific Data 10, 41. doi:10.1038/s41597-022-01721-8 (Table 4, 28 x 28).

Run: ``XAI_LAB_DATA_DIR=../shared/data python benchmarks/accuracy.py``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DATASETS = ("pneumoniamnist", "dermamnist", "retinamnist")
# MedMNIST v2 (Yang et al. 2023), Table 4, test split, 28 x 28: (AUC, ACC)
BASELINES = {
    "pneumoniamnist": {"ResNet-18 (28)": (0.944, 0.854), "ResNet-50 (28)": (0.948, 0.854), "auto-sklearn": (0.942, 0.855)},
    "dermamnist": {"ResNet-18 (28)": (0.917, 0.735), "ResNet-50 (28)": (0.913, 0.735), "auto-sklearn": (0.902, 0.719)},
    "retinamnist": {"ResNet-18 (28)": (0.717, 0.524), "ResNet-50 (28)": (0.726, 0.528), "auto-sklearn": (0.690, 0.515)},
}
TARGETS = {"pneumoniamnist": (0.96, 0.88), "dermamnist": (0.92, 0.77), "retinamnist": (0.75, 0.54)}


def _fmt(value, digits=3):
    return "  -  " if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def throughput(n_images: int = 1500, epochs: int = 3) -> dict[str, float]:
    """Images/s of ``training.fit`` and of a bare ``model.fit`` (epochs 2.., same model/data)."""
    import keras

    from xai_lab import data, models, training

    recipe = training.recipes.get_recipe("pneumoniamnist")
    train = data.load("pneumoniamnist", "train").subset(np.arange(n_images))
    val = data.load("pneumoniamnist", "val")

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t)

    def steady(timer):  # skip the first epoch (tracing)
        return n_images * (len(timer.times) - 1) / sum(timer.times[1:])

    # bare model.fit on the same float arrays, with the same per-epoch validation
    training.set_seed(0)
    model = models.build(recipe.model, train.images.shape[1:], 2, **recipe.options)
    training.compile_model(model, learning_rate=recipe.learning_rate, weight_decay=recipe.weight_decay)
    bare_timer = EpochTimer()
    model.fit(train.x(), train.labels, batch_size=recipe.batch_size, epochs=epochs,
              validation_data=(val.x(), val.labels), callbacks=[bare_timer], verbose=0)
    # xai_lab.training.fit: tf.data pipeline, sklearn validation metrics, best-weights callback
    training.set_seed(0)
    model = models.build(recipe.model, train.images.shape[1:], 2, **recipe.options)
    fit_timer = EpochTimer()
    training.fit(model, train, val, epochs=epochs, batch_size=recipe.batch_size, seed=0,
                 augment=None, callbacks=[fit_timer], learning_rate=recipe.learning_rate)
    bare, ours = steady(bare_timer), steady(fit_timer)
    return {"bare": bare, "fit": ours, "ratio": ours / bare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--compare-ordinal", action="store_true", help="also train retinamnist with head='coral'")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)

    from xai_lab import config
    from xai_lab.training import recipes

    if config.data_dir() is None:
        print("XAI_LAB_DATA_DIR is not set: point it at the folder holding medmnist/*.npz", file=sys.stderr)
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# xai_lab accuracy benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{cores} CPU cores, load average at start {load:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            start = time.perf_counter()
            res = recipes.train_default(name, os.path.join(tmp, name))
            wall = time.perf_counter() - start
            rows.append((name, res, wall, "default"))
            m, f = res["metrics"], res["fit"]
            print(f"  trained {name}: {f['epochs_run']}/{f['epochs']} epochs ({f['stopped_by']}), "
                  f"best epoch {f['best_epoch']}, fit {f['seconds']:.0f} s, load avg {os.getloadavg()[0]:.1f}",
                  flush=True)
        if args.compare_ordinal:
            start = time.perf_counter()
            res = recipes.train_default("retinamnist", None, options={"head": "coral"})
            rows.append(("retinamnist", res, time.perf_counter() - start, "coral head"))

    print()
    print("Validation split (ours) vs MedMNIST v2 test baselines (Yang et al., Sci Data 2023, Table 4)")
    header = f"{'dataset':<15} {'variant':<11} {'val ACC':>7} {'val AUC':>7} {'val QWK':>7} {'sens/spec @thr':>15} {'fit s':>6} {'total s':>7} {'epochs':>6}"
    print(header)
    print("-" * len(header))
    for name, res, wall, variant in rows:
        m, f = res["metrics"], res["fit"]
        ss = f"{_fmt(m.get('sensitivity'))}/{_fmt(m.get('specificity'))}" if "sensitivity" in m else "-"
        print(f"{name:<15} {variant:<11} {_fmt(m['acc']):>7} {_fmt(m['auc']):>7} {_fmt(m.get('qwk')):>7} "
              f"{ss:>15} {f['seconds']:>6.0f} {wall:>7.0f} {f['epochs_run']:>3}/{f['epochs']:<2}")
    print()
    print(f"{'dataset':<15} {'baseline (TEST split)':<22} {'AUC':>6} {'ACC':>6}")
    for name in dict.fromkeys(r[0] for r in rows):
        for label, (auc, acc) in BASELINES[name].items():
            print(f"{name:<15} {label:<22} {auc:>6.3f} {acc:>6.3f}")
        t_auc, t_acc = TARGETS[name]
        print(f"{name:<15} {'our target (test)':<22} {t_auc:>6.3f} {t_acc:>6.3f}")
    if not args.skip_throughput:
        tp = throughput()
        print()
        print(f"Training throughput, pneumoniamnist subset, steady-state epochs: bare model.fit "
              f"{tp['bare']:.0f} img/s, xai_lab.training.fit {tp['fit']:.0f} img/s, "
              f"ratio {tp['ratio']:.2f} (target >= 0.9)")
    print("Note: the CPU is shared with other jobs (see load average): wall times are pessimistic.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
