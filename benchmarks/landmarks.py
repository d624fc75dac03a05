"""Landmark benchmark: the RL search agent against two CNNs trained for the same time.

For each image size and landmark it trains a :class:`~xai_lab.landmarks.LandmarkAgent` (double
DQN) for ``--updates`` updates and measures its wall time T, then trains the coordinate-
regression CNN and the heatmap-regression CNN for T seconds each on the same phantom training
images, and scores all three on the validation phantoms: median and 95th-percentile distance
error (pixels), failures (error above size / 16 px), the agent's moves per image and searches
that hit the step limit. It prints one table per size and the ratios the targets are about:

- the agent's median error <= 2 px on 64 px phantoms;
- the agent's median error no worse than the regression CNN's trained for the same time
  (ratio agent / regression <= 1);
- the agent's training <= 10 minutes on 2 cores.

Everything printed is measured in this run. Phantoms only (the real landmark datasets are not
available offline; see ``xai_lab/landmarks/phantoms.py``).

Run: ``python benchmarks/landmarks.py [--sizes 64 128] [--landmarks carina lesion] [--quick]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

TRAIN_BUDGET_S = 600.0
MEDIAN_TARGET_PX = 2.0


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores usable, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)"


def run_case(size: int, landmark: str, args: argparse.Namespace) -> list:
    from xai_lab.landmarks import (
        CoordinateRegressor,
        HeatmapRegressor,
        LandmarkAgent,
        evaluate,
        phantoms,
    )

    train = phantoms.make(args.n_train, size, seed=args.seed, split="train")
    val = phantoms.make(args.n_val, size, seed=args.seed, split="val")
    radius = evaluate.default_failure_radius(size)
    truth = val.point(landmark)
    rows = []

    agent = LandmarkAgent(landmark, seed=args.seed).fit(train, updates=args.updates)
    budget = agent.log.seconds
    found = agent.search(val, start="mean")
    rows.append(evaluate.score("RL agent (double DQN)", landmark, found.predictions, truth,
                               failure_radius=radius, steps=found.steps, converged=found.converged,
                               train_seconds=budget, seconds=found.seconds))  # fmt: skip
    for cls in (CoordinateRegressor, HeatmapRegressor):
        model = cls(landmark, seed=args.seed).fit(train, seconds=budget)
        t0 = time.perf_counter()
        pred = model.predict(val)
        rows.append(evaluate.score(f"{cls.title} ({model.epochs_run:.1f} ep)", landmark, pred, truth,
                                   failure_radius=radius, train_seconds=model.seconds,
                                   seconds=time.perf_counter() - t0))  # fmt: skip
    mean_guess = np.repeat(train.point(landmark).mean(0)[None], len(val), 0)
    rows.append(evaluate.score("mean training position", landmark, mean_guess, truth, failure_radius=radius))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], choices=[64, 128])
    parser.add_argument("--landmarks", nargs="+", default=["carina", "lesion"])
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-val", type=int, default=200)
    parser.add_argument("--updates", type=int, default=2000, help="agent updates (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="300 training images, 100 val, 400 updates")
    args = parser.parse_args(argv)
    from xai_lab.landmarks.phantoms import LANDMARKS

    bad = [lm for lm in args.landmarks if lm not in LANDMARKS]
    if bad:
        parser.error(f"unknown landmark(s) {bad}; choose from {', '.join(LANDMARKS)}")
    if args.quick:
        args.n_train, args.n_val, args.updates = 300, 100, 400

    import tensorflow as tf

    from xai_lab.landmarks import evaluate

    print(f"# landmark benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"# machine: {_machine()}; python {platform.python_version()}, tensorflow {tf.__version__}")
    print(f"# command: python {' '.join(sys.argv)}")
    print(f"# phantoms: {args.n_train} train / {args.n_val} val (seed {args.seed}); agent {args.updates} updates; "
          "errors in pixels on val; baselines trained for the agent's wall time")  # fmt: skip
    summary = []
    for size in args.sizes:
        for landmark in args.landmarks:
            rows = run_case(size, landmark, args)
            print(f"\n## {landmark} at {size} px (failure: error > {rows[0].failure_radius:g} px)")
            print(evaluate.table(rows))
            agent, regression, heatmap = rows[0], rows[1], rows[2]
            ratio = agent.median / regression.median if regression.median > 0 else float("nan")
            ratio_h = agent.median / heatmap.median if heatmap.median > 0 else float("nan")
            print(f"agent / regression CNN median error: {ratio:.2f} (target <= 1: {'PASS' if ratio <= 1 else 'MISS'}); "
                  f"agent / heatmap CNN: {ratio_h:.2f}")  # fmt: skip
            if size == 64:
                ok = agent.median <= MEDIAN_TARGET_PX
                print(f"agent median {agent.median:.2f} px (target <= {MEDIAN_TARGET_PX:g} px at 64 px: "
                      f"{'PASS' if ok else 'MISS'})")  # fmt: skip
            ok_t = agent.train_seconds <= TRAIN_BUDGET_S
            print(f"agent training {agent.train_seconds:.0f} s (target <= {TRAIN_BUDGET_S:.0f} s: {'PASS' if ok_t else 'MISS'})")
            summary.append((size, landmark, agent.median, ratio, agent.train_seconds))
    print("\n# summary: size, landmark, agent median px, agent/regression median, agent training s")
    for size, landmark, med, ratio, secs in summary:
        print(f"{size:4d} {landmark:<11s} {med:6.2f} {ratio:6.2f} {secs:6.0f}")
    print(f"# machine at the end: {_machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
