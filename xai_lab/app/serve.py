"""``xai-lab explorer``: serve the clinician explorer with Voila on localhost.

Voila runs the packaged notebook ``explorer.ipynb`` (one cell:
``ExplorerApp.from_environment().show()``) in a fresh kernel for every page, with the code
hidden. The models folder reaches the kernel through the ``XAI_LAB_MODELS_DIR`` environment
variable (:data:`MODELS_DIR_VARIABLE`). Idle kernels are culled, because a closed page does
not shut its kernel down.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

MODELS_DIR_VARIABLE = "XAI_LAB_MODELS_DIR"
DEFAULT_PORT = 8866
NOTEBOOK = "explorer.ipynb"
#: The largest websocket message Voila accepts (an upload is one message): 128 MiB.
WEBSOCKET_MAX_BYTES = 128 * 2**20


def models_dir_from_environment() -> Path:
    """The models folder: ``XAI_LAB_MODELS_DIR``, default ``<cache>/models`` (``config.models_dir``)."""
    from xai_lab import config

    return config.models_dir()


def notebook_path() -> Path:
    """The packaged explorer notebook."""
    path = Path(str(resources.files("xai_lab.app").joinpath(NOTEBOOK)))
    if not path.is_file():
        raise FileNotFoundError(f"the explorer notebook {path} is missing from the package")
    return path


def add_explorer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", type=Path, default=None,
        help="folder with models written by `xai-lab train` (subfolders holding model.keras); "
             f"default ${MODELS_DIR_VARIABLE} or <cache>/models",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default {DEFAULT_PORT})")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.add_argument(
        "--kernel-idle-timeout", type=int, default=600,
        help="seconds after which the kernel of a closed page is shut down (default 600)",
    )


def voila_config() -> dict:
    """Voila settings written to a ``voila.json`` for the served app.

    Uploads travel to the kernel as one websocket message; Tornado closes the connection for
    messages over 10 MiB by default, which would break the page instead of showing the
    explorer's "too large" message. The limit is raised to :data:`WEBSOCKET_MAX_BYTES`.
    """
    return {"Voila": {"tornado_settings": {"websocket_max_message_size": WEBSOCKET_MAX_BYTES}}}


def voila_command(notebook: Path, port: int, *, open_browser: bool,
                  idle_timeout: int = 600, config_dir: Path | None = None) -> list[str]:
    """The Voila command line that serves ``notebook`` on 127.0.0.1:``port``.

    ``config_dir`` is a folder holding a ``voila.json`` (see :func:`voila_config`).
    """
    cmd = [
        sys.executable, "-m", "voila", str(notebook),
        f"--port={int(port)}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--theme=light",
        "--strip_sources=True",
        f"--MappingKernelManager.cull_idle_timeout={int(idle_timeout)}",
        f"--MappingKernelManager.cull_interval={max(10, min(60, int(idle_timeout) // 2))}",
    ]
    if config_dir is not None:
        cmd.append(f"--Voila.config_file_paths={config_dir}")
    if not open_browser:
        cmd.append("--no-browser")
    return cmd


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to send SIGTERM to Voila when this command dies (prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def run_explorer(args: argparse.Namespace) -> int:
    """Start Voila and wait for it; Ctrl-C or SIGTERM stop it."""
    models = args.models if args.models is not None else models_dir_from_environment()
    models = Path(models).expanduser().resolve()
    if models.exists() and not models.is_dir():
        print(f"error: --models {models} is not a folder", file=sys.stderr)
        return 2
    notebook = notebook_path()
    env = dict(os.environ)
    env[MODELS_DIR_VARIABLE] = str(models)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    url = f"http://127.0.0.1:{int(args.port)}/"
    print(f"XAI Lab explorer: {url}", flush=True)
    print(f"models folder: {models}" + ("" if models.is_dir() else " (does not exist yet)"),
          flush=True)
    print("For education and research, not a medical device. Stop with Ctrl-C.", flush=True)
    with tempfile.TemporaryDirectory(prefix="xai-lab-voila-") as config_dir:
        (Path(config_dir) / "voila.json").write_text(json.dumps(voila_config()), encoding="utf-8")
        cmd = voila_command(notebook, args.port, open_browser=not args.no_browser,
                            idle_timeout=args.kernel_idle_timeout, config_dir=Path(config_dir))
        proc = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)
        return _wait(proc)


def _wait(proc: subprocess.Popen) -> int:
    """Wait for Voila; Ctrl-C or SIGTERM stop it (and so its kernels) cleanly."""

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xai-lab explorer", description=__doc__.splitlines()[0])
    add_explorer_arguments(parser)
    return run_explorer(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
