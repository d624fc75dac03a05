"""Accuracy benchmark: the default recipes on the three MedMNIST tasks at 28 px and on the
high-resolution tasks (chest_xray and ham10000 at 128 px).

Trains ``xai_lab.training.recipes.get_recipe(name)`` (each dataset at its default size) on this
machine, each in a child process so that its peak memory (VmHWM) is its own, and prints one
table: validation ACC / AUC (and QWK for the ordinal retina task), training wall time, peak
memory, and the published TEST baselines beside them. Our figures are on the validation split
(the official test splits are held out), so they are not directly comparable: they show that
the recipe trains as intended. For ham10000 it also prints the balanced accuracy, the recall of
every class and the melanoma sensitivity at the decision rule fitted on val (prior correction).

It also measures the training throughput (images/s, steady-state epochs) of
``xai_lab.training.fit`` against a bare ``model.fit`` on the same model and data, in the same
run, and prints the ratio (target >= 0.9). ``--compare-ordinal`` adds softmax vs CORAL on
retinamnist, compared by quadratic weighted kappa.

Baselines: Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B. (2023).
MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
classification. Scientific Data 10, 41. doi:10.1038/s41597-022-01721-8 (Table 4, 28 x 28).
Kermany, D. S., Goldbaum, M., Cai, W. et al. (2018). Identifying medical diagnoses and
treatable diseases by image-based deep learning. Cell 172(5), 1122-1131 (Inception-v3
pretrained on ImageNet, 299 px, official test split). Doerrich, S., Di Salvo, F., Brockmann, J.,
Ledig, C. (2024). Rethinking model prototyping through the MedMNIST+ dataset collection.
arXiv:2404.15786 (best test figures per dataset and size).

Run: ``XAI_LAB_DATA_DIR=../shared/data python benchmarks/accuracy.py [--datasets chest_xray ham10000]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DATASETS = ("pneumoniamnist", "dermamnist", "retinamnist", "chest_xray", "ham10000")
# test split figures: (AUC, ACC). MedMNIST v2 (Yang et al. 2023), Table 4, 28 x 28; Kermany et
# al. 2018; MedMNIST+ (Doerrich et al. 2024), best over their models at the size named.
BASELINES = {
    "pneumoniamnist": {"ResNet-18 (28)": (0.944, 0.854), "ResNet-50 (28)": (0.948, 0.854), "auto-sklearn": (0.942, 0.855)},
    "dermamnist": {"ResNet-18 (28)": (0.917, 0.735), "ResNet-50 (28)": (0.913, 0.735), "auto-sklearn": (0.902, 0.719),
                   "MedMNIST+ best (28)": (0.927, 0.766)},
    "retinamnist": {"ResNet-18 (28)": (0.717, 0.524), "ResNet-50 (28)": (0.726, 0.528), "auto-sklearn": (0.690, 0.515),
                    "MedMNIST+ best (28)": (0.754, 0.543)},
    "chest_xray": {"Kermany 2018 (299)": (0.968, 0.928), "MedMNIST+ Pneum. (224)": (0.989, 0.916)},
    "ham10000": {"MedMNIST+ Derma (128)": (0.960, 0.818)},
}
TARGETS = {"pneumoniamnist": (0.96, 0.88), "dermamnist": (0.92, 0.77), "retinamnist": (0.75, 0.54),
           "chest_xray": (0.975, 0.93), "ham10000": (0.93, None)}
MELANOMA = "melanoma"


def _fmt(value, digits=3):
    return "  -  " if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


_CHILD = """
import json, os, resource, sys, tempfile, time
from xai_lab.training import recipes
name, seed, options = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
start = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    res = recipes.train_default(name, os.path.join(tmp, name), seed=seed, options=options or None)
wall = time.perf_counter() - start
with open("/proc/self/status") as fh:
    hwm = [int(line.split()[1]) for line in fh if line.startswith("VmHWM")]
peak = hwm[0] / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"metrics": res["metrics"], "fit": res["fit"], "wall": wall, "peak_mib": peak,
       "task": res["calibration"]["task"], "prior_strength": res["calibration"].get("prior_strength"),
       "options": options}
