"""Recurrent cells as pure functions: vanilla RNN, LSTM and GRU.

Every cell is a :class:`Cell`, a bundle of four pure functions over an explicit
parameter dict. A step is split in two so that the carry-independent half can
run for all time steps in one matmul (see :func:`rnn_jax.scan.unroll`)::

    xw_t          = project(params, x_t)            # x_t @ wx + b, [..., G*H]
    carry, h_t    = recur(params, carry, xw_t)      # one fused recurrent matmul
    step(params, carry, x_t) == recur(params, carry, project(params, x_t))

Cells are rank-polymorphic: every leading dimension of ``x_t`` is batch. Gate
arithmetic accumulates in at least float32 (bfloat16 params and inputs stay
bfloat16 in memory; the LSTM cell state ``c`` is kept in float32).
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax.errors import ConfigError
from rnn_jax.lstm.fused import lstm_scan
from rnn_jax.typing import Carry, Hidden, LSTMCarry, Params, PRNGKey, Step


class Cell(NamedTuple):
    """A recurrent cell as pure functions (in the spirit of ``stax``).

    Attributes:
      name: registry name (``get_cell(name)`` returns this cell).
      gates: number of H-wide blocks in ``wx`` (1 RNN, 3 GRU, 4 LSTM).
      init: ``(key, in_dim, hidden, *, dtype) -> params``.
      project: ``(params, x[..., D]) -> xw[..., G*H]``, the input half of a step.
      recur: ``(params, carry, xw_t) -> (carry, h_t)``, the recurrent half.
      init_carry: ``(batch_shape, hidden, dtype) -> carry`` of zeros.
      fused: optional ``(params, carry, xs [T, B, D], unroll) -> (carry, ys [T, B, H])``,
        the cell's own faster layer over time (same values as scanning ``recur``),
        which :func:`rnn_jax.scan.unroll` uses where it applies: no ``seq_lengths``,
        float32 or float64 throughout.
    """

    name: str
    gates: int
    init: Callable[..., Params]
    project: Callable[[Params, jax.Array], jax.Array]
    recur: Callable[[Params, Carry, jax.Array], tuple[Carry, Hidden]]
    init_carry: Callable[..., Carry]
    fused: Callable[..., tuple[Carry, jax.Array]] | None = None

    def step(self, params: Params, carry: Carry, x_t: Step) -> tuple[Carry, Hidden]:
        """One time step ``(carry, x_t) -> (carry, h_t)``: the ``lax.scan`` body."""
        return self.recur(params, carry, self.project(params, x_t))


def in_features(params: Params) -> int:
    """Input size D of a cell's params."""
    return params["wx"].shape[0]


def hidden_size(params: Params) -> int:
    """Hidden size H of a cell's params."""
    return params["wh"].shape[0]


def _acc(dtype) -> jnp.dtype:
    """Accumulation dtype: float32 for low precision, else the dtype itself."""
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def sigmoid(x: jax.Array) -> jax.Array:
    """Logistic sigmoid via tanh: one transcendental, faster on CPU than ``1/(1+e^-x)``."""
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _init_weights(key: PRNGKey, in_dim: int, hidden: int, gates: int, dtype) -> Params:
    """Lecun-normal ``wx`` [D, G*H], per-gate orthogonal ``wh`` [H, G*H], zero ``b``."""
    kx, kh = jax.random.split(key)
    # Drawn in float32 (LAPACK has no bfloat16 QR), then cast.
    wx = jax.nn.initializers.lecun_normal()(kx, (in_dim, gates * hidden), jnp.float32)
    ortho = jax.nn.initializers.orthogonal()
    wh = jnp.concatenate(
        [ortho(k, (hidden, hidden), jnp.float32) for k in jax.random.split(kh, gates)], axis=1
    )
    return {
        "wx": wx.astype(dtype),
        "wh": wh.astype(dtype),
        "b": jnp.zeros((gates * hidden,), dtype),
    }


def project(params: Params, x: jax.Array) -> jax.Array:
    """Input half of any cell: ``x @ wx + b`` in the accumulation dtype.

    Raises:
      ValueError: if the last axis of ``x`` is not the cell's input size.
    """
    d = in_features(params)
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(
            f"input has shape {tuple(x.shape)} but the cell expects {d} features on the last "
            f"axis (params['wx'] is {tuple(params['wx'].shape)}); reshape the input to "
            f"[..., {d}] or build the cell with in_dim={x.shape[-1] if x.ndim else 1}"
        )
    acc = _acc(params["wx"].dtype)
    xw = jnp.dot(x, params["wx"], preferred_element_type=acc)
    return xw + jnp.broadcast_to(params["b"].astype(acc), xw.shape)


def _recur_matmul(params: Params, h: jax.Array) -> jax.Array:
    acc = _acc(params["wh"].dtype)
    return jnp.dot(h.astype(params["wh"].dtype), params["wh"], preferred_element_type=acc)


# --- vanilla RNN -------------------------------------------------------------


def rnn_init(key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32) -> Params:
    """Vanilla RNN params: ``wx`` [D, H], ``wh`` [H, H], ``b`` [H]."""
    return _init_weights(key, in_dim, hidden, 1, dtype)


def rnn_recur(
    params: Params, h: jax.Array, xw: jax.Array, *, activation: Callable = jnp.tanh
) -> tuple[jax.Array, jax.Array]:
    """``h_t = act(x_t W_x + h_{t-1} W_h + b)``; the carry and the output are ``h_t``."""
    h_new = activation(xw + _recur_matmul(params, h)).astype(h.dtype)
    return h_new, h_new


