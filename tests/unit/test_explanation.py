"""The Explanation result object: shapes, slicing, normalisation, persistence, joining,
what the maps mean (method info), degenerate maps, and loading damaged files."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xai_lab.explain import Explanation
from xai_lab.explain.explanation import ExplanationFileError, degenerate_code
from xai_lab.explain.info import MethodInfo

INFO = MethodInfo("Grad-CAM", signed=False, meaning="where layer {layer} raises {target}",
                  high="raises {target}", low="no positive evidence")


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
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        Explanation.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ExplanationFileError, match="bad.npz.*not a readable Explanation"):
        Explanation.load(bad)
    np.savez(tmp_path / "nometa.npz", maps=np.zeros((1, 2, 2)))
    with pytest.raises(ExplanationFileError, match="no 'meta' entry"):
        Explanation.load(tmp_path / "nometa.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ExplanationFileError, match="empty"):
        Explanation.load(tmp_path / "empty.npz")
    with pytest.raises(ExplanationFileError, match="folder"):
        Explanation.load(tmp_path)


# ------------------------------------------------------------------ meaning and degenerate maps
def test_info_gives_title_meaning_and_sign():
    e = make(info=INFO)
    assert e.title == "Grad-CAM" and e.signed is False
    assert e.meaning == "where layer conv2 raises the explained class"
    assert e.describe(0, ["a", "b", "c"]) == f"where layer conv2 raises '{['a', 'b', 'c'][e.targets[0]]}'"
    bare = make()  # no info: the registry name, and the sign read from the data
    assert bare.title == "gradcam" and bare.signed is True
    assert make(maps=np.abs(make().maps)).signed is False


def test_degenerate_maps_are_flagged_with_a_reason_per_image():
    maps = np.random.default_rng(0).normal(size=(4, 5, 6))
    maps[1] = 0.0
    maps[2] = 3.5
    maps[3, 0, 0] = np.nan
    e = make(maps=maps, info=INFO)
    assert [degenerate_code(m) for m in maps] == ["", "zero", "constant", "nonfinite"]
    assert list(e.flagged) == [False, True, True, True]
    assert e.note(0) == ""
    assert "zero everywhere" in e.note(1, ["x", "y", "z"]) and "'" in e.note(1, ["x", "y", "z"])
    assert "3.5" in e.note(2) and "NaN" in e.note(3)
    assert list(e[1:3].flagged) == [True, True]
    joined = Explanation.concatenate([e[:2], e[2:]])
    np.testing.assert_array_equal(joined.degenerate, e.degenerate)


def test_explainer_reasons_are_kept_and_validated():
    e = make(n=2, degenerate=["", "no positive evidence for {target} at layer conv2"])
    assert e.note(1, ["p", "q", "r"]).startswith(f"no positive evidence for '{['p', 'q', 'r'][e.targets[1]]}'")
    with pytest.raises(ValueError, match="degenerate"):
        make(n=2, degenerate=["only one"])
    with pytest.raises(ValueError, match="targets must be classes"):
        make(targets=np.array([0, 1, 2, 7]))


def test_round_trip_keeps_info_and_degenerate_notes(tmp_path):
    maps = np.random.default_rng(1).normal(size=(3, 5, 6))
    maps[2] = 0.0
    e = make(n=3, maps=maps, info=INFO, raw_maps=np.ones((3, 2, 2)),
             degenerate=["", "", "no positive evidence for {target}"])
    back = Explanation.load(e.save(tmp_path / "e.npz"))
    assert back.info == INFO and back.title == "Grad-CAM" and back.signed is False
    np.testing.assert_array_equal(back.degenerate, e.degenerate)
    assert back.note(2, ["a", "b", "c"]) == e.note(2, ["a", "b", "c"])
    empty = make(n=3)[:0]
    assert len(Explanation.load(empty.save(tmp_path / "empty.npz"))) == 0


def test_version_1_files_still_load(tmp_path):
    e = make(n=2)
    meta = {"format": 1, "method": "gradcam", "parameters": {}, "layer": "conv2", "seconds": 0.5}
    arrays = {k: getattr(e, k) for k in ("maps", "inputs", "targets", "predictions", "probabilities")}
    np.savez_compressed(tmp_path / "v1.npz", meta=np.array(json.dumps(meta)), **arrays)
    back = Explanation.load(tmp_path / "v1.npz")
    assert back.info is None and len(back.degenerate) == 2


def _archive(meta, arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(meta if isinstance(meta, str) else json.dumps(meta)), **arrays)
    return buf.getvalue()


def _valid_parts():
    e = make(n=2, raw_maps=np.ones((2, 2, 3)))
    meta = {"format": 2, "method": "gradcam", "parameters": {}, "layer": None, "seconds": 0.1,
            "info": INFO.to_dict()}
    arrays = {k: getattr(e, k) for k in ("maps", "inputs", "targets", "predictions", "probabilities",
                                         "raw_maps", "degenerate")}
    return meta, arrays


@pytest.mark.parametrize("damage", [
    lambda m, a: (m, {k: v for k, v in a.items() if k != "maps"}),
    lambda m, a: (m, {**a, "inputs": np.zeros((2, 5, 6))}),
    lambda m, a: (m, {**a, "raw_maps": np.zeros((3, 2, 2))}),
    lambda m, a: (m, {**a, "targets": np.array([0.5, 1.5])}),
    lambda m, a: (m, {**a, "targets": np.array([0, 9])}),
    lambda m, a: (m, {**a, "maps": np.array([["a"]])}),
    lambda m, a: (m, {**a, "degenerate": np.array(["x"])}),
    lambda m, a: ("{not json", a),
    lambda m, a: ("[1, 2]", a),
    lambda m, a: ({**m, "format": 99}, a),
    lambda m, a: ({**m, "method": 3}, a),
    lambda m, a: ({**m, "seconds": "soon"}, a),
    lambda m, a: ({**m, "parameters": []}, a),
    lambda m, a: ({**m, "info": {"title": "x"}}, a),
    lambda m, a: ({**m, "info": {**INFO.to_dict(), "colour": "red"}}, a),
])
def test_malformed_contents_raise_one_clear_error(tmp_path, damage):
    meta, arrays = damage(*_valid_parts())
    path = tmp_path / "damaged.npz"
    path.write_bytes(_archive(meta, arrays))
    with pytest.raises(ExplanationFileError, match="damaged.npz"):
        Explanation.load(path)


def test_valid_parts_load(tmp_path):
    path = tmp_path / "ok.npz"
    path.write_bytes(_archive(*_valid_parts()))
    assert len(Explanation.load(path)) == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), junk=st.binary(max_size=64))
def test_truncated_or_garbled_files_raise_one_clear_error(tmp_path, cut, junk):
    """Any prefix of a valid file, with or without junk after it, loads or raises
    ExplanationFileError naming the file (never BadZipFile, EOFError, KeyError, ...)."""
    meta, arrays = _valid_parts()
    data = _archive(meta, arrays)
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: cut % (len(data) + 1)] + junk)
    try:
        e = Explanation.load(path)
    except ExplanationFileError as exc:
        assert "cut.npz" in str(exc)
    else:
        assert len(e) == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0, max_value=10_000), value=st.integers(0, 255))
def test_flipped_bytes_raise_one_clear_error(tmp_path, position, value):
    meta, arrays = _valid_parts()
    data = bytearray(_archive(meta, arrays))
    data[position % len(data)] = value
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    try:
        Explanation.load(path)
    except ExplanationFileError as exc:
        assert "flipped.npz" in str(exc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(["format", "method", "layer", "seconds",
                                                            "parameters", "info", "title"]),
                                           inner, max_size=6),
                         max_leaves=12))
def test_arbitrary_metadata_raises_one_clear_error(tmp_path, meta):
    _, arrays = _valid_parts()
    path = tmp_path / "meta.npz"
    path.write_bytes(_archive(json.dumps(meta), arrays))
    try:
        Explanation.load(path)
    except ExplanationFileError as exc:
        assert "meta.npz" in str(exc)


def test_a_zip_that_is_not_an_npz(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.npy", b"not an npy header")
    with pytest.raises(ExplanationFileError, match="other.npz"):
        Explanation.load(path)


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
