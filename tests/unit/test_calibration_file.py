"""calibration.json: every file is either used with sound values or refused naming file and field.

Property-based (hypothesis): arbitrary JSON objects, values of every JSON type, non-finite
numbers, huge integers, arbitrary bytes. No other exception than CalibrationFileError escapes,
and whatever is accepted has a positive finite temperature and a threshold in [0, 1] or None.
"""

from __future__ import annotations

import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from xai_lab.training.recipes import (  # noqa: E402
    TASKS,
    CalibrationFileError,
    check_calibration,
    read_calibration,
)

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)
numbers = st.one_of(st.integers(min_value=-(10**400), max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True))
calibrations = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.one_of(numbers, json_values),
        "threshold": st.one_of(numbers, json_values),
        "task": st.one_of(st.sampled_from(TASKS), json_values),
        "n_classes": json_values,
    },
)


def _write(tmp_path, text: str | bytes):
    path = tmp_path / "calibration.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _sound(cal: dict) -> None:
    t = cal["temperature"]
    assert isinstance(t, float) and math.isfinite(t) and t > 0
    th = cal["threshold"]
    assert th is None or (isinstance(th, float) and 0.0 <= th <= 1.0)
    assert cal.get("task") is None or cal["task"] in TASKS


@SETTINGS
@given(cal=calibrations)
def test_any_calibration_object_is_used_soundly_or_refused_by_field(tmp_path, cal):
    path = _write(tmp_path, json.dumps(cal))  # json writes NaN / Infinity, as Python would
    try:
        checked = read_calibration(path)
    except CalibrationFileError as exc:
        message = str(exc)
        assert str(path) in message
        assert any(f"'{field}'" in message for field in ("temperature", "threshold", "task"))
        return
    _sound(checked)
    if "temperature" not in cal:
        assert checked["temperature"] == 1.0


@SETTINGS
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_are_refused_with_the_file_name(tmp_path, data):
    path = _write(tmp_path, data)
    try:
        checked = read_calibration(path)
    except CalibrationFileError as exc:
        assert str(path) in str(exc)
    else:
        _sound(checked)


@SETTINGS
@given(value=json_values.filter(lambda v: not isinstance(v, dict)))
def test_json_that_is_not_an_object_is_refused(tmp_path, value):
    path = _write(tmp_path, json.dumps(value))
    with pytest.raises(CalibrationFileError, match="not an object"):
        read_calibration(path)


@pytest.mark.parametrize("temperature", [-1.5, 0, 0.0, "1.2", None, True, [1.0], float("nan"),
                                         float("inf"), 10**400])
def test_bad_temperatures_are_named(temperature):
    with pytest.raises(CalibrationFileError, match="'temperature'"):
        check_calibration({"temperature": temperature}, source="run/calibration.json")


@pytest.mark.parametrize("threshold", [-0.01, 1.01, "0.5", True, float("nan"), float("inf")])
def test_bad_thresholds_are_named(threshold):
    with pytest.raises(CalibrationFileError, match="'threshold'.*in \\[0, 1\\]"):
        check_calibration({"temperature": 1.0, "threshold": threshold})


def test_what_train_writes_is_accepted(tmp_path):
    cal = {"temperature": 1.37, "threshold": 0.42, "fitted_on": "val", "task": "binary",
           "n_classes": 2, "label_names": ["normal", "pneumonia"]}
    checked = read_calibration(_write(tmp_path, json.dumps(cal)))
    assert checked == {**cal, "temperature": 1.37, "threshold": 0.42}
    multiclass = read_calibration(_write(tmp_path, json.dumps({"temperature": 2, "threshold": None})))
    assert multiclass["temperature"] == 2.0 and multiclass["threshold"] is None


def test_malformed_json_is_not_called_missing(tmp_path):
    path = _write(tmp_path, '{"temperature": 1.2,')
    with pytest.raises(CalibrationFileError, match="not valid JSON") as info:
        read_calibration(path)
    assert not isinstance(info.value, FileNotFoundError)
    with pytest.raises(CalibrationFileError, match="does not exist"):
        read_calibration(tmp_path / "missing.json")
