"""Peak memory of decoding one large image, as the explorer does with an upload.

A PNG of a flat colour compresses to a few hundred KB whatever its pixel count, so a small
upload can ask the decoder for gigabytes. This script writes such files (and an ordinary large
dermoscopy-sized JPEG, which must still be accepted) into a temporary folder, then decodes each
in a fresh Python process the way the clinician explorer does (``read_image`` on the file, then
``prepare_for_model`` to a 128 x 128 model input) and prints, per file: the file size, its
pixels, whether it was accepted, the error when refused, the process's peak resident memory
(``VmHWM``) before and after decoding, and the wall time.

``--with-tensorflow`` imports TensorFlow and Keras first, as the explorer's kernel has them
(about 0.7 GB), so that the peak is comparable with Binder's 2 GB limit.

Usage::

    python benchmarks/data_decode_memory.py
    python benchmarks/data_decode_memory.py --with-tensorflow --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024

CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0

if sys.argv[3] == "1":
    import tensorflow, keras  # noqa: F401  (the explorer's kernel has them loaded)
from xai_lab.data import ImageReadError, prepare_for_model, read_image

path, channels = Path(sys.argv[1]), int(sys.argv[2])
budget = {"budget": int(sys.argv[4])} if int(sys.argv[4]) > 0 else {}
before = hwm()
t0 = time.perf_counter()
out = {"before_bytes": before}
try:
    image = read_image(path, max_bytes=50 * 2**20, **budget)
    x = prepare_for_model(image, (128, 128, channels))
    out.update(accepted=True, decoded_shape=list(image.shape), input_shape=list(x.shape))
except ImageReadError as exc:
    out.update(accepted=False, error=str(exc))
out.update(seconds=time.perf_counter() - t0, peak_bytes=hwm())
print(json.dumps(out))
"""


def make_files(folder: Path) -> list[tuple[str, Path, int]]:
    """(label, path, model channels) of the files to decode."""
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # we are writing these on purpose
    files = []
    side = 9400  # 88.4 megapixels
    rgb = Image.new("RGB", (side, side), (120, 90, 60))
    path = folder / "flat_rgb_88MP.png"
    rgb.save(path, optimize=True)
    files.append(("flat RGB PNG, 88 MP", path, 3))
    del rgb
    grey = Image.new("L", (side, side), 100)
    path = folder / "flat_grey_88MP.png"
    grey.save(path, optimize=True)
    files.append(("flat grey PNG, 88 MP", path, 1))
    del grey
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)
    photo = Image.fromarray(small).resize((6000, 4000), Image.Resampling.BILINEAR)
    path = folder / "dermoscopy_24MP.jpg"
    photo.save(path, quality=85)
    files.append(("RGB JPEG, 24 MP (a dermoscopy camera)", path, 3))
    xray = Image.fromarray(rng.integers(0, 65535, (300, 250), dtype=np.uint16)).resize(
        (3000, 2500), Image.Resampling.BILINEAR
    )
    path = folder / "xray_16bit_7.5MP.png"
    xray.save(path)
    files.append(("16-bit grey PNG, 7.5 MP (a digital radiograph)", path, 1))
    return files


def make_mode_files(folder: Path, megapixels: float = 16.0) -> list[tuple[str, Path, int]]:
    """One PNG per Pillow mode (and a JPEG per JPEG mode), ``megapixels`` each, textured."""
    import numpy as np
    from PIL import Image

    side = int((megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (side // 16, side // 16, 4), dtype=np.uint8)
    base = Image.fromarray(small, "RGBA").resize((side, side), Image.Resampling.NEAREST)
    files = []
    for mode in ("1", "L", "P", "LA", "I;16", "I", "F", "RGB", "RGBA"):
        if mode == "P":
            im = base.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        elif mode in ("I;16", "I", "F"):
            im = base.convert("L").convert("I").point(lambda v: v * 200)
            im = im.convert(mode) if mode != "I;16" else im.convert("I;16")
        else:
            im = base.convert(mode)
        suffix = ".tif" if mode in ("I", "F") else ".png"
        path = folder / f"mode_{mode.replace(';', '_')}{suffix}"
        im.save(path, **({"compression": "tiff_deflate"} if suffix == ".tif" else {}))
        files.append((f"{mode} {suffix[1:]}", path, 1 if mode in ("1", "L", "I;16", "I", "F", "LA") else 3))
    for mode in ("L", "RGB"):
        path = folder / f"mode_{mode}.jpg"
        base.convert(mode).save(path, quality=90)
        files.append((f"{mode} jpeg", path, 1 if mode == "L" else 3))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-tensorflow", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--modes", action="store_true",
                        help="measure the peak bytes per pixel of each Pillow mode (16 MP files, "
                             "no budget) instead")
    parser.add_argument("--budget-mib", type=int, default=0,
                        help="read_image's decoding budget (default: the package's)")
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.modes:
            args.budget_mib = 1 << 14
        files = make_mode_files(Path(tmp)) if args.modes else make_files(Path(tmp))
        for label, path, channels in files:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), str(channels),
                 "1" if args.with_tensorflow else "0", str(args.budget_mib * 2**20)],
                capture_output=True, text=True, env=env, check=False,
            )
            if proc.returncode != 0:
                row = {"accepted": False, "error": f"process died ({proc.returncode}): "
                       + proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""}
            else:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            from PIL import Image

            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as im:
                w, h = im.size
            row.update(file=label, file_bytes=path.stat().st_size, megapixels=w * h / 1e6)
            rows.append(row)
            peak = row.get("peak_bytes", 0) / MiB
            before = row.get("before_bytes", 0) / MiB
            verdict = "accepted" if row.get("accepted") else "refused: " + row.get("error", "")[:150]
            if args.modes and row.get("accepted"):
                verdict += f"; {(peak - before) * MiB / (row['megapixels'] * 1e6):.1f} bytes/pixel"
            print(
                f"{label:48s} {row['file_bytes'] / 1024:8.0f} KB {row['megapixels']:6.1f} MP  "
                f"peak {peak:7.0f} MiB (before {before:5.0f}, +{peak - before:6.0f})  "
                f"{row.get('seconds', float('nan')):5.2f} s  {verdict}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
