"""Fault detection from forecast errors: scores, an alarm threshold, ROC-AUC and delay.

A forecaster trained on a healthy machine predicts a healthy signal well; a
window it predicts badly is a sign that something changed. Each window's
score is its forecast MSE divided by the mean on healthy validation windows,
so a score of 1 is "as predictable as healthy data".
"""

from collections.abc import Callable
from fractions import Fraction

import numpy as np
from scipy import signal as scipy_signal
from scipy import stats

from rnn_jax.data import signals
from rnn_jax.training import batching


def window_errors(
    predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray, size: int = 1024
) -> np.ndarray:
    """Each window's forecast MSE ``[N]``: ``predict`` maps ``x [n, S, F]`` to ``[n, F]``,
    called on chunks of ``size`` windows."""
    pred = batching.in_chunks(predict, x, size)
    return np.mean((pred - y) ** 2, axis=-1)


def alarm_threshold(healthy_scores: np.ndarray, false_alarm_rate: float = 0.01) -> float:
    """The score that ``false_alarm_rate`` of healthy windows exceed."""
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    return float(np.quantile(healthy_scores, 1 - false_alarm_rate))


def roc_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of scores that should be higher for ``positives``: the
    chance that a random positive outscores a random negative (ties count half), from the
    Mann-Whitney U statistic."""
    if len(negatives) == 0 or len(positives) == 0:
        raise ValueError("roc_auc needs at least one negative and one positive score")
    u = stats.mannwhitneyu(positives, negatives, alternative="greater").statistic
    return float(u / (len(positives) * len(negatives)))


def first_alarm(scores: np.ndarray, threshold: float) -> int | None:
    """Index of the first score above ``threshold``; ``None`` if there is none."""
    above = np.flatnonzero(np.asarray(scores) > threshold)
    return int(above[0]) if above.size else None


def match_rate(signal: np.ndarray, rate: float, want: float, *, resample: bool, name: str):
    """``signal`` at the rate ``want`` (Hz): unchanged when it already is, resampled with
    :func:`scipy.signal.resample_poly` when ``resample`` allows, else a clear error."""
    if rate == want:
        return signal
    if not resample:
        raise signals.SignalError(
            f"{name} is sampled at {rate:g} Hz but the model at {want:g} Hz; pass --resample "
            f"to resample it to {want:g} Hz, or give a recording at {want:g} Hz"
        )
    ratio = (Fraction(want) / Fraction(rate)).limit_denominator(10_000)
    return scipy_signal.resample_poly(signal, ratio.numerator, ratio.denominator).astype(np.float32)


def evaluate(
    predictors: dict[str, Callable[[np.ndarray], np.ndarray]],
    healthy_val: tuple[np.ndarray, np.ndarray],
    healthy_test: tuple[np.ndarray, np.ndarray],
    recordings: dict[str, tuple[np.ndarray, np.ndarray]],
    false_alarm_rate: float = 0.01,
) -> tuple[dict, dict]:
    """Score every recording's windows ``(x, y)`` with each predictor.

    Per predictor: the alarm threshold set on the healthy validation windows, the
    fraction of healthy test windows above it, and per recording the ROC-AUC of its
    windows against the healthy test windows and the first window above the threshold.
    Returns ``(table, scores)``: the figures, and the score arrays (``"healthy test"``
    and each recording's) per predictor, for plots.
    """
    table, scores = {}, {}
    for name, predict in predictors.items():
        val = window_errors(predict, *healthy_val)
        scale = float(val.mean())
        threshold = alarm_threshold(val / scale, false_alarm_rate)
        negatives = window_errors(predict, *healthy_test) / scale
        scores[name] = {"healthy test": negatives}
        rows = {}
        for rec, (x, y) in recordings.items():
            positives = window_errors(predict, x, y) / scale
            scores[name][rec] = positives
            rows[rec] = {
                "roc_auc": roc_auc(negatives, positives),
                "first_alarm": first_alarm(positives, threshold),
            }
        table[name] = {
            "healthy_val_mse": scale,
            "threshold": threshold,
            "healthy_test_false_alarms": float(np.mean(negatives > threshold)),
            "recordings": rows,
        }
    return table, scores
