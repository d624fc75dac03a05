"""Peak memory and wall time of each course notebook, executed in its own kernel.

Binder gives a session 2 GB and kills a kernel above that, so every notebook must stay under
1.5 GB peak RSS in full mode (the default here; ``--fast`` sets ``XAI_LAB_FAST=1``).

Each notebook runs in a fresh ``python3`` kernel started by nbclient. A thread samples the
kernel's resident memory (kernel process plus its children, psutil) every ``--interval``
seconds; after the last cell the kernel's own high-water mark (``VmHWM`` in
``/proc/<pid>/status``, exact, Linux) is read before shutdown. The table reports both, the wall
time of the cells, and flags notebooks above ``--limit-gb`` or that failed.

``--cpus 1`` pins the kernel to one CPU (as on Binder) before the first cell runs; TensorFlow
sizes its thread pools from the CPUs it may use, so timings then resemble Binder's.

Usage::

    python benchmarks/notebook_memory.py                       # notebooks/*.ipynb, full mode
    python benchmarks/notebook_memory.py notebooks/03_*.ipynb --cpus 1 --json out/memory.json

Exit status 1 when a notebook failed or went over the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def vm_hwm(pid: int) -> int | None:
    """The process's peak resident set size in bytes (``VmHWM``), or None where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _rss_tree(pid: int) -> int:
    """Resident memory of a process and its children, in bytes (0 when it is gone)."""
    try:
        import psutil
    except ImportError:  # psutil is a jupyter dependency; fall back to /proc for the process alone
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return 0
        return 0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


class Sampler(threading.Thread):
    """Samples the RSS of a process tree until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_tree(self.pid))
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, _rss_tree(self.pid))


def _kernel_pid(client: Any) -> int:
    km = client.km
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(km, "kernel", None), "pid", None)
    if not pid:
        raise RuntimeError("cannot find the kernel's process id (not a local kernel?)")
    return int(pid)


def measure(path: Path, fast: bool, timeout: int, interval: float, cpus: int | None) -> dict[str, Any]:
    """Execute one notebook in a new kernel; return its figures."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ["XAI_LAB_FAST"] = "1" if fast else "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    row: dict[str, Any] = {"notebook": path.name, "mode": "fast" if fast else "full", "error": None}
    with client.setup_kernel():
        pid = _kernel_pid(client)
        if cpus:
            import psutil

            psutil.Process(pid).cpu_affinity(list(range(min(cpus, os.cpu_count() or 1))))
        sampler = Sampler(pid, interval)
        sampler.start()
        start = time.perf_counter()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except CellExecutionError as exc:
            row["error"] = str(exc).strip().splitlines()[-1][:200]
        except TimeoutError as exc:
            row["error"] = f"timeout: {exc}"
        row["seconds"] = time.perf_counter() - start
        row["vm_hwm_mib"] = (vm_hwm(pid) or 0) / MiB or None
        sampler.stop()
        row["sampled_peak_mib"] = sampler.peak / MiB
        row["samples"] = sampler.samples
    row["peak_mib"] = max(row["vm_hwm_mib"] or 0.0, row["sampled_peak_mib"])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--fast", action="store_true", help="XAI_LAB_FAST=1 (default: full mode)")
    parser.add_argument("--limit-gb", type=float, default=1.5, help="flag notebooks above this peak RSS")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between RSS samples")
    parser.add_argument("--cpus", type=int, default=None, help="pin each kernel to this many CPUs (Binder: 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    limit_mib = args.limit_gb * 1024
    rows = []
    print(f"{'notebook':34s} {'mode':4s} {'wall s':>8s} {'peak MiB':>9s} {'VmHWM':>8s} {'sampled':>8s}  status")
    for path in paths:
        row = measure(path, args.fast, args.timeout, args.interval, args.cpus)
        over = row["peak_mib"] > limit_mib
        row["status"] = f"ERROR {row['error']}" if row["error"] else (
            f"OVER {args.limit_gb:g} GB" if over else "ok")  # fmt: skip
        rows.append(row)
        hwm = f"{row['vm_hwm_mib']:8.0f}" if row["vm_hwm_mib"] else f"{'n/a':>8s}"
        print(f"{row['notebook']:34s} {row['mode']:4s} {row['seconds']:8.1f} {row['peak_mib']:9.0f} {hwm} "
              f"{row['sampled_peak_mib']:8.0f}  {row['status']}", flush=True)  # fmt: skip
    worst = max(rows, key=lambda r: r["peak_mib"]) if rows else None
    if worst:
        print(f"largest peak: {worst['notebook']} {worst['peak_mib']:.0f} MiB "
              f"= {worst['peak_mib'] / limit_mib:.2f} x the {args.limit_gb:g} GB limit; "
              f"total wall time {sum(r['seconds'] for r in rows):.0f} s")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if any(r["status"] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
