"""GRU layers, both forms, with hand-derived backward passes (``jax.custom_vjp``).

Gates are fused in the order ``z, r, n`` (:mod:`rnn_jax.recurrent.gru`). The input
projection of all steps is one matmul (the CPU kernel joins each step's to its first
recurrent matmul instead); each loop step saves what the backward pass
needs (the gate activations, and for the reset-after form ``hn = h W_h[n] + bhn``);
the reverse loop carries ``dh`` alone; the weight gradients are single large
matmuls over all steps. With ``h_p = h_{t-1}`` and ``dh`` the step's total cotangent::

    dz = dh (n - h_p) z (1 - z),   dn = dh z (1 - n^2)
    reset-after:   dr = dn hn r (1 - r),   d(h_p W_h) = [dz, dr, dn r]
                   dh_p = dh (1 - z) + d(h_p W_h) W_h^T
    reset-before:  d(r h_p) = dn W_h[n]^T,   dr = d(r h_p) h_p r (1 - r)
                   dh_p = dh (1 - z) + d(r h_p) r + [dz, dr] W_h[z,r]^T

On a CPU in float32 both loops run in the compiled kernel (``gru.cc``).
Gradients equal ``jax.grad`` of the plain scan (tests/test_fused_layers.py).
"""

from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.recurrent.fused import kernel
from rnn_jax.recurrent.fused.layer import (
    input_grads,
    per_step,
    previous,
    weight_grad,
    with_lengths,
)
from rnn_jax.typing import Params


def _sigmoid(x: jax.Array) -> jax.Array:
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _steps(t_len: int) -> jax.Array:
    return jnp.arange(t_len, dtype=jnp.int32)


def gru_layer(
    params: Params,
    h0: jax.Array,
    xs_tbd: jax.Array,
    seq_lengths: jax.Array | None = None,
    unroll: int = 1,
) -> tuple[jax.Array, jax.Array]:
    """The reset-before GRU over time-major ``xs_tbd`` [T, B, D]: ``(h_T, ys [T, B, H])``,
    the values of scanning :func:`rnn_jax.recurrent.gru.gru_recur`."""
    return with_lengths(gru_scan, params, h0, xs_tbd, seq_lengths, unroll)


def gru_reset_after_layer(
    params: Params,
    h0: jax.Array,
    xs_tbd: jax.Array,
    seq_lengths: jax.Array | None = None,
    unroll: int = 1,
) -> tuple[jax.Array, jax.Array]:
    """The reset-after GRU over time-major ``xs_tbd`` [T, B, D]: ``(h_T, ys [T, B, H])``,
    the values of scanning :func:`rnn_jax.recurrent.gru.gru_reset_after_recur`."""
    return with_lengths(gru_reset_after_scan, params, h0, xs_tbd, seq_lengths, unroll)


# The reset-after form.


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def gru_reset_after_scan(params, h0, xs_tbd, lengths, unroll):
    """The reset-after layer's core: ``(h_T, hs [T, B, H])``, frozen past each length."""
    hs = _after_forward(params, h0, xs_tbd, lengths, unroll)[2]
    return hs[-1], hs


def _after_forward(params, h0, xs_tbd, lengths, unroll):
    """``(gates [T, B, 3H] = [z, r, n], hn [T, B, H], hs [T, B, H])``."""
    if kernel.use_kernel(xs_tbd):
        gates, hid = per_step(xs_tbd, params["wh"].shape[-1]), per_step(xs_tbd, h0.shape[-1])
        return kernel.call(
            "rnn_jax_gru_reset_after_forward",
            (gates, hid, hid),
            *(xs_tbd, params["wx"], params["wh"], params["b"], params["bhn"], h0, lengths),
        )
    xw = xs_tbd @ params["wx"]
    hid = h0.shape[-1]

    def body(h, inp):
        xw_t, t = inp
        x = xw_t + params["b"][None]
        a = h @ params["wh"]
        zr = _sigmoid(x[:, : 2 * hid] + a[:, : 2 * hid])
        hn = a[:, 2 * hid :] + params["bhn"][None]
        n = jnp.tanh(x[:, 2 * hid :] + zr[:, hid:] * hn)
        h_new = h + zr[:, :hid] * (n - h)
        h = jnp.where((t < lengths)[:, None], h_new, h)
        return h, (jnp.concatenate([zr, n], axis=-1), hn, h)

    return jax.lax.scan(body, h0, (xw, _steps(xw.shape[0])), unroll=unroll)[1]


def _after_backward(params, gates, hn, hs, h0, lengths, dh_last, dys, unroll):
    """``(da [T, B, 3H], dn [T, B, H], dh_0)``: ``da`` is ``d(h_p W_h)``, ``dn`` the
    candidate's pre-activation gradient; zero past each length."""
    if kernel.use_kernel(gates):
        return kernel.call(
            "rnn_jax_gru_reset_after_backward",
            (gates, hs, h0),
            *(gates, hn, hs, h0, params["wh"], dys, dh_last, lengths),
            aliases={0: 0, 1: 1},  # da overwrites the gates, dn the hn
        )
    wh_t = params["wh"].T

    def body(dh, inp):
        g_t, hn_t, hp_t, dy_t, t = inp
        z, r, n = jnp.split(g_t, 3, axis=-1)
        keep_b1 = (t < lengths)[:, None]  # a frozen step passes dh through
        dh = dh + dy_t
        dn = dh * z * (1 - n * n)
        da = jnp.concatenate([dh * (n - hp_t) * z * (1 - z), dn * hn_t * r * (1 - r), dn * r], -1)
        da = jnp.where(keep_b1, da, jnp.zeros_like(da))
        dn = jnp.where(keep_b1, dn, jnp.zeros_like(dn))
        return jnp.where(keep_b1, dh * (1 - z) + da @ wh_t, dh), (da, dn)

    inputs = (gates, hn, previous(h0, hs), dys, _steps(gates.shape[0]))
    dh0, (da, dn) = jax.lax.scan(body, dh_last, inputs, reverse=True, unroll=unroll)
    return da, dn, dh0


