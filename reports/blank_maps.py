"""Why are Grad-CAM and deep Taylor maps blank on so many pneumonia images? Measured.

Trains the CNNs the course and the demo use on PneumoniaMNIST (briefly), then, on the
validation split, counts per predicted class and per layer:

- blank Grad-CAM maps (zero everywhere) of the predicted class, with the library's Grad-CAM;
- the same map before Grad-CAM's final ReLU: all <= 0 (blank after the ReLU), mixed, or all > 0;
- the sign of the target logit ``y_c`` (deep Taylor starts from ``max(y_c, 0)``: a negative
  logit gives an all-zero map), and blank deep Taylor maps;
- the sign of the channel weights ``alpha_k`` (spatial means of ``d y_c / d A_k``);
- blank maps of the contrastive score ``y_c - y_other`` (what a two-class softmax depends on)
  with Grad-CAM and deep Taylor.

It also checks the identity that explains the blank maps on a network with global average
pooling: at the last ReLU, the Grad-CAM map before its ReLU sums to ``y_c - b_c(x)``, where
``b_c(x)`` is the part of the logit that comes from the biases after the pooling (the map's
sum is the logit's linear part in the pooled features).

Usage::

    python reports/blank_maps.py            # notebook 04's model (fast and full) + the recipe
    python reports/blank_maps.py --quick    # notebook 04's fast-mode model only

Prints Markdown tables; nothing is written to disk. Every figure is measured in the run.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _cam_parts(model: Any, layer: str, x: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Grad-CAM of the score ``sum_k weights[n, k] * logit[n, k]`` at ``layer``, before its ReLU.

    Returns the pre-ReLU maps (N, h, w), the channel weights alpha (N, K) and the logits.
    """
    import tensorflow as tf

    from xai_lab.explain import _graph

    grad_model = _graph.activation_model(model, layer)
    parts: dict[str, list[np.ndarray]] = {"cam": [], "alpha": [], "logits": []}
    for s in _graph.batches(len(x), 64):
        xs = tf.constant(x[s])
        with tf.GradientTape() as tape:
            a, logits = grad_model(xs, training=False)
            score = tf.reduce_sum(logits * tf.constant(weights[s], tf.float32), axis=1)
        g = tape.gradient(score, a)
        alpha = tf.reduce_mean(g, axis=(1, 2))
        cam = tf.reduce_sum(alpha[:, None, None, :] * a, axis=-1)
        parts["cam"].append(cam.numpy())
        parts["alpha"].append(alpha.numpy())
        parts["logits"].append(logits.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} ({100.0 * count / max(total, 1):.0f} %)"


