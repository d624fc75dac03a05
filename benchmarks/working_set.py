"""Peak memory and time of the package's passes on 224x224 images, split by the working set
or not.

Every pass over a model splits its batch into calls whose largest activation stays within
``xai_lab.models.working_set.WORKING_SET_BYTES`` (16 MiB). This script measures what that
buys on large images, where a Binder kernel (2 GB) is at risk: each case runs in its own
Python process on the zoo's ``cnn`` at 224x224x1 (random weights, 2 classes, uniform random
images), once with the working set at its default and once with it unlimited (every call then
takes the pass's whole ``batch_size``, as before the split). A process first predicts one
image (TensorFlow's start-up memory), then runs the case; the table gives the process's peak
resident memory (``VmHWM``, Linux) and the case's wall time, and their ratios split/unsplit.

Usage: ``python benchmarks/working_set.py [--cases NAME ...]``; ``--list`` names the cases.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

SHAPE = (224, 224, 1)

#: case -> (number of images, what runs)
CASES: dict[str, tuple[int, str]] = {
    "predict": (256, "models.predict_proba"),
    "deletion": (4, "saliency map, then faithfulness.Deletion(n_steps=50)"),
    "saliency": (64, "explain.get('saliency')"),
    "integrated_gradients": (8, "explain.get('integrated_gradients')"),
    "deep_taylor": (64, "explain.get('deep_taylor')"),
    "shap_gradient": (1, "explain.get('shap', algorithm='gradient')"),
    "shap_partition": (1, "explain.get('shap', algorithm='partition', max_evals=200)"),
    "shap_deep": (1, "explain.get('shap', algorithm='deep', background=16 random images)"),
    "tfexplain.gradcam": (64, "explain.get('tfexplain.gradcam')"),
    "tfexplain.occlusion": (1, "explain.get('tfexplain.occlusion', patch_size=16)"),
}


def peak_mib() -> float:
    """This process's peak resident memory in MiB (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def run_case(case: str, unlimited: bool) -> dict[str, float]:
    """Run ``case`` in this process; its peak memory and time."""
    import numpy as np

    from xai_lab import explain, models
    from xai_lab.evaluate import faithfulness
    from xai_lab.models import working_set

    if unlimited:
        working_set.WORKING_SET_BYTES = 2**62
    n = CASES[case][0]
    model = models.build("cnn", SHAPE, 2)
    x = np.random.default_rng(0).uniform(0, 1, (n, *SHAPE)).astype(np.float32)
    models.predict_logits(model, x[:1])
    start_mib, start = peak_mib(), time.perf_counter()
    if case == "predict":
        models.predict_proba(model, x)
    elif case == "deletion":
        faithfulness.Deletion(n_steps=50)(model, explain.get("saliency").explain(model, x))
    elif case == "shap_gradient":
        explain.get("shap", algorithm="gradient").explain(model, x)
    elif case == "shap_deep":
        background = np.random.default_rng(1).uniform(0, 1, (16, *SHAPE)).astype(np.float32)
        explain.get("shap", algorithm="deep", background=background).explain(model, x)
    elif case == "shap_partition":
        explain.get("shap", algorithm="partition", max_evals=200).explain(model, x)
    elif case == "tfexplain.occlusion":
        explain.get(case, patch_size=16).explain(model, x)
    else:
        explain.get(case).explain(model, x)
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "start_mib": start_mib}


def measure(case: str, unlimited: bool) -> dict[str, float]:
    """Run ``case`` in a fresh Python process and read its figures back."""
    cmd = [sys.executable, __file__, "--child", case] + (["--unlimited"] if unlimited else [])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--list", action="store_true", help="name the cases and exit")
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--unlimited", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import warnings

        warnings.filterwarnings("ignore")
        print(json.dumps(run_case(args.child, args.unlimited)))
        return 0
    if args.list:
        for name, (n, what) in CASES.items():
            print(f"{name:22s} {n:4d} images  {what}")
        return 0
    from xai_lab.models import working_set

    budget = working_set.WORKING_SET_BYTES / 2**20
    print(f"zoo cnn {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}; split: working set {budget:.0f} MiB; "
          "unsplit: unlimited (each call takes the pass's batch_size)")
    print(f"  {'case':22s} {'images':>6s} {'peak MiB split':>14s} {'unsplit':>8s} {'ratio':>6s}"
          f" {'s split':>8s} {'unsplit':>8s} {'ratio':>6s}")
    for case in args.cases:
        split, unsplit = measure(case, False), measure(case, True)
        print(f"  {case:22s} {CASES[case][0]:6d} {split['peak_mib']:14.0f} {unsplit['peak_mib']:8.0f}"
              f" {split['peak_mib'] / unsplit['peak_mib']:6.2f} {split['seconds']:8.1f}"
              f" {unsplit['seconds']:8.1f} {split['seconds'] / unsplit['seconds']:6.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