print("RESULT " + json.dumps(recipes.jsonable(out)))
"""


def train_in_child(name: str, seed: int | None = None, options: dict | None = None) -> dict:
    """Train ``name``'s default recipe in a fresh Python process; its figures and peak RSS."""
    args = [sys.executable, "-c", _CHILD, name, json.dumps(seed), json.dumps(options or {})]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"training {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


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
    parser.add_argument("--seed", type=int, default=None, help="training seed (default XAI_LAB_SEED or 0)")
    args = parser.parse_args(argv)

    from xai_lab import config

    if config.data_dir() is None:
        print("XAI_LAB_DATA_DIR is not set: point it at the folder holding medmnist/*.npz, chest_xray/ and ham10000/", file=sys.stderr)
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# xai_lab accuracy benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{cores} CPU cores, load average at start {load:.1f}")
    rows = []
    for name in args.datasets:
        res = train_in_child(name, seed=args.seed)
        variant = "default" if not res.get("options") else "coral head"
        rows.append((name, res, variant))
        f = res["fit"]
        print(f"  trained {name} at {res['metrics']['size']} px: {f['epochs_run']}/{f['epochs']} epochs "
              f"({f['stopped_by']}), best epoch {f['best_epoch']}, fit {f['seconds']:.0f} s, "
              f"peak {res['peak_mib']:.0f} MiB, load avg {os.getloadavg()[0]:.1f}", flush=True)
    if args.compare_ordinal:
        rows.append(("retinamnist", train_in_child("retinamnist", seed=args.seed, options={"head": "coral"}), "coral head"))

    print()
    print("Validation split (ours) vs published TEST baselines (MedMNIST v2, Kermany 2018, MedMNIST+)")
    header = (f"{'dataset':<15} {'px':>3} {'variant':<11} {'val ACC':>7} {'val AUC':>7} {'val QWK':>7} "
              f"{'sens/spec @thr':>15} {'bal.acc @rule':>13} {'fit s':>6} {'total s':>7} {'peak MiB':>8} {'epochs':>6}")
    print(header)
    print("-" * len(header))
    for name, res, variant in rows:
        m, f = res["metrics"], res["fit"]
        ss = f"{_fmt(m.get('sensitivity'))}/{_fmt(m.get('specificity'))}" if "sensitivity" in m else "-"
        print(f"{name:<15} {m['size']:>3} {variant:<11} {_fmt(m['acc']):>7} {_fmt(m['auc']):>7} "
              f"{_fmt(m.get('qwk')):>7} {ss:>15} {_fmt(m.get('balanced_accuracy_at_threshold')):>13} "
              f"{f['seconds']:>6.0f} {res['wall']:>7.0f} {res['peak_mib']:>8.0f} {f['epochs_run']:>3}/{f['epochs']:<2}")
    for name, res, _ in rows:
        m = res["metrics"]
        if res["task"] == "multiclass" and "recall_by_class" in m:
            print()
            print(f"{name} at the decision rule fitted on val (prior strength {res['prior_strength']}): "
                  f"balanced accuracy {_fmt(m['balanced_accuracy_at_threshold'])} (argmax "
                  f"{_fmt(m['balanced_accuracy'])}), accuracy {_fmt(m['acc_at_threshold'])}, macro AUC {_fmt(m['auc'])}")
            for label, recall in m["recall_by_class"].items():
                print(f"  recall {label:<48} {_fmt(recall)}")
            if MELANOMA in m["recall_by_class"]:
                print(f"  melanoma sensitivity {_fmt(m['recall_by_class'][MELANOMA])}")
        if name == "chest_xray":
            print()
            print(f"chest_xray at the Youden threshold {_fmt(m['threshold'])} fitted on val: accuracy "
                  f"{_fmt(m['acc_at_threshold'])}, sensitivity {_fmt(m['sensitivity'])}, "
                  f"specificity {_fmt(m['specificity'])} (val: {m['n']} images)")

    print()
    print(f"{'dataset':<15} {'baseline (TEST split)':<24} {'AUC':>6} {'ACC':>6}")
    for name in dict.fromkeys(r[0] for r in rows):
        for label, (auc, acc) in BASELINES[name].items():
            print(f"{name:<15} {label:<24} {auc:>6.3f} {acc:>6.3f}")
        t_auc, t_acc = TARGETS[name]
        print(f"{name:<15} {'our target (test)':<24} {t_auc:>6.3f} {_fmt(t_acc):>6}")
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
