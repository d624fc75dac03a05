"""The ``xai-lab`` command line: ``demo | train | evaluate | explain | report | explorer``.

Each sub-command lives in the module that owns its logic; that module exposes
``add_<command>_arguments(parser)`` and ``run_<command>(args) -> int`` (or ``add_arguments`` /
``run``), and may expose ``check_<command>_arguments(args)``. Modules are imported only when
their command runs, so ``xai-lab --help`` stays fast (no TensorFlow import).

Bad arguments never start any work: argparse refuses values of the wrong kind (a ``type=`` from
:mod:`xai_lab._args`), then the command's check runs (before TensorFlow is imported where it
can) and its :class:`~xai_lab._args.UsageError` is printed as ``error: ...`` on stderr with
exit status 2. Ctrl-C prints one line and exits with 130, without a traceback (outputs are
written atomically, so nothing is left half-written).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._args import UsageError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("xai_lab.report.demo", "train the default CNN on pneumonia, explain and write an HTML report"),
    "train": ("xai_lab.training.commands", "train a model with a dataset's default recipe"),
    "evaluate": ("xai_lab.training.commands", "evaluate a saved model on a dataset split"),
    "export": ("xai_lab.edge.commands", "export a trained model for a device (TensorFlow Lite, optionally int8)"),
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
        try:
            parser.parse_args(argv)  # prints help / version / errors for unknown commands
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        parser.print_help()
        return EXIT_USAGE
    name, rest = argv[0], argv[1:]
    module = _command_module(name)
    sub = argparse.ArgumentParser(prog=f"xai-lab {name}", description=COMMANDS[name][1])
    adder = getattr(module, f"add_{name}_arguments", None) or module.add_arguments
    runner = getattr(module, f"run_{name}", None) or module.run
    checker = getattr(module, f"check_{name}_arguments", None)
    adder(sub)
    try:
        args = sub.parse_args(rest)  # prints "xai-lab NAME: error: ..." and exits 2 on bad values
    except SystemExit as exc:  # --help (0) or a usage error (2): return it, do not raise
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if checker is not None:
            checker(args)
        return int(runner(args) or 0)
    except UsageError as exc:
        print(f"xai-lab {name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"xai-lab {name}: interrupted; outputs already in place are unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
