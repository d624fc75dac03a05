"""The ``xai-lab`` command line: ``demo | train | evaluate | explain | report | explorer``.

Each sub-command lives in the module that owns its logic; that module exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
command runs, so ``xai-lab --help`` stays fast (no TensorFlow import).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("xai_lab.report.demo", "train the default CNN on pneumonia, explain and write an HTML report"),
    "train": ("xai_lab.training.commands", "train a model with a dataset's default recipe"),
    "evaluate": ("xai_lab.training.commands", "evaluate a saved model on a dataset split"),
    "explorer": ("xai_lab.app.serve", "start the clinician explorer web app on localhost"),
    "landmarks": ("xai_lab.landmarks.commands", "find anatomical landmarks with a reinforcement-learning agent (train | run)"),
}


def _command_module(name: str):
    module = importlib.import_module(COMMANDS[name][0])
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xai-lab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version="xai-lab 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help / errors for unknown commands
        parser.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    module = _command_module(name)
    sub = argparse.ArgumentParser(prog=f"xai-lab {name}", description=COMMANDS[name][1])
    adder = getattr(module, f"add_{name}_arguments", None) or module.add_arguments
    runner = getattr(module, f"run_{name}", None) or module.run
    adder(sub)
    args = sub.parse_args(rest)
    return int(runner(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
