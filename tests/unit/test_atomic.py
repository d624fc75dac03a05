"""atomic_path: the one mechanism behind every file the package writes."""

from __future__ import annotations

import pytest

from xai_lab._atomic import atomic_path


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
