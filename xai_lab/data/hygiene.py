"""Data hygiene: exact and near-duplicate images within and across splits.

Near duplicates are found by perceptual hashing: each image is reduced to two 64-bit
fingerprints, a difference hash (dHash: the signs of horizontal gradients of a 9 x 8
thumbnail; Krawetz 2013, "Kind of like that") and a DCT hash (pHash: the signs of the 8 x 8
lowest DCT frequencies of a 32 x 32 thumbnail against their median; Zauner 2010,
"Implementation and benchmarking of perceptual image hash functions"). Two images are near
duplicate candidates when *both* Hamming distances are at most ``max_distance`` bits; exact duplicates
are pixel-identical. Hash candidates are confirmed by the correlation of 32 x 32 grey thumbnails
and of their fine detail (high-pass) (at 28 x 28 pixels perceptual hashes alone cannot tell similar radiographs apart);
the report also gives the mean absolute grey-level difference of the thumbnails (0-255) so
that every pair can be checked by eye.

Why it matters: a validation image that is also in the training set flatters validation
scores (PneumoniaMNIST has such train/val overlaps, see ``datasets/pneumoniamnist.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_MAX_DISTANCE = 8
DEFAULT_MIN_CORRELATION = 0.99
DEFAULT_MIN_DETAIL_CORRELATION = 0.9
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _grey(images: Any) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:  # (N, H, W) grey batch
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or (N, H, W), got shape {x.shape}")
    x = x.astype(np.float32)
    if x.shape[-1] >= 3:
        return x[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return x[..., 0]


def _area_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging input cells over each output cell (area resampling)."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    left, right = edges[:-1, None], edges[1:, None]
    cells = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(right, cells + 1) - np.maximum(left, cells), 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def thumbnails(images: Any, height: int, width: int) -> np.ndarray:
    """Grey (N, height, width) float32 thumbnails by area averaging (upsampling for tiny inputs)."""
    g = _grey(images)
    rh, rw = _area_matrix(height, g.shape[1]), _area_matrix(width, g.shape[2])
    return np.einsum("ih,nhw,jw->nij", rh, g, rw, optimize=True)


def _pack(bits: np.ndarray) -> np.ndarray:
    """(N, 64) bool -> (N,) uint64."""
    packed = np.packbits(bits.reshape(len(bits), 64), axis=1)
    return packed.view(">u8").reshape(-1).astype(np.uint64)


def dhash(images: Any) -> np.ndarray:
    """64-bit difference hashes, (N,) uint64."""
    t = thumbnails(images, 8, 9)
    return _pack(t[:, :, 1:] > t[:, :, :-1])


def phash(images: Any) -> np.ndarray:
    """64-bit DCT perceptual hashes, (N,) uint64."""
    from scipy.fft import dctn

    t = thumbnails(images, 32, 32)
    coeffs = dctn(t, type=2, axes=(1, 2), norm="ortho")[:, :8, :8].reshape(len(t), 64)
    median = np.median(coeffs[:, 1:], axis=1, keepdims=True)  # the DC term is left out
    return _pack(coeffs > median)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.uint8)
    return _POPCOUNT8[x[..., None].view(np.uint8)].sum(axis=-1, dtype=np.uint8)  # numpy < 2


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between two uint64 hash vectors, (len(a), len(b)) uint8."""
    return _popcount(np.bitwise_xor(a[:, None], b[None, :]))