def _after_fwd(params, h0, xs_tbd, lengths, unroll):
    gates, hn, hs = _after_forward(params, h0, xs_tbd, lengths, unroll)
    return (hs[-1], hs), (params, h0, xs_tbd, lengths, gates, hn, hs)


def _after_bwd(unroll, res, cts):
    params, h0, xs, lengths, gates, hn, hs = res
    dh_last, dys = cts
    da, dn, dh0 = _after_backward(params, gates, hn, hs, h0, lengths, dh_last, dys, unroll)
    hid = h0.shape[-1]
    d_wx, d_b, dxs = input_grads(params["wx"], xs, jnp.concatenate([da[..., : 2 * hid], dn], -1))
    grads = {
        "wx": d_wx,
        "wh": weight_grad(previous(h0, hs), da),
        "b": d_b,
        "bhn": da[..., 2 * hid :].sum(axis=(0, 1)),
    }
    return grads, dh0, dxs, None  # lengths are integers: no cotangent


gru_reset_after_scan.defvjp(_after_fwd, _after_bwd)


# The reset-before form.


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def gru_scan(params, h0, xs_tbd, lengths, unroll):
    """The reset-before layer's core: ``(h_T, hs [T, B, H])``, frozen past each length."""
    hs = _before_forward(params, h0, xs_tbd, lengths, unroll)[1]
    return hs[-1], hs


def _before_forward(params, h0, xs_tbd, lengths, unroll):
    """``(gates [T, B, 3H] = [z, r, n], hs [T, B, H])``."""
    if kernel.use_kernel(xs_tbd):
        return kernel.call(
            "rnn_jax_gru_forward",
            (per_step(xs_tbd, params["wh"].shape[-1]), per_step(xs_tbd, h0.shape[-1])),
            *(xs_tbd, params["wx"], params["wh"], params["b"], h0, lengths),
        )
    xw = xs_tbd @ params["wx"]
    hid = h0.shape[-1]
    wh = params["wh"]

    def body(h, inp):
        xw_t, t = inp
        x = xw_t + params["b"][None]
        zr = _sigmoid(x[:, : 2 * hid] + h @ wh[:, : 2 * hid])
        n = jnp.tanh(x[:, 2 * hid :] + (zr[:, hid:] * h) @ wh[:, 2 * hid :])
        h_new = h + zr[:, :hid] * (n - h)
        h = jnp.where((t < lengths)[:, None], h_new, h)
        return h, (jnp.concatenate([zr, n], axis=-1), h)

    return jax.lax.scan(body, h0, (xw, _steps(xw.shape[0])), unroll=unroll)[1]


def _before_backward(params, gates, hs, h0, lengths, dh_last, dys, unroll):
    """``(dg [T, B, 3H] = [dz, dr, dn], dh_0)``: the gates' pre-activation gradients, zero
    past each length."""
    if kernel.use_kernel(gates):
        return kernel.call(
            "rnn_jax_gru_backward",
            (gates, h0),
            *(gates, hs, h0, params["wh"], dys, dh_last, lengths),
            aliases={0: 0},  # dg overwrites the gates
        )
    hid = h0.shape[-1]
    w_zr_t, w_n_t = params["wh"][:, : 2 * hid].T, params["wh"][:, 2 * hid :].T

    def body(dh, inp):
        g_t, hp_t, dy_t, t = inp
        z, r, n = jnp.split(g_t, 3, axis=-1)
        keep_b1 = (t < lengths)[:, None]  # a frozen step passes dh through
        dh = dh + dy_t
        dn = dh * z * (1 - n * n)
        drh = dn @ w_n_t
        dg = jnp.concatenate([dh * (n - hp_t) * z * (1 - z), drh * hp_t * r * (1 - r), dn], -1)
        dg = jnp.where(keep_b1, dg, jnp.zeros_like(dg))
        dh_new = dh * (1 - z) + drh * r + dg[:, : 2 * hid] @ w_zr_t
        return jnp.where(keep_b1, dh_new, dh), dg

    inputs = (gates, previous(h0, hs), dys, _steps(gates.shape[0]))
    dh0, dg = jax.lax.scan(body, dh_last, inputs, reverse=True, unroll=unroll)
    return dg, dh0


def _before_fwd(params, h0, xs_tbd, lengths, unroll):
    gates, hs = _before_forward(params, h0, xs_tbd, lengths, unroll)
    return (hs[-1], hs), (params, h0, xs_tbd, lengths, gates, hs)


def _before_bwd(unroll, res, cts):
    params, h0, xs, lengths, gates, hs = res
    dh_last, dys = cts
    hid = h0.shape[-1]
    h_prev = previous(h0, hs)
    rh_prev = gates[..., hid : 2 * hid] * h_prev  # read before the kernel overwrites the gates
    dg, dh0 = _before_backward(params, gates, hs, h0, lengths, dh_last, dys, unroll)
    d_wx, d_b, dxs = input_grads(params["wx"], xs, dg)
    d_wh = jnp.concatenate(
        [weight_grad(h_prev, dg[..., : 2 * hid]), weight_grad(rh_prev, dg[..., 2 * hid :])], -1
    )
    return {"wx": d_wx, "wh": d_wh, "b": d_b}, dh0, dxs, None  # lengths: no cotangent


gru_scan.defvjp(_before_fwd, _before_bwd)