def hidden_init_carry(batch_shape: tuple[int, ...], hidden: int, dtype=jnp.float32) -> jax.Array:
    """Zero hidden state ``[*batch_shape, H]`` (RNN and GRU carry)."""
    return jnp.zeros((*batch_shape, hidden), dtype)


# --- LSTM ----------------------------------------------------------------------


def lstm_init(
    key: PRNGKey, in_dim: int, hidden: int, *, forget_bias: float = 1.0, dtype=jnp.float32
) -> Params:
    """LSTM params with gates fused in the order ``i, f, g, o``.

    ``wx`` [D, 4H], ``wh`` [H, 4H], ``b`` [4H] (zero except ``forget_bias`` on the
    forget gate's block, as in BasicLSTMCell and haiku).
    """
    params = _init_weights(key, in_dim, hidden, 4, dtype)
    params["b"] = params["b"].at[hidden : 2 * hidden].set(forget_bias)
    return params


def lstm_recur(params: Params, carry: LSTMCarry, xw: jax.Array) -> tuple[LSTMCarry, jax.Array]:
    """One LSTM step from the projected input ``xw = x_t W_x + b``::

    i, f, g, o = split(xw + h_{t-1} W_h)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)
    """
    h, c = carry
    z = xw + _recur_matmul(params, h)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c_new = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
    h_new = (sigmoid(o) * jnp.tanh(c_new)).astype(h.dtype)
    return LSTMCarry(h_new, c_new.astype(c.dtype)), h_new


def lstm_init_carry(batch_shape: tuple[int, ...], hidden: int, dtype=jnp.float32) -> LSTMCarry:
    """Zero ``LSTMCarry``; ``c`` is kept in at least float32 (it accumulates over time)."""
    shape = (*batch_shape, hidden)
    return LSTMCarry(jnp.zeros(shape, dtype), jnp.zeros(shape, _acc(dtype)))


# --- GRU -----------------------------------------------------------------------


def gru_init(key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32) -> Params:
    """GRU params, gates fused in the order ``z, r, n``: ``wx`` [D, 3H], ``wh`` [H, 3H], ``b``."""
    return _init_weights(key, in_dim, hidden, 3, dtype)


def gru_recur(params: Params, h: jax.Array, xw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """GRU step in the course's (reset-before) form::

        z, r = sigmoid(x_t W_x[z,r] + h_{t-1} W_h[z,r] + b[z,r])
        n    = tanh(x_t W_x[n] + (r * h_{t-1}) W_h[n] + b[n])
        h_t  = (1 - z) * h_{t-1} + z * n

    The candidate needs ``r`` first, so this form costs two recurrent matmuls.
    """
    hid = h.shape[-1]
    acc = _acc(params["wh"].dtype)
    wh = params["wh"]
    zr = sigmoid(xw[..., : 2 * hid] + jnp.dot(h, wh[:, : 2 * hid], preferred_element_type=acc))
    z, r = jnp.split(zr, 2, axis=-1)
    rh = (r * h).astype(wh.dtype)
    n = jnp.tanh(xw[..., 2 * hid :] + jnp.dot(rh, wh[:, 2 * hid :], preferred_element_type=acc))
    h_new = (h + z * (n - h)).astype(h.dtype)
    return h_new, h_new


def gru_reset_after_init(key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32) -> Params:
    """Reset-after GRU params: those of :func:`gru_init` plus ``bhn`` [H]."""
    params = gru_init(key, in_dim, hidden, dtype=dtype)
    params["bhn"] = jnp.zeros((hidden,), dtype)
    return params


def gru_reset_after_recur(
    params: Params, h: jax.Array, xw: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """GRU step in the reset-after form of cuDNN, PyTorch and Flax (one recurrent matmul)::

    a    = h_{t-1} W_h                                  # [.., 3H] = [a_z, a_r, a_n]
    z, r = sigmoid(x_t W_x[z,r] + b[z,r] + a[z,r])
    n    = tanh(x_t W_x[n] + b[n] + r * (a_n + bhn))
    h_t  = (1 - z) * h_{t-1} + z * n
    """
    hid = h.shape[-1]
    a = _recur_matmul(params, h)
    z, r = jnp.split(sigmoid(xw[..., : 2 * hid] + a[..., : 2 * hid]), 2, axis=-1)
    a_n = a[..., 2 * hid :]
    n = jnp.tanh(
        xw[..., 2 * hid :] + r * (a_n + jnp.broadcast_to(params["bhn"].astype(a.dtype), a_n.shape))
    )
    h_new = (h + z * (n - h)).astype(h.dtype)
    return h_new, h_new


RNN_TANH = Cell("rnn", 1, rnn_init, project, rnn_recur, hidden_init_carry)
RNN_RELU = Cell(
    "rnn_relu", 1, rnn_init, project, partial(rnn_recur, activation=jax.nn.relu), hidden_init_carry
)
LSTM = Cell("lstm", 4, lstm_init, project, lstm_recur, lstm_init_carry, fused=lstm_scan)
GRU = Cell("gru", 3, gru_init, project, gru_recur, hidden_init_carry)
GRU_RESET_AFTER = Cell(
    "gru_reset_after", 3, gru_reset_after_init, project, gru_reset_after_recur, hidden_init_carry
)

CELLS = {c.name: c for c in (RNN_TANH, RNN_RELU, LSTM, GRU, GRU_RESET_AFTER)}


def get_cell(name: str) -> Cell:
    """The cell registered under ``name`` (one of ``CELLS``).

    Raises:
      ConfigError: for an unknown name, listing the known ones.
    """
    if name not in CELLS:
        raise ConfigError(f"unknown cell {name!r}; choose one of {sorted(CELLS)}")
    return CELLS[name]
