"""The explainers benchmark's helpers: its timing on a simulated clock (no real timing), and
the deep Taylor floor it measures against."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_explainers",
                                                  ROOT / "benchmarks" / "explainers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def timings_cls(bench):
    return bench.Timings


class Machine:
    """A clock that functions advance by their cost times the machine's current slowness."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slowness = 1.0

    def clock(self) -> float:
        return self.now

    def costing(self, seconds: float):
        def fn():
            self.now += seconds * self.slowness
        return fn


def test_a_sample_loops_until_min_seconds(timings_cls):
    m = Machine()
    t = timings_cls(min_seconds=0.2, clock=m.clock)
    calls = []
    fast = m.costing(0.03)
    assert t.sample("fast", lambda: (calls.append(1), fast())) == pytest.approx(0.03)
    assert len(calls) == 1 + 7  # one warm-up, then 7 calls reach 0.21 s
    assert t.sample("slow", m.costing(0.5)) == pytest.approx(0.5)  # one call when slower
    assert t.ms_per_image("slow", 10) == pytest.approx(50.0)


def test_paired_ratio_cancels_drift(timings_cls):
    """The machine slows down 3x during the run; the method costs 2.5x the baseline throughout.
    Ratios of alternating samples give 2.5; medians taken apart would not."""
    m = Machine()
    t = timings_cls(min_seconds=0.0, clock=m.clock)
    base, method = m.costing(0.01), m.costing(0.025)
    ratios = []
    for slowness in (1.0, 1.0, 3.0, 3.0, 3.0):
        m.slowness = slowness
        ratios.append(t.pair("forward", base, "method", method, 1))
    assert ratios == pytest.approx([2.5] * 5)
    assert t.ms_per_image("method", 1) / t.ms_per_image("forward", 1) == pytest.approx(2.5)
    # timed apart, before and after the slowdown, the same two functions look 7.5x apart
    m.slowness = 1.0
    t2 = timings_cls(min_seconds=0.0, clock=m.clock)
    t2.measure("forward", base, 3)
    m.slowness = 3.0
    t2.measure("method", method, 3)
    assert t2.ms_per_image("method", 1) / t2.ms_per_image("forward", 1) == pytest.approx(7.5)


def test_zplus_floor_is_three_convolutions_per_layer_and_no_rule_arithmetic(bench):
    """The benchmark's floor for deep Taylor runs the forward pass and two more products per
    Conv2D / Dense layer, and none of the rule's divisions or max-pool gradients."""
    from collections import Counter

    pytest.importorskip("keras")
    from xai_lab import models

    model = models.build("cnn", (16, 16, 1), 3, filters=(4, 8))
    floor = bench.zplus_convolutions(model)
    ops = Counter(n.op for n in floor.get_concrete_function().graph.as_graph_def().node)
    assert ops["Conv2D"] + ops["Conv2DBackpropInput"] == 3 * 4  # 2 blocks x 2 convolutions
    assert ops["MatMul"] == 3 * 2  # hidden Dense and logits
    assert not ops.keys() & {"DivNoNan", "RealDiv", "MaxPoolGrad", "If", "StatelessIf"}
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(floor(x)[0].numpy(), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
