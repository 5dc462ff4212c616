"""An LSTM layer over time with a hand-derived backward pass (``jax.custom_vjp``).

Autodiff of a scanned LSTM carries the weight gradients through the reverse
scan and does two matmuls per step. Here the forward scan saves, per step, the
six H-wide local derivatives the backward pass multiplies by (computed where
every factor is at hand); the backward pass is one reverse scan carrying
``(dh, dc)`` that emits the pre-activation gradients ``dz_t`` (one matmul per
step, ``dz_t W_h^T``); the weight gradients are then single large matmuls over
all time steps (backpropagation through time, derived for the gates
``i, f, g, o``)::

    dh   = dh_{t+1 -> t} + dy_t
    do   = dh * tanh(c_t)
    dc   = dc_{t+1 -> t} + dh * o * (1 - tanh(c_t)^2)
    dz_t = [dc*g*i(1-i), dc*c_{t-1}*f(1-f), dc*i*(1-g^2), do*o(1-o)]
    dh_{t -> t-1} = dz_t W_h^T,   dc_{t -> t-1} = dc * f
    dW_h = sum_t h_{t-1}^T dz_t,  dW_x = sum_t x_t^T dz_t,  db = sum_t dz_t

Gradients equal ``jax.grad`` of the plain scan (tests/test_lstm_fused.py).
"""

from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.cells import LSTMCarry, project
from rnn_jax.typing import Params


def _act(z: jax.Array) -> jax.Array:
    """Gate activations ``[sig(i), sig(f), tanh(g), sig(o)]`` of pre-activations ``z`` [.., 4H].

    One elementwise pass: ``sigmoid(x) = 0.5 tanh(0.5 x) + 0.5``, so with ``m`` 0.5 on
    the sigmoid gates and 1 on ``g``, every gate is ``m * tanh(m * z) + (1 - m)``.
    """
    hid = z.shape[-1] // 4
    m = jnp.concatenate([jnp.full((2 * hid,), 0.5), jnp.ones((hid,)), jnp.full((hid,), 0.5)])
    m = jnp.broadcast_to(m.astype(z.dtype), z.shape)
    return m * jnp.tanh(m * z) + (1 - m)


def _forward(
    params: Params, carry: LSTMCarry, xs_tbd: jax.Array, hoist: bool, unroll: int, save: bool
):
    """Scan the LSTM; with ``save`` also return, per step, the local derivatives that the
    backward pass multiplies by (computed here, where every factor is at hand)."""
    wh = params["wh"]
    inputs = project(params, xs_tbd) if hoist else xs_tbd

    def body(carry, x_t):
        h, c_prev = carry
        xw = x_t if hoist else project(params, x_t)
        i, f, g, o = jnp.split(_act(xw + h @ wh), 4, axis=-1)
        c = f * c_prev + i * g
        tc = jnp.tanh(c)
        h = o * tc
        saved = None
        if save:
            # dc_t/dh_t; dz_i, dz_f, dz_g per unit dc_t; dz_o per unit dh_t; f (dc_{t-1} = dc_t f).
            saved = jnp.concatenate(
                [
                    o * (1 - tc * tc),
                    g * i * (1 - i),
                    c_prev * f * (1 - f),
                    i * (1 - g * g),
                    tc * o * (1 - o),
                    f,
                ],
                axis=-1,
            )
        return LSTMCarry(h, c), (h, saved)

    carry, (ys, saved) = jax.lax.scan(body, carry, inputs, unroll=unroll)
    return carry, ys, saved


@partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def lstm_scan(
    params: Params, carry: LSTMCarry, xs_tbd: jax.Array, hoist: bool = False, unroll: int = 1
) -> tuple[LSTMCarry, jax.Array]:
    """Run an LSTM over time-major ``xs_tbd`` [T, B, D]; returns ``(carry_T, ys [T, B, H])``.

    Same values as scanning :func:`rnn_jax.cells.lstm_recur`, cheaper gradients.
    Expects float32 or float64 params, inputs and carry of one dtype.
    """
    carry, ys, _ = _forward(params, carry, xs_tbd, hoist, unroll, save=False)
    return carry, ys


def _fwd(params, carry, xs_tbd, hoist, unroll):
    carry_t, ys, saved = _forward(params, carry, xs_tbd, hoist, unroll, save=True)
    return (carry_t, ys), (params, carry.h, xs_tbd, ys, saved)


def _bwd(hoist, unroll, res, cts):
    params, h0, xs, ys, saved = res
    (dh_t, dc_t), dys = cts
    wh_t = params["wh"].T

    def body(carry, inp):
        dh, dc = carry
        dy, k = inp
        dh = dh + dy
        k_c, k_i, k_f, k_g, k_o, f = jnp.split(k, 6, axis=-1)
        dc = dc + dh * k_c
        dz = jnp.concatenate([dc * k_i, dc * k_f, dc * k_g, dh * k_o], axis=-1)
        return (dz @ wh_t, dc * f), dz

    (dh0, dc0), dz = jax.lax.scan(body, (dh_t, dc_t), (dys, saved), reverse=True, unroll=unroll)
    h_prev = jnp.concatenate([h0[None], ys[:-1]], axis=0)
    dz_ng = dz.reshape(-1, dz.shape[-1])  # [T*B, 4H]: one large matmul per weight
    grads = {
        "wx": xs.reshape(-1, xs.shape[-1]).T @ dz_ng,
        "wh": h_prev.reshape(-1, h_prev.shape[-1]).T @ dz_ng,
        "b": dz_ng.sum(axis=0),
    }
    return grads, LSTMCarry(dh0, dc0), dz @ params["wx"].T


lstm_scan.defvjp(_fwd, _bwd)
