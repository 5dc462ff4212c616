"""An LSTM layer over time with a hand-derived backward pass (``jax.custom_vjp``).

Autodiff of a scanned LSTM carries the weight gradients through the reverse
scan and does two matmuls per step. Here:

- the input projection of every step is one big matmul before the loop, into a
  ``[T, B, 4H]`` buffer that the forward loop overwrites, step by step and in
  place, with the gate activations ``a_t = [i, f, g, o]`` the backward pass needs
  (no second buffer to allocate and zero-fill); the bias is added in the loop,
  where it joins an elementwise pass that runs anyway, instead of in a pass of
  its own over the whole buffer (inference 3-6% faster);
- the backward pass turns ``a`` and the cell states into the local derivatives
  in one elementwise pass over all steps, then runs one reverse loop carrying
  ``(dh, dc)`` whose only matmul is ``dz_t W_h^T``, writing the pre-activation
  gradients ``dz_t`` in place over those derivatives;
- the weight gradients are then single large matmuls over all time steps
  (backpropagation through time, derived for the gates ``i, f, g, o``)::

    dh   = dh_{t+1 -> t} + dy_t
    dc   = dc_{t+1 -> t} + dh * o * (1 - tanh(c_t)^2)
    dz_t = [dc*g*i(1-i), dc*c_{t-1}*f(1-f), dc*i*(1-g^2), dh*tanh(c_t)*o(1-o)]
    dh_{t -> t-1} = dz_t W_h^T,   dc_{t -> t-1} = dc * f
    dW_h = sum_t h_{t-1}^T dz_t,  dW_x = sum_t x_t^T dz_t,  db = sum_t dz_t

On a CPU in float32 both time loops run in a compiled kernel
(:mod:`rnn_jax.lstm.cpu`: one call per loop, the batch split over the cores)
instead of XLA's loops; the matmuls over all steps stay with XLA either way.

Gradients equal ``jax.grad`` of the plain scan (tests/test_lstm_fused.py).
"""

from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.lstm import cpu as lstm_cpu
from rnn_jax.typing import LSTMCarry, Params


def _act(z: jax.Array) -> jax.Array:
    """Gate activations ``[sig(i), sig(f), tanh(g), sig(o)]`` of pre-activations ``z`` [.., 4H].

    One elementwise pass: ``sigmoid(x) = 0.5 tanh(0.5 x) + 0.5``, so with ``m`` 0.5 on
    the sigmoid gates and 1 on ``g``, every gate is ``m * tanh(m * z) + (1 - m)``.
    """
    hid = z.shape[-1] // 4
    m = jnp.concatenate([jnp.full((2 * hid,), 0.5), jnp.ones((hid,)), jnp.full((hid,), 0.5)])
    m = jnp.broadcast_to(m.astype(z.dtype), z.shape)
    return m * jnp.tanh(m * z) + (1 - m)


def _at(buf: jax.Array, t: jax.Array) -> jax.Array:
    return jax.lax.dynamic_index_in_dim(buf, t, keepdims=False)


def _put(buf: jax.Array, value: jax.Array, t: jax.Array) -> jax.Array:
    return jax.lax.dynamic_update_index_in_dim(buf, value, t, 0)


def _gates(params: Params, xw_t: jax.Array, h: jax.Array) -> jax.Array:
    """Gate activations ``a_t`` [B, 4H] from ``x_t W_x`` and ``h_{t-1}``; the bias is added
    here, where it joins this elementwise pass, not in a pass over the whole buffer."""
    return _act(xw_t + h @ params["wh"] + params["b"][None])  # b as [1, 4H]