def measure(name: str, model: Any, val: Any) -> None:
    from xai_lab import explain
    from xai_lab.explain import _graph

    x = val.x()
    logits = np.asarray(model.predict_on_batch(x), np.float64)
    pred = logits.argmax(1)
    n, k = logits.shape
    names = val.label_names
    onehot = np.eye(k)[pred]
    contrast = 2 * onehot - 1  # y_c - y_other for two classes
    print(f"\n### {name}\n")
    acc = float((pred == val.labels).mean())
    print(f"validation accuracy {acc:.3f} on {n} images; predicted "
          + ", ".join(f"{names[c]} {int((pred == c).sum())}" for c in range(k)))
    y_c = logits[np.arange(n), pred]
    print("\nTarget logit y_c of the predicted class (deep Taylor starts from max(y_c, 0)):\n")
    print("| predicted | images | y_c <= 0 | median y_c | median y_other |")
    print("|---|---|---|---|---|")
    for c in range(k):
        sel = pred == c
        other = logits[sel][:, 1 - c] if k == 2 else np.nan
        print(f"| {names[c]} | {int(sel.sum())} | {_pct(int((y_c[sel] <= 0).sum()), int(sel.sum()))} "
              f"| {np.median(y_c[sel]):.2f} | {np.median(other):.2f} |")

    layers = _graph.spatial_layers(model)
    print("\nGrad-CAM of the predicted class per layer: blank maps (library), and the map before "
          "Grad-CAM's ReLU (all <= 0 / mixed / all > 0), and channel weights alpha_k > 0:\n")
    print("| layer | grid | blank (library) | "
          + " | ".join(f"blank, predicted {names[c]}" for c in range(k))
          + " | pre-ReLU all <= 0 | mixed | all > 0 | alpha_k > 0 | blank, contrastive y_c - y_other |")
    print("|---" * (8 + k) + "|")
    for layer in layers:
        e = explain.get("gradcam", layer=layer).explain(model, x)
        blank = np.abs(e.maps).reshape(n, -1).max(1) == 0
        parts = _cam_parts(model, layer, x, onehot)
        cam = parts["cam"].reshape(n, -1)
        neg = (cam <= 0).all(1)
        pos = (cam > 0).all(1)
        alpha_pos = float((parts["alpha"] > 0).mean())
        cparts = _cam_parts(model, layer, x, contrast)
        cblank = (cparts["cam"].reshape(n, -1) <= 0).all(1)
        grid = "x".join(str(d) for d in e.raw_maps.shape[1:])
        per_class = " | ".join(_pct(int(blank[pred == c].sum()), int((pred == c).sum())) for c in range(k))
        print(f"| {layer} | {grid} | {_pct(int(blank.sum()), n)} | {per_class} | {_pct(int(neg.sum()), n)} "
              f"| {_pct(int((~neg & ~pos).sum()), n)} | {_pct(int(pos.sum()), n)} "
              f"| {alpha_pos:.2f} | {_pct(int(cblank.sum()), n)} |")
        if layer == layers[-1]:
            last_blank, last_parts = blank, parts
    print("\nBlank Grad-CAM maps at the default layer by predicted class "
          f"({layers[-1]}), and what the pre-ReLU map sums to:\n")
    print("| predicted | blank | blank when y_c <= 0 | blank when y_c > 0 |")
    print("|---|---|---|---|")
    for c in range(k):
        sel = pred == c
        print(f"| {names[c]} | {_pct(int(last_blank[sel].sum()), int(sel.sum()))} "
              f"| {_pct(int((last_blank & sel & (y_c <= 0)).sum()), int((sel & (y_c <= 0)).sum()))} "
              f"| {_pct(int((last_blank & sel & (y_c > 0)).sum()), int((sel & (y_c > 0)).sum()))} |")
    cam_sum = last_parts["cam"].reshape(n, -1).sum(1)
    bias_part = y_c - cam_sum
    print(f"\nAt {layers[-1]}: sum of the pre-ReLU map = y_c - b_c(x); the bias part b_c(x) = "
          f"y_c - sum has median {np.median(bias_part):.2f} (IQR {np.percentile(bias_part, 25):.2f}"
          f" .. {np.percentile(bias_part, 75):.2f}); correlation of the sum with y_c "
          f"{np.corrcoef(cam_sum, y_c)[0, 1]:.3f}; blank maps with sum <= 0: "
          f"{_pct(int((last_blank & (cam_sum <= 0)).sum()), int(last_blank.sum()))}")

    for method in ("deep_taylor", "deep_taylor.bounded"):
        e = explain.get(method).explain(model, x)
        blank = np.abs(e.maps).reshape(n, -1).max(1) == 0
        print(f"\n{method}: blank maps {_pct(int(blank.sum()), n)}; of those with y_c <= 0: "
              f"{_pct(int((blank & (y_c <= 0)).sum()), int((y_c <= 0).sum()))}; "
              + ", ".join(f"predicted {names[c]} {_pct(int(blank[pred == c].sum()), int((pred == c).sum()))}"
                          for c in range(k)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="notebook 04's fast-mode model only")
    parser.add_argument("--recipe-epochs", type=int, default=4)
    args = parser.parse_args()

    from xai_lab import config, data, models, training

    seed = config.seed()
    train_full, how = data.load_best("pneumoniamnist", "train")
    val, _ = data.load_best("pneumoniamnist", "val")
    print(f"data: {how}; seed {seed}; the machine's 2 cores were shared while this ran")
    rng = np.random.default_rng(seed)
    runs = [("notebook 04, fast mode (1500 images, 2 epochs)", 1500, 2)]
    if not args.quick:
        runs.append(("notebook 04, full mode (all images, 8 epochs)", len(train_full), 8))
    for title, n_train, epochs in runs:
        rng = np.random.default_rng(seed)
        train = train_full.subset(np.sort(rng.choice(len(train_full), min(n_train, len(train_full)),
                                                     replace=False)))
        training.set_seed(seed)
        model = models.build("cnn", train.images.shape[1:], train.n_classes,
                             filters=(16, 32, 64), convs_per_block=1, dense=64)
        start = time.perf_counter()
        training.fit(model, train, val, epochs=epochs, batch_size=32, seed=seed, monitor="val_loss")
        print(f"\n(trained in {time.perf_counter() - start:.0f} s)")
        measure(title, model, val)
    if not args.quick:
        start = time.perf_counter()
        trained = training.recipes.train_on("pneumoniamnist", train_full, val,
                                            epochs=args.recipe_epochs, seed=seed)
        print(f"\n(trained in {time.perf_counter() - start:.0f} s)")
        measure(f"pneumonia recipe ({args.recipe_epochs} epochs, as the demo)", trained["model"], val)


if __name__ == "__main__":
    main()
