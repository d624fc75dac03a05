"""Rotation benchmark: a CNN, the same CNN trained with rotation augmentation, and a p4 CNN
(``p4cnn``, Cohen & Welling 2016) at equal parameter count, on a dermoscopy task.

For each model it prints the number of parameters, the training time (wall and CPU
seconds), the validation accuracy (and AUC) on the validation images rotated by 0, 90, 180,
270 and 45 degrees, the share of images whose predicted class stays that of the upright image
("same 90", "same 45"), the drop of accuracy from 0 to 90 degrees in points (target for the
p4 CNN: <= 0.5 point; the plain CNN's drop is measured beside it), and each model's largest
relative change of the logits under quarter turns of 256 validation images (target for the
p4 CNN: <= 1e-5). Everything is measured in one run.

Models (all trained with ``xai_lab.training.fit``, the dataset recipe's learning rate, batch
size and validation metric, the same seed and epochs):

- ``cnn``: the recipe's CNN (dermamnist: filters 32/64/128, one convolution per block,
  Dense 128), no augmentation;
- ``cnn+aug``: the same with the recipe's dermoscopy augmentation (random flips and 90-degree
  rotations, small shifts, zoom and colour jitter; see ``xai_lab.data.pipeline``);
- ``p4cnn``: filters 16/32/64 (each seen in 4 rotations: 64/128/256 channels), one
  convolution per block, no augmentation, its Dense width chosen so that its parameter count
  matches the CNN's.

The 45-degree images are interpolated (bilinear, border pixels repeated at the corners):
neither network is equivariant to that rotation.

Measured 2026-12-04 on the development machine (2 CPU cores shared with other jobs, load
average 14-21; dermamnist 28 px, 16 epochs, seed 0; two runs gave the same accuracies):

=========  =======  ======  ======  =====  =====  =====  =====  =====  =======  =======  ========
model      params   wall s  CPU s   0      90     180    270    45     same 90  same 45  logit err
=========  =======  ======  ======  =====  =====  =====  =====  =====  =======  =======  ========
cnn        111335   643     199     0.767  0.770  0.759  0.761  0.759  0.935    0.915    2.0e-01
cnn+aug    111335   562     213     0.771  0.766  0.765  0.775  0.756  0.963    0.929    1.4e-01
p4cnn      111335   2213    572     0.764  0.764  0.764  0.764  0.751  1.000    0.956    1.7e-07
=========  =======  ======  ======  =====  =====  =====  =====  =====  =======  =======  ========

Accuracy from 0 to 90 degrees: cnn -0.3 points (it rose), cnn+aug +0.5, p4cnn 0.0 (target
<= 0.5: met; its logits change by 1.7e-07, target <= 1e-5: met). On DermaMNIST the accuracy
barely moves for any of them (two thirds of the images are "nv"); the predictions do: the
plain CNN changes its answer on 6.5 % of the images turned by 90 degrees, the augmented one on
3.7 %, the p4 CNN on none. The p4 CNN took 2.9 times the CNN's CPU time (it has twice the
channels at the same parameter count).

Run: ``XAI_LAB_DATA_DIR=../shared/data python benchmarks/equivariance.py`` (dermamnist, 28 px);
``--dataset ham10000 --size 128`` for HAM10000 at 128 px; ``--epochs``; ``--limit`` and
``--val-limit`` (the first N training / validation images, for a quick look).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

VARIANTS = ("cnn", "cnn+aug", "p4cnn")


def logit_invariance(model, val, n: int = 256) -> float:
    """Largest relative change of the logits of ``n`` validation images under quarter turns."""
    from xai_lab import models
    from xai_lab.models import equivariant as eq

    x = val.images[:n]
    ref = models.predict_logits(model, x)
    return max(eq.relative_error(models.predict_logits(model, eq.rotate(x, 90 * k)), ref)
               for k in (1, 2, 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dermamnist", help="dermamnist (default) or ham10000")
    parser.add_argument("--size", type=int, default=None, help="image size (default: the dataset's)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's (dermamnist 16)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N training images")
    parser.add_argument("--val-limit", type=int, default=None,
                        help="score only the first N validation images (a quick look, not a result)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    args = parser.parse_args(argv)

    from xai_lab import config, data, models, training
    from xai_lab.course.symmetry import ANGLES, rotation_scores
    from xai_lab.models import equivariant as eq

    if config.data_dir() is None:
        print("XAI_LAB_DATA_DIR is not set: point it at the folder holding the datasets "
              "(medmnist/dermamnist.npz, ham10000/)", file=sys.stderr)
        return 2
    recipe = training.recipes.RECIPES["dermamnist"]
    epochs = int(args.epochs or recipe.epochs)
    train = data.load(args.dataset, "train", size=args.size)
    val = data.load(args.dataset, "val", size=args.size)
    if args.limit:
        train = train.subset(np.arange(min(args.limit, len(train))))
    if args.val_limit:
        val = val.subset(np.arange(min(args.val_limit, len(val))))
    shape, k = tuple(train.images.shape[1:]), int(train.n_classes)

    cnn_options = dict(recipe.options)
    cnn_params = models.build("cnn", shape, k, **cnn_options).count_params()
    p4_options = eq.matching_options(cnn_params, shape, k, filters=(16, 32, 64),
                                     convs_per_block=1, dropout=0.3)
    settings = {
        "cnn": ("cnn", cnn_options, None),
        "cnn+aug": ("cnn", cnn_options, "dermoscopy"),
        "p4cnn": ("p4cnn", p4_options, None),
    }

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# xai_lab rotation benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.processor() or platform.machine()}, {cores} CPU cores, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"# command: python benchmarks/equivariance.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"# {args.dataset} {shape[0]}x{shape[1]}x{shape[2]}: {len(train)} train, {len(val)} val images, "
          f"{k} classes; {epochs} epochs, batch {recipe.batch_size}, lr {recipe.learning_rate}, "
          f"best epoch by {recipe.monitor}, seed {args.seed}")
    print(f"# cnn options {cnn_options}; p4cnn options {p4_options}")

    rows = []
    for variant in args.variants:
        family, options, augment = settings[variant]
        training.set_seed(args.seed)
        model = models.build(family, shape, k, **options)
        cpu_start = time.process_time()
        result = training.fit(
            model, train, val, epochs=epochs, batch_size=recipe.batch_size, seed=args.seed,
            augment=augment, monitor=recipe.monitor, learning_rate=recipe.learning_rate,
            weight_decay=recipe.weight_decay,
        )
        cpu = time.process_time() - cpu_start  # CPU seconds of this process: less sensitive to sharing
        scores = rotation_scores(model, val)
        invariance = logit_invariance(model, val)
        rows.append((variant, model.count_params(), result, scores, invariance, cpu))
        print(f"  trained {variant}: {result.epochs_run} epochs, best {result.best_epoch}, "
              f"{result.seconds:.0f} s wall, {cpu:.0f} s CPU, load avg {os.getloadavg()[0]:.1f}",
              flush=True)

    print()
    head = (f"{'model':<8} {'params':>8} {'train s':>7} {'CPU s':>7} {'s/epoch':>7} "
            + " ".join(f"{'acc ' + str(a):>7}" for a in ANGLES)
            + f" {'0->90 pts':>9} {'same 90':>7} {'same 45':>7} {'auc 0':>6} {'auc 90':>6} {'auc 45':>6} {'logit err':>9}")
    print(head)
    print("-" * len(head))
    for variant, params, result, scores, invariance, cpu in rows:
        drop = 100 * (scores[0]["acc"] - scores[90]["acc"])
        print(f"{variant:<8} {params:>8d} {result.seconds:>7.0f} {cpu:>7.0f} {result.seconds / result.epochs_run:>7.1f} "
              + " ".join(f"{scores[a]['acc']:>7.3f}" for a in ANGLES)
              + f" {drop:>9.1f} {scores[90]['agree']:>7.3f} {scores[45]['agree']:>7.3f}"
                f" {scores[0]['auc']:>6.3f} {scores[90]['auc']:>6.3f} "
                f"{scores[45]['auc']:>6.3f} {invariance:>9.1e}")
    print()
    base = next((r for r in rows if r[0] == "cnn"), None)
    for variant, params, result, scores, invariance, cpu in rows:
        drop = 100 * (scores[0]["acc"] - scores[90]["acc"])
        line = f"{variant}: accuracy 0 -> 90 degrees {drop:+.1f} points"
        if variant == "p4cnn":
            line += (f" (target <= 0.5: {'met' if drop <= 0.5 else 'MISSED'}); logits change by "
                     f"{invariance:.1e} relative under quarter turns (target <= 1e-5: "
                     f"{'met' if invariance <= 1e-5 else 'MISSED'})")
        if base is not None and variant != "cnn":
            line += (f"; params / cnn {params / base[1]:.3f}, training time / cnn "
                     f"{result.seconds / base[2].seconds:.2f} wall, {cpu / base[5]:.2f} CPU")
        print(line)
    print("Note: the CPU is shared with other jobs (see the load averages): wall times are "
          "pessimistic and vary between runs; CPU seconds (this process, all its threads) vary less.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
