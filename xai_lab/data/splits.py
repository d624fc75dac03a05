"""Deterministic train / validation splits: stratified, and grouped (one patient or lesion on
one side only).

Grouping matters whenever several images show the same lesion or patient (HAM10000's
``lesion_id``): a random image-level split puts near-copies of one lesion in both train and
validation and overstates accuracy (data leakage; see Tschandl et al. 2018 and the
HAM10000 dataset card).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _check_fraction(val_fraction: float) -> float:
    val_fraction = float(val_fraction)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    return val_fraction


def stratified_split(
    labels: Any, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so that each class keeps its proportion on both sides.

    Each class contributes ``round(val_fraction * n_class)`` items to validation (at least one
    when the class has two or more). Returns sorted int64 ``(train_idx, val_idx)``.
    """
    val_fraction = _check_fraction(val_fraction)
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    val_parts = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        n_val = int(round(val_fraction * len(idx)))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val_parts.append(rng.permutation(idx)[:n_val])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train.astype(np.int64), val.astype(np.int64)


def grouped_split(
    labels: Any, groups: Any, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so that every group is on one side only, stratified by class.

    Each group gets the most frequent label of its images. Within each class the groups are
    shuffled (seeded) and moved to validation one by one while that brings the class's
    validation images closer to ``val_fraction`` of its images (a group too large to help is
    passed over); each class keeps at least one group in train and, with two or more groups,
    one in validation. Returns sorted int64 ``(train_idx, val_idx)``; no group appears in both.
    """
    val_fraction = _check_fraction(val_fraction)
    labels = np.asarray(labels).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    if len(groups) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    group_ids, inverse = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(group_ids))
    classes, label_idx = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(group_ids), len(classes)), dtype=np.int64)
    np.add.at(counts, (inverse, label_idx), 1)
    group_label = counts.argmax(axis=1)
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(group_ids), dtype=bool)
    for c in range(len(classes)):
        members = np.flatnonzero(group_label == c)
        if len(members) < 2:
            continue  # a class with a single group stays in train
        target = val_fraction * sizes[members].sum()
        taken = 0
        for i, g in enumerate(rng.permutation(members)):
            if taken >= target or i == len(members) - 1:
                break  # never move the last group: each class keeps training data
            if taken == 0 or abs(taken + sizes[g] - target) < abs(taken - target):
                in_val[g] = True
                taken += sizes[g]
    val = np.flatnonzero(in_val[inverse])
    train = np.flatnonzero(~in_val[inverse])
    return train.astype(np.int64), val.astype(np.int64)


def _group_rank(group_ids: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random number in [0, 1) per group id that depends only on the id and ``seed``."""
    import hashlib

    out = np.empty(len(group_ids), dtype=np.float64)
    for i, g in enumerate(group_ids):
        digest = hashlib.sha256(f"{int(seed)}\0{g}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2.0**64
    return out


def grouped_splits(
    labels: Any, groups: Any, fractions: dict[str, float], seed: int = 0
) -> dict[str, np.ndarray]:
    """Split indices into ``train`` and the named held-out sides, grouped and stratified.

    Every group (patient, lesion) lands on one side only. Within each class (a group's class
    is the most frequent label of its images) the groups are ordered by a hash of their id
    and ``seed`` (:func:`_group_rank`), and the held-out sides are filled in the order given
    by ``fractions`` (e.g. ``{"val": 0.15, "test": 0.15}``) until each holds about its
    fraction of the class's images; the rest is ``train``. Because a group's place in the
    order depends only on its own id, a copy of the data with more or fewer groups keeps
    almost every group on the same side (only groups near a boundary move), and the same
    table always gives the same split. A class with a single group stays in train.

    Returns ``{"train": idx, **{side: idx}}``, sorted int64 indices.
    """
    labels = np.asarray(labels).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    if len(groups) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(groups)} groups")
    sides = list(fractions)
    if "train" in sides or "all" in sides:
        raise ValueError("fractions name the held-out sides; 'train' (and 'all') are implied")
    total = sum(_check_fraction(f) for f in fractions.values())
    if not total < 1.0:
        raise ValueError(f"the held-out fractions add up to {total}; they must leave training data")
    if len(labels) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {"train": empty, **{side: empty.copy() for side in sides}}
    group_ids, inverse = np.unique(groups.astype(str), return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(group_ids))
    classes, label_idx = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(group_ids), len(classes)), dtype=np.int64)
    np.add.at(counts, (inverse, label_idx), 1)
    group_label = counts.argmax(axis=1)
    rank = _group_rank(group_ids, seed)
    side_of = np.full(len(group_ids), -1, dtype=np.int64)  # -1: train
    for c in range(len(classes)):
        members = np.flatnonzero(group_label == c)
        if len(members) < 2:
            continue
        members = members[np.argsort(rank[members], kind="stable")]
        n_class = sizes[members].sum()
        pos = 0
        for s, side in enumerate(sides):
            target = fractions[side] * n_class
            taken = 0
            while pos < len(members) - 1:  # never move the last group: train keeps the class
                g = members[pos]
                if taken > 0 and abs(taken + sizes[g] - target) >= abs(taken - target):
                    break
                side_of[g] = s
                taken += sizes[g]
                pos += 1
    out = {"train": np.flatnonzero(side_of[inverse] == -1).astype(np.int64)}
    for s, side in enumerate(sides):
        out[side] = np.flatnonzero(side_of[inverse] == s).astype(np.int64)
    return out
