"""Dense layers on plain param dicts: linear, MLP, and inverted dropout."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from rnn_jax.typing import Params, PRNGKey


def linear_init(key: PRNGKey, in_dim: int, out_dim: int, *, dtype=jnp.float32) -> Params:
    """Dense layer params: lecun-normal ``w`` [in, out], zero ``b`` [out]."""
    w = jax.nn.initializers.lecun_normal()(key, (in_dim, out_dim), dtype)
    return {"w": w, "b": jnp.zeros((out_dim,), dtype)}


def linear_apply(params: Params, x: jax.Array) -> jax.Array:
    """``x @ w + b`` over the last axis (any leading axes: batch, time, ...)."""
    y = x @ params["w"]
    return y + jnp.broadcast_to(params["b"], y.shape)


def mlp_init(key: PRNGKey, sizes: Sequence[int], *, dtype=jnp.float32) -> list[Params]:
    """An MLP ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` as a list of linear layers."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [linear_init(k, a, b, dtype=dtype) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(params: list[Params], x: jax.Array) -> jax.Array:
    """Linear layers with relu between them (none after the last)."""
    for layer in params[:-1]:
        x = jax.nn.relu(linear_apply(layer, x))
    return linear_apply(params[-1], x)


def dropout_apply(key: PRNGKey, x: jax.Array, rate: float) -> jax.Array:
    """Inverted dropout: zero a ``rate`` fraction of ``x``, scale the rest by ``1/(1-rate)``."""
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)
