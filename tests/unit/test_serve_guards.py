"""The explorer's server guards itself as a Jupyter server does: a token and a Host allow-list.

The server is started for real (``xai-lab explorer``, an empty models folder); no request here
gets as far as starting a kernel, so no browser and no data are needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from xai_lab.app import serve


def test_config_carries_the_token_and_turns_the_host_check_back_on():
    token = serve.new_token()
    assert re.fullmatch(r"[0-9a-f]{48}", token) and token != serve.new_token()
    config = serve.voila_config(token)["Voila"]
    assert config["token"] == token
    settings = config["tornado_settings"]
    assert settings["allow_remote_access"] is False and settings["local_hostnames"] == ["localhost"]
    assert serve.voila_config(token, allow_remote_access=True)["Voila"]["tornado_settings"][
        "allow_remote_access"] is True
    assert serve.app_url(8866, token) == f"http://127.0.0.1:8866/?token={token}"
    cmd = serve.voila_command(serve.notebook_path(), 8866, open_browser=True)
    assert not any(token in part for part in cmd)  # never on the command line (ps shows it)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _status(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if host:
        request.add_header("Host", host)
    try:
        response = urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
        return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


@pytest.mark.slow
def test_requests_without_token_or_from_another_host_are_refused(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    log_path = tmp_path / "explorer.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xai_lab.cli", "explorer", "--models", str(tmp_path / "models"),
             "--port", str(port), "--no-browser"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.3)
        printed = re.search(rf"XAI Lab explorer: (http://127\.0\.0\.1:{port}/\?token=([0-9a-f]{{48}}))",
                            log_path.read_text())
        assert printed, log_path.read_text()
        url, token = printed.groups()
        base = f"http://127.0.0.1:{port}/"
        code, location = _status(base)
        assert code == 302 and "/login" in location  # no token: to the login page, as Jupyter
        assert _status(base + "?token=" + "0" * 48)[0] == 302  # a wrong token
        assert _status(url, host=f"attacker.example:{port}")[0] == 403  # DNS rebinding
        assert _status(base, host="attacker.example")[0] == 403
        config_dirs = [p for p in Path(tempfile.gettempdir()).glob("xai-lab-voila-*")
                       if (p / "voila.json").is_file()
                       and json.loads((p / "voila.json").read_text())["Voila"].get("token") == token]
        assert len(config_dirs) == 1
        assert (config_dirs[0].stat().st_mode & 0o777) == 0o700  # the token file is private
        assert (config_dirs[0] / "voila.json").stat().st_mode & 0o077 == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not config_dirs[0].exists()  # removed when the server stops
