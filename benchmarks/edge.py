"""Edge benchmark: a trained model exported to TFLite as float32, float16, dynamic and int8.

For each ``--model DIR`` (a folder written by ``xai-lab train``: ``model.keras`` and
``calibration.json``, which names the dataset), in one run on this machine:

- file size of each export (and the Keras file), the int8 / float32 ratio;
- latency per image at batch 1 on ONE thread (TensorFlow's threads are set to 1 for the whole
  process; each interpreter gets ``num_threads=1``): median and 95th percentile, measured in
  interleaved rounds so that a change of load on a shared machine hits every variant alike;
- ACC and AUC on the validation split through ``xai-lab evaluate``'s code
  (``xai_lab.training.commands.evaluate_model``: one scoring path for .keras and .tflite);
- occlusion through the interpreter against occlusion on the Keras model (same images,
  settings and thread count; median over interleaved rounds of the time ratio);
- how far the deployed models' maps are from the Keras model's (occlusion and SHAP partition,
  for the Keras model's predicted classes): median Spearman rank correlation and top-10 % IoU.

Targets (issue 22): int8 file >= 3x smaller and >= 1.5x faster at batch 1 than float32; int8
loses <= 1 point of ACC and <= 0.01 AUC on val; occlusion through the interpreter within 2x of
occlusion on the Keras model. Each is printed as met or MISSED with the measured figure.

Run (``DIR`` from ``xai-lab train --dataset pneumoniamnist --out DIR``; any trained model
works, e.g. the 128 px chest_xray or ham10000 recipes)::

    XAI_LAB_DATA_DIR=../shared/data python benchmarks/edge.py --model DIR [--model DIR2 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

VARIANTS = ("float32", "float16", "dynamic", "int8")
TARGETS = {"size_ratio": 3.0, "speedup": 1.5, "acc_loss_points": 1.0, "auc_loss": 0.01, "occlusion_ratio": 2.0}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> str:
    from importlib import metadata

    out = []
    for name in ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "shap"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def bench_model(model_dir: Path, out_dir: Path, args: argparse.Namespace) -> dict:
    from xai_lab import data, edge, explain, models
    from xai_lab.training.commands import evaluate_model

    keras_path = model_dir / "model.keras"
    calibration = json.loads((model_dir / "calibration.json").read_text())
    dataset = calibration["dataset"]
    keras_model = models.load(keras_path)
    size = int(keras_model.inputs[0].shape[1])
    val = data.load(dataset, "val", size=size)
    name = f"{dataset}_{size}"
    print(f"\n## {name}: {keras_path} ({keras_model.count_params()} parameters), val {len(val)} images", flush=True)

    # ---- export
    paths = {"keras": keras_path}
    for q in VARIANTS:
        result = edge.export_model_file(keras_path, out_dir / f"{name}_{q}.tflite", q,
                                        n_representative=args.n_calibration, seed=0)
        paths[q] = result.path
        print(f"  exported {q:8s} {result.size_bytes / 1024:8.1f} KiB in {result.seconds:5.1f} s; "
              f"check: top class {100 * result.check['top_class_agreement']:.1f} %, "
              f"max |logit diff| {result.check['max_abs_logit_difference']:.3g}", flush=True)
    sizes = {k: p.stat().st_size for k, p in paths.items()}

    # ---- accuracy on val (one scoring path)
    scores = {}
    for key, path in paths.items():
        r = evaluate_model(str(path), dataset=dataset, split="val")
        scores[key] = (r["acc"], r["auc"])

    # ---- latency at batch 1, one thread, interleaved rounds
    images = val.images[: max(args.n_latency, 1)]
    lite = {q: edge.load_tflite(paths[q], num_threads=1) for q in VARIANTS}
    rounds: dict[str, list] = {k: [] for k in ("keras", *VARIANTS)}
    per_round = max(1, args.n_latency // args.rounds)
    for _ in range(args.rounds):
        rounds["keras"].append(edge.measure_latency(keras_model, images, n=per_round, warmup=5))
        for q in VARIANTS:
            rounds[q].append(edge.measure_latency(lite[q], images, n=per_round, warmup=5, num_threads=1))
    latency = {k: edge.pooled(v) for k, v in rounds.items()}

    # ---- occlusion: interpreter vs Keras, interleaved rounds (fewer images and larger patches
    # for larger images: the work per image grows with the pixels)
    scale = (28 / size) ** 2
    x = val.images[: max(2, round(args.n_explain * scale))]
    patch = max(8, size // 8)
    occlusion = explain.get("occlusion", patch_size=patch)
    occlusion.explain(keras_model, x[:2])
    occlusion.explain(lite["int8"], x[:2])  # warm-up: tracing, interpreter resize
    occlusion.explain(lite["float32"], x[:2])
    times: dict[str, list[float]] = {"keras": [], "float32": [], "int8": []}
    for _ in range(args.rounds):
        for key, model in (("keras", keras_model), ("float32", lite["float32"]), ("int8", lite["int8"])):
            start = time.perf_counter()
            occlusion.explain(model, x)
            times[key].append(time.perf_counter() - start)
    ratio = {q: float(np.median(np.array(times[q]) / np.array(times["keras"]))) for q in ("float32", "int8")}

    # ---- map agreement with the Keras model's maps
    agreement = {}
    shap_partition = explain.get("shap", algorithm="partition", max_evals=args.max_evals)
    for method, explainer, n in (("occlusion", occlusion, len(x)),
                                 ("shap partition", shap_partition, max(2, round(args.n_shap * scale)))):
        for q in ("float16", "int8"):
            _, _, a = edge.explain_both(explainer, keras_model, lite[q], val.images[:n])
            agreement[(method, q)] = a.summary()

    # ---- report
    print(f"\n  {'variant':10s} {'size KiB':>9s} {'median ms':>10s} {'p95 ms':>8s} {'ACC':>7s} {'AUC':>7s}")
    for key in ("keras", *VARIANTS):
        lat = latency[key]
        acc, auc = scores[key]
        label = "keras" if key == "keras" else f"tflite {key}"
        print(f"  {label:14s} {sizes[key] / 1024:5.1f} {lat.median_ms:10.3f} {lat.p95_ms:8.3f} {acc:7.4f} {auc:7.4f}")
    print(f"  (latency over {latency['int8'].n} images per variant in {args.rounds} interleaved rounds; "
          "Keras: one compiled tf.function call per image)")
    print(f"\n  occlusion on {len(x)} images ({occlusion.patch_size} px patches, stride {occlusion.stride}), "
          f"median of {args.rounds} rounds: Keras {np.median(times['keras']):.3f} s, "
          f"interpreter float32 {np.median(times['float32']):.3f} s, int8 {np.median(times['int8']):.3f} s")
    print(f"\n  maps of the deployed model vs the Keras model (median [10th percentile]; "
          f"top-10 % IoU; SHAP partition max_evals={args.max_evals})")
    for (method, q), s in agreement.items():
        print(f"  {method:15s} {q:8s} n={s['n']:3d}  rank correlation {s['rank_correlation_median']:.3f} "
              f"[{s['rank_correlation_p10']:.3f}]  top-10% IoU {s['top_k_iou_median']:.3f} "
              f"[{s['top_k_iou_p10']:.3f}]  same prediction {100 * s['same_prediction']:.1f} %")

    size_ratio = sizes["float32"] / sizes["int8"]
    speedup = latency["float32"].median_ms / latency["int8"].median_ms
    acc_loss = 100 * (scores["keras"][0] - scores["int8"][0])
    auc_loss = scores["keras"][1] - scores["int8"][1]
    print("\n  targets:")
    print(f"  - int8 file {size_ratio:.2f}x smaller than float32 (target >= {TARGETS['size_ratio']}x): "
          f"{_verdict(size_ratio >= TARGETS['size_ratio'])}")
    print(f"  - int8 {speedup:.2f}x as fast as float32 at batch 1, one thread (median; target >= "
          f"{TARGETS['speedup']}x): {_verdict(speedup >= TARGETS['speedup'])}")
    print(f"  - int8 ACC loss {acc_loss:+.2f} points vs the Keras model (target <= {TARGETS['acc_loss_points']}): "
          f"{_verdict(acc_loss <= TARGETS['acc_loss_points'])}")
    print(f"  - int8 AUC loss {auc_loss:+.4f} vs the Keras model (target <= {TARGETS['auc_loss']}): "
          f"{_verdict(auc_loss <= TARGETS['auc_loss'])}")
    for q in ("float32", "int8"):
        print(f"  - occlusion through the {q} interpreter {ratio[q]:.2f}x the time on Keras "
              f"(target <= {TARGETS['occlusion_ratio']}x): {_verdict(ratio[q] <= TARGETS['occlusion_ratio'])}")
    return {"name": name, "size_ratio": size_ratio, "speedup": speedup, "acc_loss": acc_loss,
            "auc_loss": auc_loss, "occlusion_ratio": ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="DIR",
                        help="a folder from xai-lab train (model.keras + calibration.json); repeat for more")
    parser.add_argument("--out", default=None, help="keep the exported files here (default: a temporary folder)")
    parser.add_argument("--n-latency", type=int, default=300, help="timed images per variant")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (latency, occlusion)")
    parser.add_argument("--n-explain", type=int, default=32,
                        help="images for the occlusion timing and agreement at 28 px (fewer for larger "
                             "images, in proportion to their pixels; at least 2)")
    parser.add_argument("--n-shap", type=int, default=8,
                        help="images for the SHAP partition agreement at 28 px (scaled likewise)")
    parser.add_argument("--max-evals", type=int, default=300, help="SHAP partition model evaluations per image")
    parser.add_argument("--n-calibration", type=int, default=200, help="representative set size for int8")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)  # before TensorFlow runs anything
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.get_logger().setLevel("ERROR")  # Keras' retracing notes for each new batch size

    from xai_lab import config

    if config.data_dir() is None:
        print("note: XAI_LAB_DATA_DIR is not set: the datasets come from the cache or a download",
              file=sys.stderr)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# xai_lab edge benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# machine: {_cpu()}, {cores} CPU cores, load average at start {os.getloadavg()[0]:.1f} "
          "(the development machine is shared with other engineers: timings vary with their load)")
    print(f"# {_versions()}")
    print(f"# command: python benchmarks/edge.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print("# every timing on ONE thread (TensorFlow intra/inter-op threads 1, interpreters num_threads=1)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(args.out) if args.out else Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for model_dir in args.model:
            results.append(bench_model(Path(model_dir), out_dir, args))
    print(f"\n# load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
