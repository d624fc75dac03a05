"""``xai-lab explorer``: serve the clinician explorer with Voila on localhost.

Voila runs the packaged notebook ``explorer.ipynb`` (one cell:
``ExplorerApp.from_environment().show()``) in a fresh kernel for every page, with the code
hidden. The models folder reaches the kernel through the ``XAI_LAB_MODELS_DIR`` environment
variable (:data:`MODELS_DIR_VARIABLE`). Idle kernels are culled, because a closed page does
not shut its kernel down.

Access is guarded as a Jupyter server guards itself (jupyter_server, on which voila runs):

* a **token**, new at every start (48 hex digits from ``secrets``, as Jupyter makes them), required on the
  first request (``?token=...``, then a login cookie); the command prints the URL with it, as
  ``jupyter lab`` does, and opens the browser through a private redirect file (Jupyter's way of
  keeping the token out of the browser's command line). It reaches voila through a
  ``voila.json`` in a private temporary folder (``Voila.token``), not the command line or the
  environment, so other local users and the kernels do not see it;
* a **Host allow-list** against DNS rebinding: voila's standalone server sets
  ``allow_remote_access=True``, which turns jupyter_server's ``check_host`` off; the
  ``Voila.tornado_settings`` in the same ``voila.json`` set it back to False with
  ``local_hostnames=["localhost"]`` (jupyter_server's defaults), so a request whose ``Host`` is
  not a loopback address or ``localhost`` gets 403. ``--allow-remote-access`` (Jupyter's name)
  turns the Host check off for a proxy that forwards the public host name (e.g.
  jupyter-server-proxy); the token stays required.

On Binder the course runs in JupyterLab, whose own server and JupyterHub login guard it; the
explorer notebook can be opened there with voila's server extension
(``/voila/render/xai_lab/app/explorer.ipynb``), which uses that server's settings, not these.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

from .. import _args

MODELS_DIR_VARIABLE = "XAI_LAB_MODELS_DIR"
DEFAULT_PORT = 8866
NOTEBOOK = "explorer.ipynb"
#: The largest websocket message Voila accepts (an upload is one message): 128 MiB.
WEBSOCKET_MAX_BYTES = 128 * 2**20
HOST = "127.0.0.1"
#: Host names (besides loopback addresses) a request may name: jupyter_server's default.
LOCAL_HOSTNAMES = ("localhost",)
#: The shortest kernel idle timeout: the cull check runs every 10 s at the most often.
MIN_IDLE_TIMEOUT = 10


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
        "--models", type=_args.not_a_file, default=None,
        help="folder with models written by `xai-lab train` (subfolders holding model.keras); "
             f"default ${MODELS_DIR_VARIABLE} or <cache>/models",
    )
    parser.add_argument("--port", type=_args.port, default=DEFAULT_PORT,
                        help=f"port on {HOST}, 1-65535 (default {DEFAULT_PORT})")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    parser.add_argument(
        "--kernel-idle-timeout", type=_args.int_range(MIN_IDLE_TIMEOUT), default=600,
        help=f"seconds (at least {MIN_IDLE_TIMEOUT}) after which the kernel of a closed page is "
             "shut down (default 600)",
    )
    parser.add_argument(
        "--allow-remote-access", action="store_true",
        help="answer requests whatever host name they carry (for a proxy that forwards the "
             "public name, e.g. jupyter-server-proxy); the token is still required",
    )


def check_explorer_arguments(args: argparse.Namespace) -> None:
    """Before starting anything: the port is free on 127.0.0.1 (the models folder's kind is
    checked by its argument type)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, int(args.port)))
        except OSError as exc:
            raise _args.UsageError(
                f"--port {args.port}: cannot listen on {HOST}:{args.port} ({exc.strerror or exc}); "
                "another server may be using it: choose another --port"
            ) from exc


def new_token() -> str:
    """A fresh access token, as Jupyter makes them (48 hex characters' worth of randomness)."""
    return secrets.token_hex(24)


def app_url(port: int, token: str | None = None) -> str:
    """The explorer's URL on localhost, with ``?token=`` when there is one."""
    url = f"http://{HOST}:{int(port)}/"
    return f"{url}?token={token}" if token else url


def voila_config(token: str | None = None, allow_remote_access: bool = False) -> dict:
    """Voila settings written to a ``voila.json`` for the served app.

    Uploads travel to the kernel as one websocket message; Tornado closes the connection for
    messages over 10 MiB by default, which would break the page instead of showing the
    explorer's "too large" message. The limit is raised to :data:`WEBSOCKET_MAX_BYTES`.
    ``token`` (see :func:`new_token`) becomes ``Voila.token``; the Host check of jupyter_server
    is turned back on unless ``allow_remote_access`` (see the module docstring).
    """
    tornado_settings = {
        "websocket_max_message_size": WEBSOCKET_MAX_BYTES,
        "allow_remote_access": bool(allow_remote_access),
        "local_hostnames": list(LOCAL_HOSTNAMES),
    }
    voila: dict = {"tornado_settings": tornado_settings}
    if token:
        voila["token"] = token
    return {"Voila": voila}


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
        print(f"xai-lab explorer: error: --models {models} is not a folder", file=sys.stderr)
        return 2
    notebook = notebook_path()
    env = dict(os.environ)
    env[MODELS_DIR_VARIABLE] = str(models)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    token = new_token()
    url = app_url(args.port, token)
    print(f"XAI Lab explorer: {url}", flush=True)
    print("Open that URL (it holds this session's access token); requests without the token, "
          + ("from any host name, " if args.allow_remote_access else
             "or naming another host than localhost, ") + "are refused.", flush=True)
    print(f"models folder: {models}" + ("" if models.is_dir() else " (does not exist yet)"),
          flush=True)
    print("For education and research, not a medical device. Stop with Ctrl-C.", flush=True)
    with tempfile.TemporaryDirectory(prefix="xai-lab-voila-") as config_dir:  # mode 0700
        config = voila_config(token, allow_remote_access=args.allow_remote_access)
        config_file = Path(config_dir) / "voila.json"
        config_file.touch(mode=0o600)
        config_file.write_text(json.dumps(config), encoding="utf-8")
        cmd = voila_command(notebook, args.port, open_browser=False,
                            idle_timeout=args.kernel_idle_timeout, config_dir=Path(config_dir))
        proc = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)
        if not args.no_browser:
            threading.Thread(target=_open_browser_when_ready, daemon=True,
                             args=(proc, int(args.port), url, Path(config_dir))).start()
        return _wait(proc)


def _open_browser_when_ready(proc: subprocess.Popen, port: int, url: str, folder: Path,
                             timeout: float = 60.0) -> None:
    """Open ``url`` once Voila listens, through a private redirect file (as Jupyter does)."""
    import webbrowser

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.3)
    else:
        return
    redirect = folder / "open.html"
    redirect.touch(mode=0o600)
    target = html.escape(url, quote=True)
    redirect.write_text(
        f'<!DOCTYPE html><meta http-equiv="refresh" content="0;url={target}">'
        f'<p><a href="{target}">XAI Lab explorer</a></p>', encoding="utf-8")
    try:
        webbrowser.open(redirect.as_uri())
    except webbrowser.Error:
        pass  # no browser here: the URL is printed above


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
