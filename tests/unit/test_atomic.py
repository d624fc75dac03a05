"""atomic_path and atomic_dir: the mechanisms behind every file and run folder the package writes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xai_lab import _atomic
from xai_lab._atomic import atomic_dir, atomic_path, clean_leftovers


def test_success_renames_into_place(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path, error):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(error), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise error()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_suffix_is_kept_for_writers_that_need_it(tmp_path):
    with atomic_path(tmp_path / "m.keras", suffix=".tmp.keras") as tmp:
        assert tmp.name.endswith(".tmp.keras")
        tmp.write_bytes(b"x")


# ------------------------------------------------------------------------------ atomic_dir

def _tree(folder):
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def _run(tmp_path, files, interrupt_after=None):
    """Write ``files`` into tmp_path/run through atomic_dir; KeyboardInterrupt after N files."""
    with atomic_dir(tmp_path / "run") as tmp:
        for i, (name, text) in enumerate(files.items()):
            if interrupt_after is not None and i == interrupt_after:
                raise KeyboardInterrupt
            (tmp / name).write_text(text)


OLD = {"model.keras": "old model", "metrics.json": "old metrics", "calibration.json": "old cal"}
NEW = {"model.keras": "new model", "metrics.json": "new metrics", "calibration.json": "new cal"}


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_folder_is_replaced_as_a_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(_atomic, "_exchange", lambda a, b: False)
    _run(tmp_path, OLD)
    assert _tree(tmp_path / "run") == OLD
    _run(tmp_path, {**NEW, "history.json": "new history"})
    assert _tree(tmp_path / "run") == {**NEW, "history.json": "new history"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no sibling left behind
    assert oct((tmp_path / "run").stat().st_mode & 0o777) == oct(0o777 & ~_atomic._umask())


@pytest.mark.parametrize("after", [0, 1, 2])
def test_interruption_between_files_leaves_the_old_run(tmp_path, after):
    _run(tmp_path, OLD)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, NEW, interrupt_after=after)
    assert _tree(tmp_path / "run") == OLD  # never the new model beside the old calibration
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_interruption_of_a_first_run_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "run") as tmp:
        (tmp / "model.keras").write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # finished and reaped: no process has it now (pids are not reused at once)


def test_leftovers_of_a_killed_writer_are_removed_not_picked_up(tmp_path):
    _run(tmp_path, OLD)
    pid = _dead_pid()
    stale = tmp_path / f".run.new-{pid}-abc123"  # a writer killed half-way (SIGKILL, power cut)
    stale.mkdir()
    (stale / "model.keras").write_text("half-written new model")
    assert _tree(tmp_path / "run") == OLD  # readers of run/ never see it
    _run(tmp_path, NEW)
    assert _tree(tmp_path / "run") == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_kill_between_the_two_renames_is_repaired(tmp_path):
    """Where the folders cannot be exchanged in one step, a kill between the renames leaves
    the old run under a hidden name and no run/: the next write puts it back, then replaces it."""
    _run(tmp_path, OLD)
    pid = _dead_pid()
    os.rename(tmp_path / "run", tmp_path / f".run.old-{pid}-xyz")
    assert clean_leftovers(tmp_path / "run") == [tmp_path / f".run.old-{pid}-xyz"]
    assert _tree(tmp_path / "run") == OLD
    _run(tmp_path, NEW)
    assert _tree(tmp_path / "run") == NEW and [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_live_writers_folder_is_left_alone(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / f".run.new-{proc.pid}-abc"
        busy.mkdir()
        assert clean_leftovers(tmp_path / "run") == []
        assert busy.is_dir()
    finally:
        proc.kill()
        proc.wait()


def test_target_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("a file")
    with pytest.raises(NotADirectoryError), atomic_dir(tmp_path / "run"):
        pass
    assert (tmp_path / "run").read_text() == "a file"
