"""The GRU in two forms: the course's reset-before and cuDNN/PyTorch/Flax's reset-after,
each with its fused layer path (:mod:`rnn_jax.recurrent.fused.gru`: a hand-derived backward
pass and a CPU kernel)."""

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import gated
from rnn_jax.recurrent.cells import LayerPath, register
from rnn_jax.recurrent.fused.gru import gru_layer, gru_reset_after_layer
from rnn_jax.recurrent.fused.layer import fused_applies
from rnn_jax.typing import Params, PRNGKey


def gru_init(key: PRNGKey, in_dim: int, hidden: int, *, dtype=jnp.float32) -> Params:
    """GRU params, gates fused in the order ``z, r, n``: ``wx`` [D, 3H], ``wh`` [H, 3H], ``b``."""
    return gated.init_weights(key, in_dim, hidden, 3, dtype)


def _gates(params: Params, h: jax.Array, xw: jax.Array) -> tuple[jax.Array, ...]:
    """The reset-before GRU's ``z, r, n`` (in the accumulation dtype)."""
    hid = h.shape[-1]
    acc = gated.acc_dtype(params["wh"].dtype)
    wh = params["wh"]
    zr = gated.sigmoid(
        xw[..., : 2 * hid] + jnp.dot(h, wh[:, : 2 * hid], preferred_element_type=acc)
    )
    z, r = jnp.split(zr, 2, axis=-1)
    rh = (r * h.astype(acc)).astype(wh.dtype)
    n = jnp.tanh(xw[..., 2 * hid :] + jnp.dot(rh, wh[:, 2 * hid :], preferred_element_type=acc))
    return z, r, n


def gru_recur(params: Params, h: jax.Array, xw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """GRU step in the course's (reset-before) form::

        z, r = sigmoid(x_t W_x[z,r] + h_{t-1} W_h[z,r] + b[z,r])
        n    = tanh(x_t W_x[n] + (r * h_{t-1}) W_h[n] + b[n])
        h_t  = (1 - z) * h_{t-1} + z * n

    The candidate needs ``r`` first, so this form costs two recurrent matmuls.
    """
    z, _, n = _gates(params, h, xw)
    h_acc = h.astype(z.dtype)
    h_new = (h_acc + z * (n - h_acc)).astype(h.dtype)
    return h_new, h_new


def gru_jacobian_diagonal(params: Params, h: jax.Array, xw: jax.Array) -> jax.Array:
    """``d h_t / d h_{t-1}``'s diagonal for :func:`gru_recur`::

        d h_i = 1 - z_i + z_i' (n_i - h_i) + z_i n_i'
        z_i'  = z_i (1 - z_i) W_z[i, i]
        n_i'  = (1 - n_i^2) (r_i W_n[i, i] + sum_j h_j r_j (1 - r_j) W_r[i, j] W_n[j, i])

    (unit ``i``'s own state reaches its candidate through every reset gate ``r_j``).
    """
    hid = h.shape[-1]
    z, r, n = _gates(params, h, xw)
    wh = params["wh"].astype(z.dtype)
    w_r, w_n = wh[:, hid : 2 * hid], wh[:, 2 * hid :]
    through_resets = jnp.dot(h * r * (1 - r), w_n * w_r.T)
    dn = (1 - n * n) * (r * gated.recurrent_diagonal(params, 2, r) + through_resets)
    dz = z * (1 - z) * gated.recurrent_diagonal(params, 0, z)
    return (1 - z + dz * (n - h) + z * dn).astype(h.dtype)


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
    a = gated.recur_matmul(params, h)
    z, r = jnp.split(gated.sigmoid(xw[..., : 2 * hid] + a[..., : 2 * hid]), 2, axis=-1)
    a_n = a[..., 2 * hid :]
    n = jnp.tanh(
        xw[..., 2 * hid :] + r * (a_n + jnp.broadcast_to(params["bhn"].astype(a.dtype), a_n.shape))
    )
    h_acc = h.astype(a.dtype)
    h_new = (h_acc + z * (n - h_acc)).astype(h.dtype)
    return h_new, h_new


GRU = register(
    gated.gated_cell(
        name="gru",
        about="GRU, reset before the candidate",
        init=gru_init,
        recur=gru_recur,
        paths=(LayerPath(name="fused", run=gru_layer, applies=fused_applies),),
        jacobian_diagonal=gru_jacobian_diagonal,
    )
)
GRU_RESET_AFTER = register(
    gated.gated_cell(
        name="gru_reset_after",
        about="GRU as cuDNN, PyTorch and Flax",
        init=gru_reset_after_init,
        recur=gru_reset_after_recur,
        paths=(LayerPath(name="fused", run=gru_reset_after_layer, applies=fused_applies),),
    )
)
