"""Keep committed notebooks clean: no stale outputs, no widget state, only nbval's reference outputs.

Usage::

    python tools/clean_notebooks.py                   # clean notebooks/*.ipynb in place
    python tools/clean_notebooks.py --check           # change nothing; exit 1 listing what is not clean
    python tools/clean_notebooks.py --record NB.ipynb # run NB in fast mode, store the reference outputs
                                                      # of its "# NBVAL_CHECK_OUTPUT" cells, clean the rest

Why reference outputs stay: ``pytest --nbval-lax`` compares a cell marked ``# NBVAL_CHECK_OUTPUT``
with the output stored in the notebook, and skips the comparison when the cell was never run
(no execution count). So those cells, and only those, keep a small plain-text output and an
execution count; every other cell is stored without outputs.

Kept: sources, cell ``tags``, the kernelspec, the text outputs of checked cells.
Removed: other outputs and execution counts, ``metadata.widgets`` (megabytes of widget
JavaScript), per-cell run-time metadata (``execution``, ``collapsed``, ``scrolled``, ...), and any
non-text output of a checked cell. Files are rewritten atomically, only when something changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHECK_MARK = "NBVAL_CHECK_OUTPUT"
KEEP_CELL_METADATA = ("tags",)
KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")
MAX_REFERENCE_CHARS = 4000


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def is_checked(cell: dict[str, Any]) -> bool:
    """Whether nbval compares this code cell's output (``# NBVAL_CHECK_OUTPUT`` in its source)."""
    return cell.get("cell_type") == "code" and any(
        line.strip().startswith("#") and CHECK_MARK in line for line in _source(cell).splitlines()
    )


def _text_only(output: dict[str, Any]) -> dict[str, Any] | None:
    kind = output.get("output_type")
    if kind == "stream":
        return output if output.get("name") == "stdout" else None
    if kind in ("execute_result", "display_data") and "text/plain" in output.get("data", {}):
        kept = {"output_type": kind, "data": {"text/plain": output["data"]["text/plain"]}, "metadata": {}}
        if kind == "execute_result":
            kept["execution_count"] = output.get("execution_count")
        return kept
    return None


def clean(nb: dict[str, Any]) -> dict[str, Any]:
    """A clean copy of a notebook (parsed JSON)."""
    nb = json.loads(json.dumps(nb))
    meta = nb.get("metadata", {})
    nb["metadata"] = {k: meta[k] for k in KEEP_NOTEBOOK_METADATA if k in meta}
    if "language_info" in nb["metadata"]:
        nb["metadata"]["language_info"] = {"name": nb["metadata"]["language_info"].get("name", "python")}
    count = 0
    for cell in nb.get("cells", []):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
        if cell.get("cell_type") != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        outputs = [o for o in map(_text_only, cell.get("outputs", [])) if o is not None] if is_checked(cell) else []
        if outputs:
            count += 1
            cell["execution_count"] = count
            for o in outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = count
        else:
            cell["execution_count"] = None
        cell["outputs"] = outputs
    return nb


def problems(nb: dict[str, Any], require_references: bool = False) -> list[str]:
    """What makes a notebook not clean (empty when it is clean).

    With ``require_references``, a checked cell without a stored output is a problem too
    (nbval would silently skip it).
    """
    found = []
    if "widgets" in nb.get("metadata", {}):
        found.append("widget state in metadata.widgets")
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs", [])
        if not is_checked(cell):
            if outputs:
                found.append(f"cell {i} has outputs")
            if cell.get("execution_count") is not None:
                found.append(f"cell {i} has an execution count")
            continue
        if any(_text_only(o) != o for o in outputs):
            found.append(f"checked cell {i} has a non-text or stderr output")
        if outputs and cell.get("execution_count") is None:
            found.append(f"checked cell {i} has outputs but no execution count (nbval refuses it)")
        if sum(len(json.dumps(o)) for o in outputs) > MAX_REFERENCE_CHARS:
            found.append(f"checked cell {i} stores more than {MAX_REFERENCE_CHARS} characters")
        if require_references and not outputs:
            found.append(f"checked cell {i} has no reference output (run --record)")
    return found


def dumps(nb: dict[str, Any]) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record(path: Path, timeout: int = 600) -> dict[str, Any]:
    """Execute a notebook in fast mode and return it with the checked cells' outputs stored."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["XAI_LAB_FAST"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    original = json.loads(path.read_text(encoding="utf-8"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    for cell, ran in zip(original["cells"], nb.cells, strict=True):
        if is_checked(cell):
            dropped = [o for o in ran.get("outputs", []) if _text_only(dict(o)) is None]
            if dropped:
                kinds = sorted({o.get("name", o.get("output_type")) for o in dropped})
                print(f"{path.name}: a checked cell also printed {kinds}; not stored", file=sys.stderr)
            cell["outputs"] = [json.loads(json.dumps(o)) for o in ran.get("outputs", [])]
        elif cell.get("cell_type") == "code":
            cell["outputs"] = []
    return clean(original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if any is not clean")
    mode.add_argument("--record", action="store_true",
                      help="execute (XAI_LAB_FAST=1) and store the reference outputs of checked cells")  # fmt: skip
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
            nb = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            return 2
        if args.check:
            found = problems(nb)
            if found:
                dirty += 1
                print(f"{path}: " + "; ".join(found))
            continue
        new = dumps(record(path) if args.record else clean(nb))
        if new != text:
            write_atomic(path, new)
            print(f"{'recorded' if args.record else 'cleaned'} {path}")
    if dirty:
        print(f"{dirty} notebook(s) not clean: run python tools/clean_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
