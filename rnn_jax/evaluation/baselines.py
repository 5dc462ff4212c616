"""Non-neural baselines that a model's figures are measured against."""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.data import scenes


@partial(jax.jit, static_argnames="k")
def _nearest(train_keys: jax.Array, sq_norms: jax.Array, queries: jax.Array, k: int = 10):
    # |q - t|^2 = |q|^2 - 2 q.t + |t|^2; |q|^2 is constant per query, so it is left out.
    d = sq_norms[None, :] - 2.0 * queries @ train_keys.T
    return jax.lax.top_k(-d, k)[1]


def knn_indices(
    train_keys: np.ndarray, queries: np.ndarray, k: int, chunk: int = 500
) -> np.ndarray:
    """Indices ``[Q, k]`` of the ``k`` nearest training keys (Euclidean) of each query.

    Computed in chunks of queries with one matmul each, so 10k x 60k fits in memory.
    """
    train = jnp.asarray(train_keys, jnp.float32).reshape(len(train_keys), -1)
    sq = jnp.sum(train * train, axis=1)
    q = np.asarray(queries, np.float32).reshape(len(queries), -1)
    out = [
        np.asarray(_nearest(train, sq, jnp.asarray(q[i : i + chunk]), k))
        for i in range(0, len(q), chunk)
    ]
    return np.concatenate(out)


def completion_baselines(
    train_nrc: np.ndarray, test_nrc: np.ndarray, given: int
) -> dict[str, np.ndarray]:
    """The rows after the first ``given`` of each test image ``[N, R, C]`` (floats), predicted
    four ways from the training images: their mean, the last given row repeated, the nearest
    training image's (by the given rows), and the mean of the 10 nearest."""
    nn = knn_indices(train_nrc[:, :given], test_nrc[:, :given], k=10)
    rest = test_nrc[:, given:].shape
    return {
        "(a) mean training bottom half": np.broadcast_to(train_nrc[:, given:].mean(0), rest),
        "(b) repeat last given row": np.repeat(test_nrc[:, given - 1 : given], rest[1], axis=1),
        "(c) nearest training image (top half)": train_nrc[nn[:, 0], given:],
        "(d) mean of 10 nearest": train_nrc[nn, given:].mean(1),
    }


def masked_neighbours(
    train_nhw: np.ndarray, test_nhw: np.ndarray, given: np.ndarray, k: int = 10
) -> np.ndarray:
    """Each test image guessed as the mean of the ``k`` training images nearest to it on
    the pixels ``given [H, W]`` marks (one mask for all; floats): ``[N, H, W]``."""
    nn = knn_indices(train_nhw[:, given], test_nhw[:, given], k)
    return train_nhw[nn].mean(1)