def _cell(a: jax.Array, c_prev: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(h, c)`` from gate activations ``a`` [B, 4H] and the previous cell state."""
    i, f, g, o = jnp.split(a, 4, axis=-1)
    c = f * c_prev + i * g
    return o * jnp.tanh(c), c


def _use_kernel(xs: jax.Array) -> bool:
    """Whether the time loops run in the compiled CPU kernel: float32 on a CPU, when built."""
    return (
        xs.dtype == jnp.float32
        and xs.shape[0] > 0
        and jax.default_backend() == "cpu"
        and lstm_cpu.available()
    )


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def lstm_scan(
    params: Params, carry: LSTMCarry, xs_tbd: jax.Array, unroll: int = 1
) -> tuple[LSTMCarry, jax.Array]:
    """Run an LSTM over time-major ``xs_tbd`` [T, B, D]; returns ``(carry_T, ys [T, B, H])``.

    Same values as scanning :func:`rnn_jax.cells.lstm_recur`, cheaper gradients.
    Expects float32 or float64 params, inputs and carry of one dtype. ``unroll``
    applies to XLA's loops (the CPU kernel has none to unroll).
    """
    if _use_kernel(xs_tbd):
        carry, _, hs, _ = _forward(params, carry, xs_tbd, unroll)
        return carry, hs

    def body(carry, xw_t):
        h, c = _cell(_gates(params, xw_t, carry.h), carry.c)
        return LSTMCarry(h, c), h

    return jax.lax.scan(body, carry, xs_tbd @ params["wx"], unroll=unroll)


def _forward(params, carry, xs_tbd, unroll):
    """``(carry_T, gates, hs, cs)``: gate activations [T, B, 4H], h, c [T, B, H] of all steps."""
    xw = xs_tbd @ params["wx"]
    if _use_kernel(xs_tbd):
        gates, hs, cs = lstm_cpu.forward(xw, params["wh"], params["b"], carry.h, carry.c)
        return LSTMCarry(hs[-1], cs[-1]), gates, hs, cs

    def body(t, state):
        h, c, gates, hs, cs = state
        a = _gates(params, _at(gates, t), h)
        h, c = _cell(a, c)
        return h, c, _put(gates, a, t), _put(hs, h, t), _put(cs, c, t)

    per_step = jnp.zeros((xw.shape[0],) + carry.h.shape, carry.h.dtype)  # h_t, c_t slots
    init = (carry.h, carry.c, xw, per_step, per_step)  # x_t W_x slots
    h, c, gates, hs, cs = jax.lax.fori_loop(0, xw.shape[0], body, init, unroll=unroll)
    return LSTMCarry(h, c), gates, hs, cs


def _backward(params, carry0, cs, gates, cts, unroll):
    """``(dz [T, B, 4H], dh_0, dc_0)``: the reverse loop, from the outputs' cotangents."""
    (dh_t, dc_t), dys = cts
    if _use_kernel(gates):
        return lstm_cpu.backward(gates, cs, carry0.c, params["wh"], dys, dh_t, dc_t)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c_prev = jnp.concatenate([carry0.c[None], cs[:-1]], axis=0)
    tc = jnp.tanh(cs)
    # Per unit dc: dz_i, dz_f, dz_g; per unit dh: dz_o. Overwritten in place with dz.
    dz = jnp.concatenate(
        [g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tc * o * (1 - o)], axis=-1
    )
    dc_dh_f = jnp.concatenate([o * (1 - tc * tc), f], axis=-1)  # dc_t/dh_t and dc_{t-1}/dc_t
    wh_t = params["wh"].T
    t_len = gates.shape[0]

    def body(j, state):
        t = t_len - 1 - j
        dh, dc, dz = state
        dh = dh + _at(dys, t)
        dc_dh, f_t = jnp.split(_at(dc_dh_f, t), 2, axis=-1)
        dc = dc + dh * dc_dh
        dz_t = _at(dz, t) * jnp.concatenate([dc, dc, dc, dh], axis=-1)
        return dz_t @ wh_t, dc * f_t, _put(dz, dz_t, t)

    dh0, dc0, dz = jax.lax.fori_loop(0, t_len, body, (dh_t, dc_t, dz), unroll=unroll)
    return dz, dh0, dc0


def _fwd(params, carry, xs_tbd, unroll):
    carry_t, gates, hs, cs = _forward(params, carry, xs_tbd, unroll)
    return (carry_t, hs), (params, carry, xs_tbd, hs, cs, gates)


def _bwd(unroll, res, cts):
    params, carry0, xs, hs, cs, gates = res
    t_len, batch, d = xs.shape
    hid = hs.shape[-1]
    dz, dh0, dc0 = _backward(params, carry0, cs, gates, cts, unroll)
    h_prev = jnp.concatenate([carry0.h[None], hs[:-1]], axis=0)
    dz_ng = dz.reshape(t_len * batch, 4 * hid)  # [T*B, 4H]: one large matmul per weight
    grads = {
        "wx": xs.reshape(-1, d).T @ dz_ng,
        "wh": h_prev.reshape(-1, hid).T @ dz_ng,
        "b": dz_ng.sum(axis=0),
    }
    return grads, LSTMCarry(dh0, dc0), (dz_ng @ params["wx"].T).reshape(xs.shape)


lstm_scan.defvjp(_fwd, _bwd)
