"""evaluation.detection: ROC-AUC, thresholds, alarms, the rate check, a fault found in a signal."""

import numpy as np
import pytest

from rnn_jax.data import signals
from rnn_jax.evaluation import baselines, detection


def test_roc_auc_is_the_chance_a_positive_outscores_a_negative():
    rng = np.random.default_rng(0)
    neg, pos = rng.normal(size=40), rng.normal(0.7, size=30)
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert detection.roc_auc(neg, pos) == pytest.approx(pairs)
    assert detection.roc_auc([0, 1], [2, 3]) == 1.0
    assert detection.roc_auc([2, 3], [0, 1]) == 0.0
    assert detection.roc_auc([1, 1], [1, 1]) == 0.5  # ties count half
    with pytest.raises(ValueError, match="at least one negative"):
        detection.roc_auc([], [1.0])


def test_threshold_and_first_alarm():
    healthy = np.arange(1, 101, dtype=float)  # 1 .. 100
    threshold = detection.alarm_threshold(healthy, 0.01)
    assert np.mean(healthy > threshold) == 0.01
    assert detection.first_alarm([1.0, 5.0, 200.0, 300.0], threshold) == 2
    assert detection.first_alarm([1.0, 5.0], threshold) is None
    with pytest.raises(ValueError, match="false_alarm_rate"):
        detection.alarm_threshold(healthy, 1.5)


def test_the_rate_check_resamples_only_when_asked():
    t = np.arange(48_000) / 48_000
    tone = np.sin(2 * np.pi * 50 * t).astype(np.float32)  # 50 Hz, well below both Nyquists
    same = detection.match_rate(tone, 48_000, 48_000, resample=False, name="x.npy")
    assert same is tone
    with pytest.raises(signals.SignalError, match="x.npy is sampled at 48000 Hz but the model"):
        detection.match_rate(tone, 48_000, 12_000, resample=False, name="x.npy")
    down = detection.match_rate(tone, 48_000, 12_000, resample=True, name="x.npy")
    want = np.sin(2 * np.pi * 50 * np.arange(12_000) / 12_000)
    assert down.shape == (12_000,) and down.dtype == np.float32
    np.testing.assert_allclose(down[100:-100], want[100:-100], atol=1e-2)


def test_an_injected_fault_is_found_by_forecast_error_and_not_before_it():
    """A linear AR forecaster of a healthy synthetic machine; from sample 12,000 of another
    recording on, its defect impacts get three times stronger."""
    steps, features, stride = 4, 25, 25
    machine = signals.Machine(impulse=0.0)  # healthy: shaft harmonics and noise only
    healthy = signals.synthetic_vibration(30_000, machine, seed=0)
    mean, std = healthy[:18_000].mean(), healthy[:18_000].std()
    z = (healthy - mean) / std
    train, val, test = (
        signals.windows(part, steps, features, stride)
        for part in (z[:18_000], z[18_000:24_000], z[24_000:])
    )
    ar = baselines.LinearAR(1e-3).fit(train[0].reshape(len(train[0]), -1), train[1])
    predict = lambda x: ar.predict(x.reshape(len(x), -1))  # noqa: E731

    onset = 12_000
    later = signals.synthetic_vibration(24_000, machine, seed=1)
    faulty = signals.synthetic_vibration(24_000, signals.Machine(impulse=0.3), seed=1)
    later[onset:] = faulty[onset:]
    x, y = signals.windows((later - mean) / std, steps, features, stride)
    table, scores = detection.evaluate({"ar": predict}, val, test, {"faulty": (x, y)})

    row, faulty = table["ar"], scores["ar"]["faulty"]
    threshold, split = row["threshold"], (onset - (steps + 1) * features) // stride
    assert row["healthy_test_false_alarms"] <= 0.03
    assert np.mean(faulty[: split + 1] > threshold) <= 0.03  # windows before the onset
    assert detection.first_alarm(faulty[split + 1 :], threshold) <= 1  # the alarm is quick
    # Against the healthy test windows, the faulty part's windows score higher; the
    # healthy part's do not.
    healthy_test = scores["ar"]["healthy test"]
    assert detection.roc_auc(healthy_test, faulty[split + 1 :]) > 0.95
    assert 0.3 < detection.roc_auc(healthy_test, faulty[: split + 1]) < 0.7
    assert row["recordings"]["faulty"]["roc_auc"] == detection.roc_auc(healthy_test, faulty)
