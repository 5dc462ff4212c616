"""The vanilla RNN, ``h_t = act(x_t W_x + h_{t-1} W_h + b)``, with tanh or relu, and the
IRNN (Le et al. 2015): the relu RNN started at ``W_h = I``, so that at initialisation it
carries its state unchanged and its gradients neither vanish nor explode."""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import gated
from rnn_jax.recurrent.cells import Cell, LayerPath, register
from rnn_jax.recurrent.fused.layer import fused_applies
from rnn_jax.recurrent.fused.rnn import rnn_layer
from rnn_jax.typing import Params, PRNGKey


def rnn_init(key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32) -> Params:
    """Vanilla RNN params: ``wx`` [D, H], ``wh`` [H, H], ``b`` [H]."""
    return gated.init_weights(key, in_dim, hidden, 1, dtype)


def irnn_init(
    key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32, input_std: float = 1e-3
) -> Params:
    """IRNN params (Le et al. 2015): ``wh = I``, ``wx ~ N(0, input_std^2)``, ``b = 0``."""
    wx = input_std * jax.random.normal(key, (in_dim, hidden), jnp.float32)
    return {
        "wx": wx.astype(dtype),
        "wh": jnp.eye(hidden, dtype=dtype),
        "b": jnp.zeros((hidden,), dtype),
    }


def rnn_recur(
    params: Params, h: jax.Array, xw: jax.Array, *, activation: Callable = jnp.tanh
) -> tuple[jax.Array, jax.Array]:
    """``h_t = act(x_t W_x + h_{t-1} W_h + b)``; the carry and the output are ``h_t``."""
    h_new = activation(xw + gated.recur_matmul(params, h)).astype(h.dtype)
    return h_new, h_new


def rnn_jacobian_diagonal(
    params: Params, h: jax.Array, xw: jax.Array, *, activation: Callable = jnp.tanh
) -> jax.Array:
    """``d h_t / d h_{t-1}``'s diagonal: ``act'(x_t W_x + h_{t-1} W_h + b) * diag(W_h)``."""
    pre = xw + gated.recur_matmul(params, h)
    _, slope = jax.jvp(activation, (pre,), (jnp.ones_like(pre),))  # elementwise: act'(pre)
    return (slope * gated.recurrent_diagonal(params, 0, pre)).astype(h.dtype)


def _vanilla(name: str, about: str, init: Callable[..., Params], relu: bool) -> Cell:
    """Register a vanilla RNN cell with this init and activation (relu, else tanh), and its
    fused layer path (:mod:`rnn_jax.recurrent.fused.rnn`)."""
    activation = jax.nn.relu if relu else jnp.tanh
    fused = LayerPath(name="fused", run=partial(rnn_layer, relu=relu), applies=fused_applies)
    return register(
        gated.gated_cell(
            name=name,
            about=about,
            init=init,
            recur=partial(rnn_recur, activation=activation),
            paths=(fused,),
            jacobian_diagonal=partial(rnn_jacobian_diagonal, activation=activation),
        )
    )


RNN_TANH = _vanilla("rnn", "tanh RNN", rnn_init, relu=False)
RNN_RELU = _vanilla("rnn_relu", "relu RNN, the classic", rnn_init, relu=True)
IRNN = _vanilla("irnn", "relu RNN started at the identity (Le et al. 2015)", irnn_init, relu=True)
