"""Non-neural baselines that a model's figures are measured against."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


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


class LinearAR:
    """A linear autoregressive forecaster ``y = [x, 1] W``, fitted by (ridge) least squares."""

    def __init__(self, ridge: float = 0.0):
        self.ridge, self.w = ridge, None

    def fit(self, x_nl: np.ndarray, y_nh: np.ndarray) -> "LinearAR":
        a = np.concatenate([x_nl, np.ones((len(x_nl), 1))], axis=1).astype(np.float64)
        gram = a.T @ a + self.ridge * len(a) * np.eye(a.shape[1])
        self.w = np.linalg.solve(gram, a.T @ y_nh.astype(np.float64))
        return self

    def predict(self, x_nl: np.ndarray) -> np.ndarray:
        return (x_nl @ self.w[:-1] + self.w[-1]).astype(np.float32)
