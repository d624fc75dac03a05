"""Speed of every registered explainer, beside the passes and libraries it is built on.

For a 28x28x1 and a 64x64x3 ``cnn`` (``xai_lab.models.build("cnn", ...)``, random weights,
2 classes) at batch 16 and 64, prints milliseconds per image for:

- one forward pass and one forward+backward pass (gradient of the target logit with respect
  to the input), both compiled with ``tf.function`` (the floor any gradient method pays);
- every method in ``xai_lab.explain.available()`` through ``explain()`` (the whole call:
  input checks, the prediction forward pass and the method), with shap in its three algorithms;
- tf-explain's GradCAM called directly (``get_gradients_and_filters`` +
  ``generate_ponderated_output``, one class for the batch, as its API takes);
- shap's explainers called directly with the same settings and background as our wrapper
  (and the same images per model call: ``SHAP.images_per_call``);
- with deep Taylor, "z+ convolutions only" (:func:`zplus_convolutions`): its forward pass and
  the two extra convolutions per layer the z+ rule needs, without the rule's elementwise work
  (run on the same chunks of the batch as deep Taylor's analyzer, see ``Analyzer.chunk_size``),
  reported as measured ratios with no target: deep Taylor over it (how close deep Taylor is to
  its own floor) and it over one forward pass (the floor the 3x target leaves room above).

Each figure is the median of ``--repeats`` samples after one warm-up call; a sample calls
the function in a loop for at least ``--min-seconds`` (0.2) and keeps the time per call.
Ratios are measured in the same run and checked against the targets of issue 4:
Grad-CAM <= 1.5x forward+backward and >= 2x faster than tf-explain; deep Taylor <= 3x one
forward pass; shap wrappers <= 1.10x shap called directly. A ratio with a target is the
median of the ratios of alternating samples (baseline, method, baseline, method, ...), so a
change in the machine's speed during the run (other work on the host) moves both sides of a
ratio together; the table's columns divide medians taken over the whole run.

Usage: ``python benchmarks/explainers.py [--repeats 5] [--min-seconds 0.2] [--quick]
[--batches 16 64] [--sizes 28 64] [--methods NAME ...] [--onednn on|off]`` (``--quick``:
batch 16 only, smaller shap settings: nsamples 16, max_evals 100 instead of 64 and 300). ``--onednn`` sets TensorFlow's
``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow is imported: ``off`` is how the test suite runs
(Eigen kernels, bit-reproducible); without the option the environment decides, and when the
variable is unset TensorFlow chooses by CPU: on the development machine (AMD EPYC, AVX2, no
AVX-512) it runs Eigen. The header line reports which kernels TensorFlow actually enabled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", message=r"(?s).*structure of `inputs`")
warnings.filterwarnings("ignore", message=r"Your TensorFlow version is newer")


class Timings:
    """Seconds per call, sampled; ratios taken between samples of the same round.

    One sample calls ``fn`` in a loop until ``min_seconds`` have passed (one call when it is
    slower than that) and keeps the mean time per call: a single call of a fast function is
    too short to time on a busy machine. :meth:`pair` alternates samples of a baseline and a
    method and returns the median of the per-round ratios, so that a slow drift of the
    machine's speed (other work on the host) moves both sides of each ratio together.
    """

    def __init__(self, min_seconds: float = 0.2, clock=time.perf_counter) -> None:
        self.min_seconds = min_seconds
        self.clock = clock
        self.samples: dict[str, list[float]] = {}
        self._warm: set[str] = set()

    def sample(self, label: str, fn) -> float:
        if label not in self._warm:
            fn()  # warm-up: tracing, caches
            self._warm.add(label)
        calls, start = 0, self.clock()
        while True:
            fn()
            calls += 1
            elapsed = self.clock() - start
            if elapsed >= self.min_seconds:
                break
        seconds = elapsed / calls
        self.samples.setdefault(label, []).append(seconds)
        return seconds

    def measure(self, label: str, fn, repeats: int) -> None:
        for _ in range(repeats):
            self.sample(label, fn)

    def pair(self, base: str, base_fn, label: str, fn, repeats: int) -> float:
        """Median over ``repeats`` rounds of (time of ``fn``) / (time of ``base_fn``)."""
        ratios = []
        for _ in range(repeats):
            b = self.sample(base, base_fn)
            ratios.append(self.sample(label, fn) / b)
        return statistics.median(ratios)

    def ms_per_image(self, label: str, n_images: int) -> float:
        return 1000.0 * statistics.median(self.samples[label]) / n_images


def zplus_convolutions(model):
    """The convolutions deep Taylor's z+ rule cannot do without, and nothing else.

    A compiled ``x -> tensors`` running the canonical graph's forward pass (BatchNorm folded,
    as deep Taylor runs it) and, for every convolution and Dense layer, the product with the
    positive weights (the rule's denominators ``z+``) and one transposed product (how relevance
    goes back). That is three convolutions per layer; deep Taylor divided by this time says how
    much the rule's elementwise work (divisions, products, max-pool winner-take-all) adds.
    """
    import tensorflow as tf

    from xai_lab.explain.lrp import propagate, rules

    graph = propagate.graph_for(model)

    @tf.function(input_signature=[tf.TensorSpec(graph.input_shape, tf.float32)])
    def convolutions(x):
        params = propagate.read_params(graph)
        values = propagate.forward_activations(graph, x, params)
        out = [values[graph.output]]
        for op in graph.ops:
            if op.kind == "linear" and op.linear in ("conv", "dense"):
                w, _ = params[op.output]
                w_plus = tf.nn.relu(w)
                x_in = values[op.inputs[0]]
                out.append(rules.linear_vjp(op, x_in, w_plus, rules.apply_linear(op, x_in, w_plus)))
        return out

    return convolutions


def run_case(model, shape, n, layer, rng, args, shap_settings, nsamples, max_evals, failures):
    """Time everything for one model and batch size; print the table and the target checks."""
    import shap
    from tf_explain.core.grad_cam import GradCAM as TFExplainGradCAM

    from xai_lab import explain
    from xai_lab.explain import _graph
    from xai_lab.explain.shap_methods import seeded_numpy

    x = rng.uniform(0, 1, (n, *shape)).astype(np.float32)
    t = np.asarray(model.predict_on_batch(x)).argmax(1).astype(np.int32)
    forward = _graph.forward_function(model)
    gradient = _graph.gradient_function(model)
    timer = Timings(args.min_seconds)

    def fwd():
        return forward(x).numpy()

    def fwd_bwd():
        return [a.numpy() for a in gradient(x, t)]

    timer.measure("forward pass", fwd, args.repeats)
    timer.measure("forward+backward", fwd_bwd, args.repeats)

    def tfx_gradcam():
        out, g = TFExplainGradCAM.get_gradients_and_filters(model, x, layer, 0, False)
        return [c.numpy() for c in TFExplainGradCAM.generate_ponderated_output(out, g)]

    view = _graph.functional_view(model)
    bg = np.zeros((1, *shape), np.float32)
    # the images per model call our wrapper uses (its batch_size 64, capped by the working set)
    per_call = explain.get("shap").images_per_call(model)
    grad_expl = shap.GradientExplainer(view, bg, batch_size=per_call)
    deep_expl = shap.DeepExplainer(view, bg)
    part_expl = shap.Explainer(
        lambda z: forward(np.asarray(z, np.float32)).numpy(),
        shap.maskers.Image(f"blur({max(3, (shape[0] // 4) | 1)},{max(3, (shape[0] // 4) | 1)})", shape),
        algorithm="partition",
    )

    def shap_gradient():
        for i in range(n):
            with seeded_numpy(0):
                grad_expl.shap_values(x[i : i + 1], nsamples=nsamples,
                                      ranked_outputs=np.array([[t[i]]]),
                                      output_rank_order="custom", rseed=0)

    def shap_deep():
        with seeded_numpy(0):
            deep_expl.shap_values(x, check_additivity=False)

    def shap_partition():
        for i in range(n):
            with seeded_numpy(0):
                part_expl(x[i : i + 1], max_evals=max_evals, batch_size=per_call,
                          outputs=[int(t[i])], silent=True)

    slow = max(1, args.repeats // 2)
    direct = {"gradient": ("shap GradientExplainer (direct)", shap_gradient),
              "deep": ("shap DeepExplainer (direct)", shap_deep),
              "partition": ("shap partition (direct)", shap_partition)}
    ratios: dict[str, float] = {}  # checked against the targets
    notes: dict[str, float] = {}  # printed, no target
    for name in args.methods or explain.available():
        variants = (
            [(f"shap[{k}]", s) for k, s in shap_settings.items()]
            if name == "shap"
            else [(name, {})]
        )
        for label, settings in variants:
            explainer = explain.get(name, **settings)
            try:
                explainer.check_model(model)
            except explain.UnsupportedModelError as exc:
                print(f"  ({label}: unsupported: {str(exc)[:80]})")
                continue
            slow_method = label.startswith(("shap", "tfexplain.occlusion")) and label != "shap[deep]"
            reps = slow if slow_method else args.repeats

            def run(e=explainer):
                return e.explain(model, x)

            # a method with a target is timed in alternation with what the target compares it to
            if label == "gradcam":
                ratios["gradcam / forward+backward"] = timer.pair(
                    "forward+backward", fwd_bwd, label, run, reps)
                ratios["tf-explain GradCAM / gradcam"] = timer.pair(
                    label, run, "tf-explain GradCAM (direct)", tfx_gradcam, reps)
            elif label == "deep_taylor":
                ratios["deep_taylor / forward"] = timer.pair("forward pass", fwd, label, run, reps)
                convolutions = zplus_convolutions(model)
                step = explainer.analyzer(model).chunk_size(x.shape[1:], explainer.parameters["batch_size"])

                def floor(convolutions=convolutions, step=step):  # deep Taylor's chunks
                    return [convolutions(x[i : i + step]) for i in range(0, n, step)]

                notes["deep_taylor / its z+ convolutions"] = timer.pair(
                    "z+ convolutions only", floor, label, run, reps)
                notes["z+ convolutions only / forward"] = timer.pair(
                    "forward pass", fwd, "z+ convolutions only", floor, reps)
            elif name == "shap":
                ratios[f"{label} / shap direct"] = timer.pair(
                    *direct[settings["algorithm"]], label, run, reps)
            else:
                timer.measure(label, run, reps)

    fb = timer.ms_per_image("forward+backward", n)
    fw = timer.ms_per_image("forward pass", n)
    print(f"\ncnn {shape[0]}x{shape[1]}x{shape[2]}, batch {n}  (Grad-CAM layer {layer})")
    print(f"  {'what':36s} {'ms/img':>9s} {'x fwd':>7s} {'x fwd+bwd':>9s}")
    for label in timer.samples:
        ms = timer.ms_per_image(label, n)
        print(f"  {label:36s} {ms:9.3f} {ms / fw:7.2f} {ms / fb:9.2f}")

    limits = {"gradcam / forward+backward": ("<=", 1.5),
              "tf-explain GradCAM / gradcam": (">=", 2.0),
              "deep_taylor / forward": ("<=", 3.0),
              **{f"shap[{algo}] / shap direct": ("<=", 1.10) for algo in direct}}
    for what, value in ratios.items():
        op, limit = limits[what]
        ok = value <= limit if op == "<=" else value >= limit
        print(f"  target {what}: {value:.2f} {op} {limit} {'PASS' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{shape} batch {n}: {what} {value:.2f} {op} {limit}")
    for what, value in notes.items():
        print(f"  measured {what}: {value:.2f}")
    sys.stdout.flush()


def _kernels() -> str:
    """Which CPU kernels TensorFlow enabled: oneDNN or Eigen (asked of TensorFlow itself, since
    with ``TF_ENABLE_ONEDNN_OPTS`` unset it decides by CPU)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow without this private module: say so rather than guess
        return f"kernels unknown (TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')})"
    return "oneDNN kernels" if _pywrap_util_port.IsMklEnabled() else "Eigen kernels (oneDNN off)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.2,
                        help="a sample loops calls for at least this long (default 0.2)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="default 16 64")
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64], help="28 and/or 64")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="registry names to time (default: all); targets of absent ones are skipped")
    parser.add_argument("--onednn", choices=("on", "off"), default=None,
                        help="TF_ENABLE_ONEDNN_OPTS for this run (default: the environment's)")
    args = parser.parse_args(argv)
    if args.onednn is not None:
        if "tensorflow" in sys.modules:
            parser.error("--onednn must be set before TensorFlow is imported")
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"

    import keras
    import shap
    import tensorflow as tf

    from xai_lab import models
    from xai_lab.explain import _graph

    nsamples = 16 if args.quick else 64
    max_evals = 100 if args.quick else 300
    shap_settings = {
        "gradient": {"algorithm": "gradient", "nsamples": nsamples},
        "deep": {"algorithm": "deep"},
        "partition": {"algorithm": "partition", "max_evals": max_evals},
    }
    batches = args.batches or ((16,) if args.quick else (16, 64))
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, shap {shap.__version__}, "
          f"{os.cpu_count()} CPUs, {_kernels()}, median of {args.repeats} "
          f"samples of >= {args.min_seconds} s after a warm-up; ms per image; targets are medians of "
          "ratios between alternating samples")
    failures = []
    shapes = {28: (28, 28, 1), 64: (64, 64, 3)}
    for shape in (shapes[s] for s in args.sizes):
        keras.utils.set_random_seed(0)
        model = models.build("cnn", shape, 2)
        layer = _graph.last_spatial_layer(model)
        rng = np.random.default_rng(0)
        for n in batches:
            run_case(model, shape, n, layer, rng, args, shap_settings, nsamples, max_evals, failures)
    print("\nall targets met" if not failures else "\ntargets missed:\n  " + "\n  ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
