"""The Explanation result object: shapes, slicing, normalisation, persistence, joining."""

from __future__ import annotations

import os

import numpy as np
import pytest

from xai_lab.explain import Explanation


def make(n: int = 4, h: int = 5, w: int = 6, c: int = 3, k: int = 3, seed: int = 0, **extra):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    kwargs = dict(
        maps=rng.normal(size=(n, h, w)),
        inputs=rng.uniform(size=(n, h, w, c)),
        targets=rng.integers(0, k, n),
        predictions=logits.argmax(1),
        probabilities=p,
        method="gradcam",
        parameters={"layer": "conv2", "batch_size": 64},
        layer="conv2",
        seconds=0.5,
    )
    kwargs.update(extra)
    return Explanation(**kwargs)


def test_dtypes_are_cast():
    e = make(raw_maps=np.ones((4, 2, 3), np.float64), attributions=np.ones((4, 5, 6, 3)))
    assert e.maps.dtype == np.float32 and e.inputs.dtype == np.float32
    assert e.targets.dtype == np.int64 and e.predictions.dtype == np.int64
    assert e.raw_maps.dtype == np.float32 and e.attributions.dtype == np.float32
    assert len(e) == 4 and e.n_classes == 3


def test_int_index_keeps_batch_axis_and_slices_every_array():
    e = make(raw_maps=np.arange(24.0).reshape(4, 2, 3), attributions=np.ones((4, 5, 6, 3)))
    one = e[2]
    assert len(one) == 1 and one.maps.shape == (1, 5, 6)
    np.testing.assert_array_equal(one.maps[0], e.maps[2])
    np.testing.assert_array_equal(one.raw_maps[0], e.raw_maps[2])
    assert one.attributions.shape == (1, 5, 6, 3)
    assert one.targets[0] == e.targets[2] and one.layer == "conv2"
    np.testing.assert_array_equal(e[-1].maps[0], e.maps[3])
    assert len(e[:3]) == 3 and len(e[[0, 3]]) == 2
    with pytest.raises(IndexError):
        e[4]


def test_target_probabilities():
    e = make()
    np.testing.assert_allclose(e.target_probabilities, e.probabilities[np.arange(4), e.targets])


def test_normalized_modes_and_zero_map_stays_zero():
    maps = np.zeros((3, 5, 6))
    maps[1] = np.linspace(-2, 1, 30).reshape(5, 6)
    maps[2] = 7.0  # constant, non-zero
    e = make(n=3, maps=maps)
    m = e.normalized().maps
    assert np.all(m[0] == 0) and np.all(np.isfinite(m))
    assert np.isclose(np.abs(m[1]).max(), 1.0) and m[1].min() == pytest.approx(-1.0)
    mm = e.normalized("minmax").maps
    assert np.all(mm[0] == 0) and np.all(mm[2] == 0)
    assert mm[1].min() == pytest.approx(0.0) and mm[1].max() == pytest.approx(1.0)
    s = e.normalized("sum").maps
    assert np.all(s[0] == 0) and np.abs(s[1]).sum() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="unknown normalisation"):
        e.normalized("zscore")
    # the original is untouched
    np.testing.assert_array_equal(e.maps, maps.astype(np.float32))


def test_save_load_round_trip(tmp_path):
    e = make(raw_maps=np.ones((4, 2, 3)), attributions=np.full((4, 5, 6, 3), 0.25))
    path = e.save(tmp_path / "sub" / "expl")
    assert path.suffix == ".npz" and path.exists()
    back = Explanation.load(path)
    for name in ("maps", "inputs", "targets", "predictions", "probabilities", "raw_maps", "attributions"):
        np.testing.assert_array_equal(getattr(back, name), getattr(e, name))
    assert back.method == e.method and back.layer == e.layer
    assert back.parameters == e.parameters and back.seconds == e.seconds
    assert make().save(tmp_path / "b.npz") and Explanation.load(tmp_path / "b.npz").raw_maps is None


def test_save_is_atomic(tmp_path, monkeypatch):
    e = make()
    target = tmp_path / "e.npz"
    e.save(target)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        make(seed=1).save(target)
    assert target.read_bytes() == before, "a failed save damaged the existing file"
    assert sorted(os.listdir(tmp_path)) == ["e.npz"], "a temporary file was left behind"


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Explanation.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable Explanation"):
        Explanation.load(bad)
    np.savez(tmp_path / "nometa.npz", maps=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="not a readable Explanation"):
        Explanation.load(tmp_path / "nometa.npz")


def test_concatenate():
    a, b = make(n=2, seed=1), make(n=3, seed=2)
    c = Explanation.concatenate([a, b])
    assert len(c) == 5 and c.seconds == pytest.approx(1.0)
    np.testing.assert_array_equal(c.maps[2:], b.maps)
    np.testing.assert_array_equal(c[1].maps, a[1].maps)
    assert c.raw_maps is None
    with pytest.raises(ValueError, match="cannot join"):
        Explanation.concatenate([a, make(method="saliency")])
    with pytest.raises(ValueError, match="nothing"):
        Explanation.concatenate([])


@pytest.mark.parametrize(
    "change,match",
    [
        ({"maps": np.zeros((4, 5))}, "maps must be"),
        ({"maps": np.zeros((4, 3, 3))}, "input resolution"),
        ({"inputs": np.zeros((3, 5, 6, 3))}, "inputs must be"),
        ({"targets": np.zeros(3)}, "targets must have shape"),
        ({"predictions": np.zeros((4, 1))}, "predictions must have shape"),
        ({"probabilities": np.zeros(4)}, "probabilities must be"),
    ],
)
def test_bad_shapes_are_refused(change, match):
    with pytest.raises(ValueError, match=match):
        make(**change)


def test_repr():
    assert "method='gradcam'" in repr(make()) and "layer='conv2'" in repr(make())
