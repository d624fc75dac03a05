"""``xai-lab landmarks train`` and ``xai-lab landmarks run``.

``xai-lab landmarks train --landmark carina --out DIR [--size 64]`` trains a search agent on
phantom radiographs and writes ``DIR/q_network.keras``, ``DIR/agent.json`` and
``DIR/metrics.json`` (errors on validation phantoms), each atomically.

``xai-lab landmarks run --agent DIR (--phantoms N | --image FILE ...) [--json]`` searches each
image and prints the landmark's (row, column) in the image's own pixels, the moves made and how
the search ended; on phantoms also the error. Images (PNG, JPEG, DICOM) are converted to the
agent's channels and resized to its size; the coordinates are scaled back.

Every argument is checked before any work starts (``check_landmarks_arguments``, run by
``xai_lab.cli``: no TensorFlow import, nothing written); a bad one ends with ``error: ...`` on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from .. import _args
from .._args import UsageError
from .phantoms import LANDMARKS, MIN_SIZE

EXIT_ERROR = 2
MAX_SIZE = 512


def _error(message: Any) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a search agent on phantom radiographs")
    train.add_argument("--landmark", required=True, choices=LANDMARKS, help="the landmark to find")
    train.add_argument("--out", required=True, type=_args.not_a_file,
                       help="output folder (q_network.keras, agent.json, metrics.json); replaced as a whole")  # fmt: skip
    train.add_argument("--size", type=_args.int_range(MIN_SIZE, MAX_SIZE), default=64,
                       help="image size in pixels (default 64; 128 works too)")  # fmt: skip
    train.add_argument("--n-train", type=_args.int_range(10, 100_000), default=1000,
                       help="training phantoms (default 1000)")  # fmt: skip
    train.add_argument("--n-val", type=_args.int_range(1, 10_000), default=200,
                       help="validation phantoms for metrics.json (default 200)")  # fmt: skip
    train.add_argument("--updates", type=_args.positive_int, default=2000, help="double-DQN updates (default 2000)")
    train.add_argument("--seconds", type=float, default=None, help="stop training after this wall time")
    train.add_argument("--seed", type=_args.seed, default=0, help="random seed (default 0)")
    train.add_argument("--verbose", action="store_true", help="print training progress (on stderr)")
    run = sub.add_parser("run", help="search landmarks with a trained agent")
    run.add_argument("--agent", required=True, type=_args.existing_dir,
                     help="a folder written by 'xai-lab landmarks train'")  # fmt: skip
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--phantoms", type=_args.int_range(1, 10_000), help="search N phantoms (errors are known)")
    source.add_argument("--image", nargs="+", type=_args.existing_file, help="image files (PNG, JPEG, DICOM)")
    run.add_argument("--split", default="val", choices=("train", "val"), help="phantom split (default val)")
    run.add_argument("--seed", type=_args.seed, default=0, help="phantom seed (default 0)")
    run.add_argument("--start", default="mean", choices=("mean", "centre", "random"),
                     help="where searches start (default: the mean training position)")  # fmt: skip
    run.add_argument("--json", action="store_true", help="print one JSON object")


# ------------------------------------------------------------------------------ checks
def check_landmarks_arguments(args: argparse.Namespace) -> None:
    """What ``xai-lab landmarks`` checks before any work; raises :class:`~xai_lab._args.UsageError`.

    ``train``: ``--seconds`` is a positive number and ``--out`` may receive an agent (missing,
    empty, or holding only an agent's files). ``run``: ``--agent`` holds a readable agent
    description and every ``--image`` decodes (the decoded images are kept in
    ``args.decoded_images`` for the run).
    """
    from .agent import AgentFileError, check_agent_folder, read_agent_file

    if args.action == "train":
        if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
            raise UsageError(f"--seconds must be a positive number, got {args.seconds}")
        try:
            check_agent_folder(args.out)
        except AgentFileError as exc:
            raise UsageError(f"--out: {exc}") from exc
        args.decoded_images = []
        return
    from ..data import images as image_io
    from ..data.errors import ImageReadError

    try:
        read_agent_file(args.agent)
    except AgentFileError as exc:
        raise UsageError(str(exc)) from exc
    decoded = []
    for name in args.image or []:
        try:
            decoded.append(image_io.read_image(name))
        except ImageReadError as exc:
            raise UsageError(str(exc)) from exc
    args.decoded_images = decoded


# -------------------------------------------------------------------------------- train
def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train, save and measure an agent as ``xai-lab landmarks train`` does; returns the metrics."""
    from .agent import LandmarkAgent
    from .evaluate import default_failure_radius, score
    from .phantoms import make

    out = Path(args.out)
    data = make(args.n_train, args.size, seed=args.seed, split="train")
    val = make(args.n_val, args.size, seed=args.seed, split="val")
    agent = LandmarkAgent(args.landmark, seed=args.seed).fit(
        data, updates=args.updates, seconds=args.seconds, verbose=args.verbose)
    found = agent.search(val)
    scores = score("RL agent (double DQN)", args.landmark, found.predictions, val.point(args.landmark),
                   failure_radius=default_failure_radius(args.size), steps=found.steps,
                   converged=found.converged, train_seconds=agent.log.seconds, seconds=found.seconds)  # fmt: skip
    metrics = {**scores.as_dict(), "split": "val", "size": args.size, "n_train": args.n_train,
               "updates": agent.log.updates, "stopped_by": agent.log.stopped_by, "seed": args.seed}  # fmt: skip
    agent.save(out, extra={"metrics.json": _jsonable(metrics)})
    return metrics


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


# ---------------------------------------------------------------------------------- run
def search_images(args: argparse.Namespace, images: list[Any]) -> dict[str, Any]:
    """Search as ``xai-lab landmarks run`` does; returns the JSON-ready result."""
    import numpy as np

    from ..data.images import resize
    from .agent import LandmarkAgent
    from .evaluate import default_failure_radius, score
    from .phantoms import make

    agent = LandmarkAgent.load(args.agent)
    size, channels = agent.size, agent.channels
    if args.phantoms is not None:
        data = make(args.phantoms, size, seed=args.seed, split=args.split)
        found = agent.search(data, start=args.start)
        scale = np.ones((len(data), 2))
        names = [f"phantom {args.split} #{i}" for i in range(len(data))]
    else:
        batch = np.stack([resize(img, size, channels=channels) for img in images])
        found = agent.search(batch, start=args.start)
        # pixel centres: (p + 0.5) * (original / size) - 0.5
        scale = np.array([[img.shape[0] / size, img.shape[1] / size] for img in images])
        names = list(args.image)
    pred = (found.predictions + 0.5) * scale - 0.5
    rows = [
        {"image": names[i], "row": float(pred[i, 0]), "column": float(pred[i, 1]), "steps": int(found.steps[i]),
         "end": str(found.ends[i]), **({"error_px": float(found.errors[i])} if found.targets is not None else {})}
        for i in range(len(found))
    ]  # fmt: skip
    result: dict[str, Any] = {"landmark": agent.landmark, "agent_size": size, "searches": rows}
    if found.targets is not None:
        result["summary"] = score("RL agent (double DQN)", agent.landmark, found.predictions, found.targets,
                                  failure_radius=default_failure_radius(size), steps=found.steps,
                                  converged=found.converged, seconds=found.seconds).as_dict()  # fmt: skip
    return _jsonable(result)


def run(args: argparse.Namespace) -> int:
    from ..models.io import ModelFileError
    from .agent import AgentFileError

    if not hasattr(args, "decoded_images"):  # called without xai_lab.cli: check here
        check_landmarks_arguments(args)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the result
            result = train(args) if args.action == "train" else search_images(args, args.decoded_images)
    except (AgentFileError, ModelFileError, OSError) as exc:
        return _error(exc)
    if args.action == "train":
        print(f"trained an agent for the {args.landmark} at {args.size} px ({result['updates']} updates, "
              f"{result['train_seconds']:.0f} s); validation phantoms: median error {result['median']:.2f} px, "
              f"95th percentile {result['p95']:.2f} px, {result['failures']}/{result['n']} failures "
              f"(> {result['failure_radius']:g} px), {result['steps']:.1f} moves per image")  # fmt: skip
        print(f"wrote {Path(args.out) / 'q_network.keras'}, {Path(args.out) / 'agent.json'}, {Path(args.out) / 'metrics.json'}")
        return 0
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    for r in result["searches"]:
        err = f", error {r['error_px']:.2f} px" if "error_px" in r else ""
        print(f"{r['image']}: {result['landmark']} at row {r['row']:.1f}, column {r['column']:.1f} "
              f"({r['steps']} moves, {r['end']}{err})")  # fmt: skip
    if "summary" in result:
        s = result["summary"]
        print(f"median error {s['median']:.2f} px, 95th percentile {s['p95']:.2f} px, "
              f"{s['failures']}/{s['n']} failures (> {s['failure_radius']:g} px)")  # fmt: skip
    return 0