def bernoulli_nats(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``-log p(targets)`` in nats per example ``[N]`` when ``probs`` (a guess, clipped to
    [1e-6, 1 - 1e-6]) are read as independent Bernoulli pixels: the summed binary
    cross-entropy over each example's other axes (targets in [0, 1])."""
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    bce = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    return bce.reshape(len(bce), -1).sum(1)


# --- forecasting ----------------------------------------------------------------


def persistence(x_nl: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat each input's last value ``horizon`` times: ``[N, L] -> [N, horizon]``."""
    return np.repeat(x_nl[:, -1:], horizon, axis=1)


def seasonal_naive(x_nl: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Repeat each input's last ``period`` samples: ``y[j] = x[L - period + (j mod period)]``."""
    if not 0 < period <= x_nl.shape[1]:
        raise ValueError(f"period {period} must be in [1, {x_nl.shape[1]}] (the input length)")
    idx = x_nl.shape[1] - period + np.arange(horizon) % period
    return x_nl[:, idx]


def estimate_period(signal: np.ndarray, min_lag: int, max_lag: int) -> int:
    """The lag in ``[min_lag, max_lag]`` of highest autocorrelation (FFT-based)."""
    x = signal - signal.mean()
    n = 1 << int(np.ceil(np.log2(2 * len(x))))
    spec = np.fft.rfft(x, n)
    acf = np.fft.irfft(spec * np.conj(spec), n)[: max_lag + 1]
    return int(min_lag + np.argmax(acf[min_lag : max_lag + 1]))


def normal_equations(x_nl: np.ndarray, y_nh: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(A^T A, A^T y, N)`` for ``A = [x, 1]``, in float64: least squares' sufficient
    statistics."""
    a = np.concatenate([x_nl, np.ones((len(x_nl), 1))], axis=1).astype(np.float64)
    return a.T @ a, a.T @ y_nh.astype(np.float64), len(a)


def window_normal_equations(
    signal: np.ndarray, length: int, horizon: int, stride: int = 1, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`normal_equations` of every window of ``signal`` (``x = s[i : i + length]``,
    ``y`` the next ``horizon`` samples, ``i`` a multiple of ``stride``), summed over chunks
    of windows so that they are never all in memory at once."""
    view = np.lib.stride_tricks.sliding_window_view(signal, length + horizon)[::stride]
    gram, rhs = np.zeros((length + 1, length + 1)), np.zeros((length + 1, horizon))
    for i in range(0, len(view), chunk):
        g, r, _ = normal_equations(view[i : i + chunk, :length], view[i : i + chunk, length:])
        gram += g
        rhs += r
    return gram, rhs, len(view)


class LinearAR:
    """A linear autoregressive forecaster ``y = [x, 1] W``, fitted by (ridge) least squares."""

    def __init__(self, ridge: float = 0.0):
        self.ridge, self.w = ridge, None

    def fit(self, x_nl: np.ndarray, y_nh: np.ndarray) -> "LinearAR":
        return self.fit_normal(normal_equations(x_nl, y_nh))

    def fit_normal(self, normal: tuple[np.ndarray, np.ndarray, int]) -> "LinearAR":
        """Fit from :func:`normal_equations` (computed once for several ridges)."""
        gram, rhs, n = normal
        self.w = np.linalg.solve(gram + self.ridge * n * np.eye(len(gram)), rhs)
        return self

    def predict(self, x_nl: np.ndarray) -> np.ndarray:
        return (x_nl @ self.w[:-1] + self.w[-1]).astype(np.float32)


# Ridges tried for the AR baseline (times N). The long windows (2,500 weights per output)
# overfit below 1e-2 when fitted on every fifth window only.
RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def fit_linear_ar(
    normal: tuple[np.ndarray, np.ndarray, int], val_x: np.ndarray, val_y: np.ndarray
) -> LinearAR:
    """The ridge linear AR model (``x [N, L] -> y [N, H]``) fitted from the training
    windows' :func:`normal_equations` whose ridge, of :data:`RIDGES`, gives the lowest
    validation MSE."""
    fits = [LinearAR(ridge).fit_normal(normal) for ridge in RIDGES]
    return min(fits, key=lambda m: float(np.mean((m.predict(val_x) - val_y) ** 2)))


def forecasters(
    train_signal: np.ndarray, length: int, horizon: int, ars: dict[str, LinearAR]
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Persistence, seasonal naive and fitted linear AR models (named ``ars``) as predictors
    ``x [N, length] -> [N, horizon]``; the period comes from the training signal's
    autocorrelation."""
    period = estimate_period(train_signal, min_lag=horizon // 2, max_lag=length)
    return {
        "persistence": lambda x: persistence(x, horizon),
        f"seasonal naive (period {period})": lambda x: seasonal_naive(x, horizon, period),
        **{f"{name} (ridge {ar.ridge:g})": ar.predict for name, ar in ars.items()},
    }


def recursive(
    predict: Callable[[np.ndarray], np.ndarray], window: np.ndarray, n: int
) -> np.ndarray:
    """``n`` recursive forecasts of a numpy predictor ``[B, L] -> [B, H]`` from windows
    ``[B, S, H]`` (``L = S * H``): each forecast slides in as the newest step."""
    out = []
    for _ in range(n):
        pred = predict(window.reshape(len(window), -1))
        out.append(pred)
        window = np.concatenate([window[:, 1:], pred[:, None]], axis=1)
    return np.stack(out, axis=1)


def classify_segments(
    classify: Callable[[np.ndarray], np.ndarray], strings: scenes.Strings, pool: np.ndarray
) -> dict[str, list[list[int]]]:
    """Each digit of ``strings`` read by a digit classifier (``images [N, 28, 28] ->
    labels [N]``), as a pipeline that segments first would, given a perfect segmentation:
    the 28 x 28 crop at the digit's true position (its neighbours' strokes included), and
    the digit alone (its own image from ``pool``, as if segmentation also undid the
    overlaps). Returns the labels of each string for both."""
    crops, _ = scenes.crops(strings)
    alone = pool[strings.sources[strings.labels >= 0]]
    ends = np.cumsum(strings.lengths)[:-1]
    return {
        name: [row.tolist() for row in np.split(classify(images), ends)]
        for name, images in (("crop", crops), ("alone", alone))
    }
