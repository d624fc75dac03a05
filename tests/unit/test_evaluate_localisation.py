"""Localisation metrics on hand-made maps and masks (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from xai_lab.evaluate import PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy, TopKIoU
from xai_lab.explain import Explanation


def explanation(maps: np.ndarray) -> Explanation:
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    return Explanation(
        maps=maps,
        inputs=np.zeros((n, h, w, 1), np.float32),
        targets=np.zeros(n, np.int64),
        predictions=np.zeros(n, np.int64),
        probabilities=np.full((n, 2), 0.5, np.float32),
        method="hand_made",
    )


def square_mask(size: int = 8, lo: int = 2, hi: int = 5) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[lo:hi, lo:hi] = True
    return m


ALL = [PointingGame(), RelevanceMassAccuracy(), RelevanceRankAccuracy(), TopKIoU(fraction=9 / 64)]


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_map_equal_to_mask_scores_one(metric):
    mask = square_mask()[None]
    scores = metric(None, explanation(mask.astype(np.float32)), masks=mask)
    assert scores.dtype == np.float64 and scores.shape == (1,)
    assert scores[0] == pytest.approx(1.0)


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_map_outside_mask_scores_zero(metric):
    mask = square_mask()[None]
    outside = np.zeros((1, 8, 8), np.float32)
    outside[0, 6:8, 0:8] = 1.0
    outside[0, 0, 7] = 2.0  # the maximum is outside too
    assert metric(None, explanation(outside), masks=mask)[0] == 0.0


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_nan_where_mask_is_empty_and_for_flat_maps(metric):
    mask = np.stack([square_mask(), np.zeros((8, 8), bool), square_mask()])
    rng = np.random.default_rng(0)
    maps = rng.random((3, 8, 8)).astype(np.float32)
    maps[2] = 0.25  # one value everywhere: ranks nothing, no maximum to point at
    scores = metric(None, explanation(maps), masks=mask)
    assert np.isfinite(scores[0])
    assert np.isnan(scores[1])
    if isinstance(metric, RelevanceMassAccuracy):
        # A flat positive map spreads its mass evenly: the mask's share of the image.
        assert scores[2] == pytest.approx(9 / 64)
        maps[2] = 0.0  # no positive relevance at all
        assert np.isnan(metric(None, explanation(maps), masks=mask)[2])
    else:
        assert np.isnan(scores[2])


def test_mass_accuracy_uses_positive_relevance_only():
    mask = square_mask()[None]
    maps = np.zeros((1, 8, 8), np.float32)
    maps[0, 3, 3] = 3.0  # inside
    maps[0, 7, 7] = 1.0  # outside
    maps[0, 0, 0] = -100.0  # negative relevance is ignored
    assert RelevanceMassAccuracy()(None, explanation(maps), masks=mask)[0] == pytest.approx(0.75)
    assert np.isnan(RelevanceMassAccuracy()(None, explanation(-np.abs(maps)), masks=mask)[0])


def test_rank_accuracy_counts_top_k_and_shares_ties():
    mask = square_mask()[None]  # 9 pixels
    maps = np.zeros((1, 8, 8), np.float32)
    maps[0, 2:5, 2:4] = 5.0  # 6 of the 9 mask pixels on top
    maps[0, 7, 0:3] = 4.0  # 3 outside pixels next
    assert RelevanceRankAccuracy()(None, explanation(maps), masks=mask)[0] == pytest.approx(6 / 9)
    # Ties at the K-th value share the places: 3 places among 3 mask + 3 outside tied pixels.
    maps[0, 7, 0:3] = 1.0
    maps[0, 2:5, 4] = 1.0
    assert RelevanceRankAccuracy()(None, explanation(maps), masks=mask)[0] == pytest.approx((6 + 1.5) / 9)


def test_pointing_game_tolerance_and_ties():
    mask = square_mask()[None]
    maps = np.zeros((1, 8, 8), np.float32)
    maps[0, 6, 3] = 1.0  # one pixel below the mask (rows 2..4)
    assert PointingGame()(None, explanation(maps), masks=mask)[0] == 0.0
    assert PointingGame(tolerance=2)(None, explanation(maps), masks=mask)[0] == 1.0
    maps[0, 3, 3] = 1.0  # two tied maxima, one inside
    assert PointingGame()(None, explanation(maps), masks=mask)[0] == pytest.approx(0.5)


def test_top_k_iou_value():
    mask = square_mask()[None]  # 9 pixels
    maps = np.zeros((1, 8, 8), np.float32)
    maps[0, 2:5, 2:5] = 2.0
    maps[0, 7, 0:3] = 1.0
    # The top 12 pixels: 9 in the mask + 3 outside -> IoU 9 / 12.
    assert TopKIoU(fraction=12 / 64)(None, explanation(maps), masks=mask)[0] == pytest.approx(0.75)


def test_clear_errors():
    e = explanation(np.ones((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="masks"):
        PointingGame()(None, e)
    with pytest.raises(ValueError, match="do not match"):
        PointingGame()(None, e, masks=np.ones((1, 4, 4), bool))
    with pytest.raises(TypeError, match="Explanation"):
        PointingGame()(None, np.ones((1, 8, 8)), masks=np.ones((1, 8, 8), bool))
    with pytest.raises(ValueError, match="fraction"):
        TopKIoU(fraction=0.0)
