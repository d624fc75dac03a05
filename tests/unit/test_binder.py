"""binder/ matches pyproject.toml: every runtime dependency pinned inside its declared range."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"binder/requirements.txt: pin exact versions, got {line!r}"
            name, version = line.split("==", 1)
            pins[_name(name)] = version.strip()
    return pins


def test_every_dependency_is_pinned_within_its_range():
    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _pins()
    for dep in deps:
        req = Requirement(dep)
        name = _name(req.name)
        assert name in pins, f"{name} is a dependency in pyproject.toml but not in binder/requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"binder pins {name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_runtime_and_postbuild():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.(1[0-9])", runtime), runtime
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(requires).contains(runtime.split("-", 1)[1] + ".0")
    post = BINDER / "postBuild"
    assert post.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert re.search(r"pip install .*-e \.", post.read_text()), "postBuild must install the package"


def test_start_sets_the_session_and_runs_the_command():
    """repo2docker runs ``binder/start <command>``: it must exec the command with TF quiet."""
    import subprocess

    start = BINDER / "start"
    assert start.stat().st_mode & 0o111, "binder/start must be executable"
    done = subprocess.run(
        [str(start), sys.executable, "-c", "import os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"
