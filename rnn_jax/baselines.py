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
