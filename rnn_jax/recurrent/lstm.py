"""The LSTM, gates fused in the order ``i, f, g, o``, with its fast layer paths: cuDNN on
NVIDIA GPUs (:mod:`rnn_jax.recurrent.fused.cudnn`), else a hand-derived backward pass and
a CPU kernel (:mod:`rnn_jax.recurrent.fused.lstm`)."""

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import gated
from rnn_jax.recurrent.cells import LayerPath, register
from rnn_jax.recurrent.fused.cudnn import cudnn_applies, cudnn_lstm_layer
from rnn_jax.recurrent.fused.layer import fused_applies
from rnn_jax.recurrent.fused.lstm import lstm_layer
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


def lstm_jacobian_diagonal(params: Params, carry: LSTMCarry, xw: jax.Array) -> LSTMCarry:
    """The diagonal of ``d (h_t, c_t) / d (h_{t-1}, c_{t-1})``: ``d c_t / d c_{t-1} = f``, and
    ``d h_t / d h_{t-1}`` through the four gates' own-unit weights ``W_*[i, i]``::

        d c_i = c_i f_i' + g_i i_i' + i_i g_i'       (d c_t / d h_{t-1}, diagonal)
        d h_i = o_i' tanh(c_t,i) + o_i (1 - tanh^2(c_t,i)) d c_i
    """
    h, c = carry
    z = xw + gated.recur_matmul(params, h)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    si, sf, tg, so = gated.sigmoid(i), gated.sigmoid(f), jnp.tanh(g), gated.sigmoid(o)
    own = [gated.recurrent_diagonal(params, gate, z[..., : h.shape[-1]]) for gate in range(4)]
    tc = jnp.tanh(sf * c + si * tg)
    dc = c * sf * (1 - sf) * own[1] + tg * si * (1 - si) * own[0] + si * (1 - tg * tg) * own[2]
    dh = so * (1 - so) * own[3] * tc + so * (1 - tc * tc) * dc
    return LSTMCarry(dh.astype(h.dtype), sf.astype(c.dtype))


def lstm_init_carry(params: Params, batch_shape: tuple[int, ...]) -> LSTMCarry:
    """Zero ``LSTMCarry``; ``c`` is kept in at least float32 (it accumulates over time)."""
    dtype = params["wh"].dtype
    shape = (*batch_shape, gated.hidden_size(params))
    return LSTMCarry(jnp.zeros(shape, dtype), jnp.zeros(shape, gated.acc_dtype(dtype)))


LSTM = register(
    gated.gated_cell(
        name="lstm",
        about="LSTM, fused layer, CPU kernel and cuDNN",
        init=lstm_init,
        recur=lstm_recur,
        init_carry=lstm_init_carry,
        paths=(
            LayerPath(name="cudnn", run=cudnn_lstm_layer, applies=cudnn_applies),
            LayerPath(name="fused", run=lstm_layer, applies=fused_applies),
        ),
        jacobian_diagonal=lstm_jacobian_diagonal,
    )
)
