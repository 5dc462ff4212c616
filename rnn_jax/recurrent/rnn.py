"""The vanilla RNN, ``h_t = act(x_t W_x + h_{t-1} W_h + b)``, with tanh or relu."""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import gated
from rnn_jax.recurrent.cells import Cell, register, split_step
from rnn_jax.typing import Params, PRNGKey


def rnn_init(key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32) -> Params:
    """Vanilla RNN params: ``wx`` [D, H], ``wh`` [H, H], ``b`` [H]."""
    return gated.init_weights(key, in_dim, hidden, 1, dtype)


def rnn_recur(
    params: Params, h: jax.Array, xw: jax.Array, *, activation: Callable = jnp.tanh
) -> tuple[jax.Array, jax.Array]:
    """``h_t = act(x_t W_x + h_{t-1} W_h + b)``; the carry and the output are ``h_t``."""
    h_new = activation(xw + gated.recur_matmul(params, h)).astype(h.dtype)
    return h_new, h_new


def _rnn(name: str, about: str, activation: Callable) -> Cell:
    recur = partial(rnn_recur, activation=activation)
    return Cell(
        name=name,
        about=about,
        init=rnn_init,
        init_carry=gated.zero_hidden,
        step=split_step(gated.project, recur),
        input_size=gated.input_size,
        project=gated.project,
        recur=recur,
    )


RNN_TANH = register(_rnn("rnn", "tanh RNN", jnp.tanh))
RNN_RELU = register(_rnn("rnn_relu", "relu RNN, the classic", jax.nn.relu))
