"""The LSTM, gates fused in the order ``i, f, g, o``, with its fast layer path
(:mod:`rnn_jax.recurrent.fused_lstm`: a hand-derived backward pass and a CPU kernel)."""

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import gated
from rnn_jax.recurrent.cells import LayerPath, register
from rnn_jax.recurrent.fused_lstm import fused_applies, lstm_layer
from rnn_jax.typing import LSTMCarry, Params, PRNGKey


def lstm_init(
    key: PRNGKey, in_dim: int, hidden: int, *, forget_bias: float = 1.0, dtype=jnp.float32
) -> Params:
    """LSTM params: ``wx`` [D, 4H], ``wh`` [H, 4H], ``b`` [4H] (zero except
    ``forget_bias`` on the forget gate's block, as in BasicLSTMCell and haiku)."""
    params = gated.init_weights(key, in_dim, hidden, 4, dtype)
    params["b"] = params["b"].at[hidden : 2 * hidden].set(forget_bias)
    return params


def lstm_recur(params: Params, carry: LSTMCarry, xw: jax.Array) -> tuple[LSTMCarry, jax.Array]:
    """One LSTM step from the projected input ``xw = x_t W_x + b``::

    i, f, g, o = split(xw + h_{t-1} W_h)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)
    """
    h, c = carry
    z = xw + gated.recur_matmul(params, h)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c_new = gated.sigmoid(f) * c + gated.sigmoid(i) * jnp.tanh(g)
    h_new = (gated.sigmoid(o) * jnp.tanh(c_new)).astype(h.dtype)
    return LSTMCarry(h_new, c_new.astype(c.dtype)), h_new


def lstm_init_carry(params: Params, batch_shape: tuple[int, ...]) -> LSTMCarry:
    """Zero ``LSTMCarry``; ``c`` is kept in at least float32 (it accumulates over time)."""
    dtype = params["wh"].dtype
    shape = (*batch_shape, gated.hidden_size(params))
    return LSTMCarry(jnp.zeros(shape, dtype), jnp.zeros(shape, gated.acc_dtype(dtype)))


LSTM = register(
    gated.gated_cell(
        name="lstm",
        about="LSTM, fused layer and CPU kernel",
        init=lstm_init,
        recur=lstm_recur,
        init_carry=lstm_init_carry,
        paths=(LayerPath(name="fused", run=lstm_layer, applies=fused_applies),),
    )
)
