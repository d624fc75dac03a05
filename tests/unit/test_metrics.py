"""Metrics and temperature scaling against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xai_lab.training import calibration
from xai_lab.training import metrics as M


def test_binary_auc_hand_computed():
    # pairs (neg, pos): (0.1,0.35) ok, (0.1,0.8) ok, (0.4,0.35) wrong, (0.4,0.8) ok -> 3/4
    y = [0, 0, 1, 1]
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert M.auc(y, proba) == pytest.approx(0.75)


def test_multiclass_auc_is_macro_one_vs_rest():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.3, 0.2, 0.5]])
    # class 0: positives {0.6}, negatives {0.2, 0.1, 0.3} -> 1
    # class 1: positive 0.5 vs negatives {0.3, 0.6, 0.2} -> 2/3
    # class 2: positives {0.3, 0.5} vs negatives {0.1, 0.3}: (0.3>0.1)=1, (0.3=0.3)=0.5, 1, 1 -> 3.5/4
    assert M.auc(y, p) == pytest.approx((1 + 2 / 3 + 3.5 / 4) / 3)


def test_auc_undefined_is_nan():
    assert math.isnan(M.auc([1, 1, 1], np.array([[0.2, 0.8]] * 3)))


def test_sensitivity_specificity_and_balanced_accuracy():
    sens, spec = M.sensitivity_specificity([1, 1, 1, 0, 0], [1, 0, 1, 0, 1])
    assert sens == pytest.approx(2 / 3) and spec == pytest.approx(1 / 2)
    assert M.balanced_accuracy([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx((2 / 3 + 1) / 2)
    sens, spec = M.sensitivity_specificity([0, 0], [0, 1])
    assert math.isnan(sens) and spec == pytest.approx(0.5)


def test_youden_threshold_separable_case():
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.7, 0.9]
    thr = M.youden_threshold(y, s)
    assert thr == pytest.approx(0.4)
    assert M.sensitivity_specificity(y, M.binary_predictions(s, thr)) == (1.0, 1.0)


def test_qwk_hand_computed():
    # O has (0,0), (1,2), (2,2), (2,1); weights (i-j)^2/4: sum w*O = 0.5;
    # marginals r = c = [1, 1, 2]: sum w * r c^T / N = 1.375 -> kappa = 1 - 0.5/1.375 = 7/11
    assert M.qwk([0, 1, 2, 2], [0, 2, 2, 1]) == pytest.approx(7 / 11)
    assert M.qwk([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)
    assert math.isnan(M.qwk([1, 1], [1, 1]))


def test_expected_calibration_error_hand_computed():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    # all confidences in (0.5, 1]: accuracy 2/4, mean confidence 0.75 -> ECE 0.25
    assert M.expected_calibration_error([0, 1, 0, 1], proba, n_bins=2) == pytest.approx(0.25)
    proba3 = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6], [0.4, 0.35, 0.25]])
    # low bin: one sample, correct, conf 0.4 -> gap 0.6 (weight 1/5); high bin: gap 0.25 (4/5)
    assert M.expected_calibration_error([0, 1, 0, 2, 0], proba3, n_bins=2) == pytest.approx(0.12 + 0.2)


def test_confusion_matrix_and_accuracy():
    cm = M.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 4)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = expected[1, 2] = expected[2, 2] = expected[2, 1] = 1
    np.testing.assert_array_equal(cm, expected)
    assert M.accuracy([0, 1, 2, 2], [0, 2, 2, 1]) == 0.5


def test_summary_per_task():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    s = M.summary(y, p, "binary", threshold=0.3)
    assert s["n"] == 4 and s["acc"] == 0.75 and s["auc"] == pytest.approx(0.75)
    # at threshold 0.3 everything but 0.1 is positive: sens 1, spec 1/2
    assert (s["sensitivity"], s["specificity"], s["acc_at_threshold"]) == (1.0, 0.5, 0.75)
    s = M.summary([0, 1, 2, 2], np.eye(3)[[0, 2, 2, 1]], "ordinal")
    assert s["qwk"] == pytest.approx(7 / 11) and "sensitivity" not in s
    with pytest.raises(ValueError, match="task"):
        M.summary(y, p, "regression")
    assert all(isinstance(v, float) for k, v in s.items() if k not in ("n", "confusion_matrix", "recall_per_class"))
    assert s["recall_per_class"] == [1.0, 0.0, 0.5]  # argmax decisions for ordinal tasks


def test_summary_reports_the_decision_rule_per_class():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    s = M.summary(y, p, "binary", threshold=0.3, label_names=["normal", "pneumonia"])
    # at threshold 0.3: specificity 1/2 (class 0 recall), sensitivity 1 (class 1 recall)
    assert s["recall_per_class"] == [0.5, 1.0] and s["balanced_accuracy_at_threshold"] == 0.75
    assert s["recall_by_class"] == {"normal": 0.5, "pneumonia": 1.0}
    # multi-class: offsets on the log probabilities change the decisions, not acc/AUC
    y3 = np.array([0, 0, 0, 1, 2])
    p3 = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.5, 0.1, 0.4], [0.5, 0.4, 0.1], [0.5, 0.1, 0.4]])
    plain = M.summary(y3, p3, "multiclass")
    assert plain["recall_per_class"] == [1.0, 0.0, 0.0] and "class_offsets" not in plain
    offsets = [0.0, np.log(2.0), np.log(2.0)]  # classes 1 and 2 count twice
    s3 = M.summary(y3, p3, "multiclass", class_offsets=offsets, label_names=["a", "b", "c"])
    # decisions: [0, 0, 2, 1, 2]
    assert s3["recall_per_class"] == [pytest.approx(2 / 3), 1.0, 1.0]
    assert s3["acc_at_threshold"] == 0.8 and s3["acc"] == plain["acc"] == 0.6
    assert s3["balanced_accuracy_at_threshold"] == pytest.approx(8 / 9)
    assert s3["confusion_matrix"][0] == [2, 0, 1] and s3["class_offsets"] == pytest.approx(offsets)
    assert s3["recall_by_class"]["c"] == 1.0
    # a class absent from the labels has an undefined recall
    assert np.isnan(M.recall_per_class([0, 0], [0, 1], 2)[1])
    with pytest.raises(ValueError, match="one value per class"):
        M.summary(y3, p3, "multiclass", class_offsets=[0.0, 1.0])
    with pytest.raises(ValueError, match="label_names"):
        M.summary(y3, p3, "multiclass", label_names=["a", "b"])


def test_prior_correction_balances_a_skewed_prior():
    """Scores that follow the training prior (class 0 frequent) under-call the rare classes at
    the argmax; the fitted logit adjustment restores them (Menon et al. 2021)."""
    rng = np.random.default_rng(0)
    prior = np.array([0.8, 0.15, 0.05])
    n = 4000
    y = rng.choice(3, size=n, p=prior)
    # class-conditional evidence: one Gaussian score per class; posterior with the prior
    z = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[y]
    log_post = z * 1.5 + np.log(prior)
    p = np.exp(log_post - log_post.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    tau, offsets = M.prior_correction(y, p, prior * 1000)  # counts are normalised
    assert 0.5 <= tau <= 1.5
    np.testing.assert_allclose(offsets, -tau * np.log(prior), rtol=1e-9)
    before = M.balanced_accuracy(y, p.argmax(1))
    after = M.balanced_accuracy(y, M.adjusted_predictions(p, offsets))
    assert after > before + 0.05
    # a uniform prior has nothing to correct: equal offsets, the argmax decisions
    _, flat = M.prior_correction(y, p, [1, 1, 1])
    assert np.ptp(flat) == 0.0
    np.testing.assert_array_equal(M.adjusted_predictions(p, flat), p.argmax(1))
    with pytest.raises(ValueError, match="prior"):
        M.prior_correction(y, p, [1, 1])


def test_temperature_scaling_recovers_the_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, size=(20000, 3))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    # logits three times too large: the fitted temperature should be about 3
    t = calibration.fit_temperature(3 * z, y)
    assert t == pytest.approx(3.0, rel=0.05)
    q = calibration.apply_temperature(3 * z, t)
    np.testing.assert_array_equal(q.argmax(1), z.argmax(1))
    assert M.nll(y, q) < M.nll(y, calibration.apply_temperature(3 * z, 1.0))
    with pytest.raises(ValueError):
        calibration.apply_temperature(z, 0.0)