@dataclass
class DuplicateReport:
    """Duplicates found by :func:`find_duplicates`.

    Attributes
    ----------
    pairs : np.ndarray
        int64 (k, 2): ``(i, j)`` indices into ``images_a`` and ``images_b`` (across), or two
        indices ``i < j`` into ``images_a`` (within).
    exact : np.ndarray
        bool (k,): the pair is pixel-identical.
    distances : np.ndarray
        int (k,): the larger of the dHash and pHash Hamming distances (0-64 bits).
    mean_abs_diff : np.ndarray
        float (k,): mean absolute difference of the 32 x 32 grey thumbnails (0-255).
    across : bool
        True when two image sets were compared.
    max_distance : int
        The hash threshold used for candidates.
    sizes : tuple of int
        Number of images in the two sets (the same set twice for a within-set search).
    correlation : np.ndarray
        float (k,): Pearson correlation of the 32 x 32 grey thumbnails.
    detail_correlation : np.ndarray
        float (k,): Pearson correlation of their details (high-pass).
    min_correlation, min_detail_correlation : float or None
        The correlations a candidate needed to count as a near duplicate.
    """

    pairs: np.ndarray
    exact: np.ndarray
    distances: np.ndarray
    mean_abs_diff: np.ndarray
    across: bool
    max_distance: int
    sizes: tuple[int, int] = field(default=(0, 0))
    correlation: np.ndarray = field(default_factory=lambda: np.zeros(0))
    detail_correlation: np.ndarray = field(default_factory=lambda: np.zeros(0))
    min_correlation: float | None = DEFAULT_MIN_CORRELATION
    min_detail_correlation: float = DEFAULT_MIN_DETAIL_CORRELATION

    @property
    def n_exact(self) -> int:
        return int(self.exact.sum())

    @property
    def n_near(self) -> int:
        """Near duplicates that are not pixel-identical."""
        return int((~self.exact).sum())

    @property
    def exact_pairs(self) -> np.ndarray:
        return self.pairs[self.exact]

    @property
    def near_pairs(self) -> np.ndarray:
        return self.pairs[~self.exact]

    def affected(self, side: int = 1) -> np.ndarray:
        """Sorted unique indices involved on one side (0: images_a, 1: images_b)."""
        return np.unique(self.pairs[:, side]) if len(self.pairs) else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pairs)

    def summary(self) -> str:
        where = "across the two sets" if self.across else "within the set"
        rule = f"hash distance <= {self.max_distance} bits"
        if self.min_correlation is not None:
            rule += (
                f", thumbnail correlation >= {self.min_correlation:g}, detail correlation >= "
                f"{self.min_detail_correlation:g}"
            )
        text = f"{self.n_exact} exact and {self.n_near} near-duplicate pair(s) {where} ({rule})"
        if self.across and len(self.pairs):
            text += f"; {len(self.affected(1))} of {self.sizes[1]} images of the second set have a copy in the first"
        return text


def _unit(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)


def _thumb_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """32 x 32 thumbnails (N, 1024), their unit-norm versions and unit-norm details (high-pass)."""
    from scipy.ndimage import gaussian_filter

    t = thumbnails(images, 32, 32)
    detail = (t - gaussian_filter(t, sigma=(0, 1.5, 1.5), mode="nearest")).reshape(len(t), -1)
    t = t.reshape(len(t), -1)
    return t, _unit(t), _unit(detail)


