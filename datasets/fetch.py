"""Download the MedMNIST files the course uses into the xai_lab cache (or report where they are).

Usage::

    python datasets/fetch.py                                  # the three sets at 28 x 28
    python datasets/fetch.py pneumoniamnist --sizes 28 64 128
    XAI_LAB_CACHE_DIR=/data/cache python datasets/fetch.py dermamnist

Each file is looked for in ``XAI_LAB_DATA_DIR`` and the cache first; a missing one is
downloaded from Zenodo with a progress bar, checked against its MD5 and renamed into place
only when complete (see ``xai_lab.data.download``). ``chest_xray`` and ``ham10000`` cannot be
downloaded without a login: the script says where to get them.
"""

from __future__ import annotations

import argparse
import sys

MEDMNIST = ("pneumoniamnist", "dermamnist", "retinamnist")


def main(argv: list[str] | None = None) -> int:
    from xai_lab import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", default=list(MEDMNIST), help=f"datasets (default: {' '.join(MEDMNIST)})"
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[28], choices=[28, 64, 128, 224])
    args = parser.parse_args(argv)
    status = 0
    for name in args.names:
        try:
            info = data.get_info(name)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            status = 2
            continue
        if info["kind"] != "medmnist":
            print(
                f"{name}: not downloadable automatically; get it from {info['url']} "
                f"(see datasets/{name}.md) and set XAI_LAB_DATA_DIR"
            )
            continue
        for size in args.sizes:
            try:
                path, origin = data.locate(name, size, download=True)
            except data.DatasetNotFoundError as exc:
                print(f"error: {exc}", file=sys.stderr)
                status = 1
                continue
            print(f"{name} {size}x{size}: {path} ({origin})")
    return status


if __name__ == "__main__":
    sys.exit(main())