def _correlate(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    corr = np.einsum("nk,nk->n", za, zb)
    flat = (np.abs(za).sum(1) == 0) & (np.abs(zb).sum(1) == 0)
    return np.where(flat, 1.0, corr)  # two flat images are alike


def find_duplicates(
    images_a: Any,
    images_b: Any | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    min_correlation: float | None = DEFAULT_MIN_CORRELATION,
    min_detail_correlation: float = DEFAULT_MIN_DETAIL_CORRELATION,
    chunk: int = 1024,
) -> DuplicateReport:
    """Find exact and near-duplicate images within one set or across two sets.

    Parameters
    ----------
    images_a : array (N, H, W, C) or (N, H, W)
        Images (any dtype; uint8 in the data layer).
    images_b : array, optional
        A second set (e.g. the validation split); when given only pairs across the sets are
        reported, otherwise pairs ``i < j`` within ``images_a``.
    max_distance : int
        Candidates have dHash and pHash Hamming distances both at most this (of 64 bits).
        ``-1`` reports exact duplicates only.
    min_correlation : float or None
        A candidate is confirmed as a near duplicate when the Pearson correlation of the two
        32 x 32 grey thumbnails is at least this ``and`` the correlation of their details
        (thumbnail minus its Gaussian blur, sigma 1.5) is at least ``min_detail_correlation``
        (``None``: the hashes alone decide).
    min_detail_correlation : float
        See ``min_correlation``. The defaults (8 bits, 0.99, 0.9) were measured on
        PneumoniaMNIST at 28 x 28, where perceptual hashes alone cannot separate distinct
        radiographs (distinct pairs at 2-4 bits exist): distinct images reach a thumbnail
        correlation of at most 0.979 and a detail correlation of at most 0.873, while copies
        re-encoded as JPEG quality 75 (>= 0.999 and >= 0.99), brightened or contrast-changed
        copies (>= 0.999) pass. Heavier changes (JPEG quality 50, added noise, shifts) may be
        missed.
    chunk : int
        Rows compared at a time (memory: about ``chunk * len(images_b)`` bytes).

    Returns
    -------
    DuplicateReport
    """
    a = np.asarray(images_a)
    b = None if images_b is None else np.asarray(images_b)
    across = b is not None
    other = b if across else a
    # exact duplicates: identical bytes (same shape and dtype)
    exact_pairs: list[tuple[int, int]] = []
    if not across or (a.shape[1:] == other.shape[1:] and a.dtype == other.dtype):
        seen: dict[bytes, list[int]] = {}
        for j in range(len(other)):
            seen.setdefault(other[j].tobytes(), []).append(j)
        for i in range(len(a)):
            exact_pairs.extend((i, j) for j in seen.get(a[i].tobytes(), ()) if across or i < j)
    cand_i: list[np.ndarray] = []
    cand_j: list[np.ndarray] = []
    cand_d: list[np.ndarray] = []
    if max_distance >= 0 and len(a) and len(other):
        da, pa = dhash(a), phash(a)
        db, pb = (dhash(other), phash(other)) if across else (da, pa)
        for start in range(0, len(a), chunk):
            stop = min(start + chunk, len(a))
            first = 0 if across else start  # within one set only pairs i < j
            d = np.maximum(hamming(da[start:stop], db[first:]), hamming(pa[start:stop], pb[first:]))
            if not across:
                rows = np.arange(start, stop)[:, None]
                d[rows >= np.arange(first, len(other))[None, :]] = 255
            ii, jj = np.nonzero(d <= max_distance)
            cand_i.append(ii + start)
            cand_j.append(jj + first)
            cand_d.append(d[ii, jj].astype(np.int64))
    pairs = (
        np.stack([np.concatenate(cand_i), np.concatenate(cand_j)], axis=1)
        if cand_i
        else np.zeros((0, 2), np.int64)
    )
    dist = np.concatenate(cand_d) if cand_d else np.zeros(0, np.int64)
    # exact pairs always belong to the report, whatever their hash distance
    pairs = np.concatenate(
        [np.array(exact_pairs, dtype=np.int64).reshape(-1, 2), pairs.astype(np.int64)]
    )
    dist = np.concatenate([np.zeros(len(exact_pairs), np.int64), dist])
    pairs, first_idx = np.unique(pairs, axis=0, return_index=True)
    dist = dist[first_idx]
    exact_set = set(exact_pairs)
    exact = np.array([tuple(p) in exact_set for p in pairs.tolist()], dtype=bool)
    if len(pairs):
        ta, za, da_ = _thumb_stats(a[pairs[:, 0]])
        tb, zb, db_ = _thumb_stats(other[pairs[:, 1]])
        corr, detail = _correlate(za, zb), _correlate(da_, db_)
        mad = np.abs(ta - tb).mean(axis=1)
    else:
        corr = detail = mad = np.zeros(0)
    keep = exact.copy()
    if min_correlation is None:
        keep |= True
    else:
        keep |= (corr >= min_correlation) & (detail >= min_detail_correlation)
    return DuplicateReport(
        pairs[keep],
        exact[keep],
        dist[keep],
        mad[keep].astype(np.float64),
        across,
        int(max_distance),
        (len(a), len(other)),
        correlation=corr[keep].astype(np.float64),
        detail_correlation=detail[keep].astype(np.float64),
        min_correlation=min_correlation,
        min_detail_correlation=min_detail_correlation,
    )


def split_overlaps(
    splits: Mapping[str, Any], max_distance: int = DEFAULT_MAX_DISTANCE
) -> dict[str, DuplicateReport]:
    """Duplicates within every split and across every pair of splits.

    ``split_overlaps({"train": tr.images, "val": va.images})`` returns reports keyed
    ``"train"``, ``"val"`` and ``"train/val"``.
    """
    names = list(splits)
    out = {name: find_duplicates(splits[name], max_distance=max_distance) for name in names}
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            out[f"{first}/{second}"] = find_duplicates(splits[first], splits[second], max_distance)
    return out
