"""An LSTM layer over time with a hand-derived backward pass (``jax.custom_vjp``).

Autodiff of a scanned LSTM carries the weight gradients through the reverse
scan and does two matmuls per step. Here:

- the input projection of every step is one big matmul before the loop, into a
  ``[T, B, 4H]`` buffer that the forward loop overwrites, step by step and in
  place, with the gate activations ``a_t = [i, f, g, o]`` the backward pass needs
  (no second buffer to allocate and zero-fill); the bias is added in the loop,
  where it joins an elementwise pass that runs anyway, instead of in a pass of
  its own over the whole buffer (inference 3-6% faster); the CPU kernel instead
  joins each step's projection to its recurrent matmul, and writes the
  activations into a buffer of their own;
- the backward pass turns ``a`` and the cell states into the local derivatives
  in one elementwise pass over all steps, then runs one reverse loop carrying
  ``(dh, dc)`` whose only matmul is ``dz_t W_h^T``, writing the pre-activation
  gradients ``dz_t`` in place over those derivatives;
- the weight gradients are then one large matmul over all time steps
  (backpropagation through time, derived for the gates ``i, f, g, o``)::

    dh   = dh_{t+1 -> t} + dy_t
    dc   = dc_{t+1 -> t} + dh * o * (1 - tanh(c_t)^2)
    dz_t = [dc*g*i(1-i), dc*c_{t-1}*f(1-f), dc*i*(1-g^2), dh*tanh(c_t)*o(1-o)]
    dh_{t -> t-1} = dz_t W_h^T,   dc_{t -> t-1} = dc * f
    [dW_x; dW_h] = sum_t [x_t, h_{t-1}]^T dz_t,  db = sum_t dz_t

On a CPU in float32 both time loops run in a compiled kernel
(:mod:`rnn_jax.recurrent.fused.kernel`, ``lstm.cc``: one call per loop, the batch split over
the cores) instead of XLA's loops; the matmuls over all steps stay with XLA either way.
Without a gradient to take (inference), the kernel runs one loop of its own: each
step's input projection joins its recurrent matmul, and nothing is kept for a
backward pass (no ``[T, B, 4H]`` buffer is written or read).

With ``lengths``, a sequence's carry is frozen past its length (both loops skip
its finished rows), so padded batches keep the fast path.

Gradients equal ``jax.grad`` of the plain scan (tests/test_fused_layers.py).
"""

from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.recurrent.fused import kernel
from rnn_jax.recurrent.fused.layer import per_step, previous, weight_grads, with_lengths
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


def lstm_layer(
    params: Params,
    carry: LSTMCarry,
    xs_tbd: jax.Array,
    seq_lengths: jax.Array | None = None,
    unroll: int = 1,
) -> tuple[LSTMCarry, jax.Array]:
    """Run an LSTM over time-major ``xs_tbd`` [T, B, D]; returns ``(carry, ys [T, B, H])``.

    Same values as scanning :func:`rnn_jax.recurrent.lstm.lstm_recur` (with
    ``seq_lengths`` [B]: the carry at each sequence's last valid step, zero outputs
    past it), cheaper gradients. Expects float32 or float64 params, inputs and carry
    of one dtype. ``unroll`` applies to XLA's loops (the CPU kernel has none).
    """
    return with_lengths(lstm_scan, params, carry, xs_tbd, seq_lengths, unroll)


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def lstm_scan(
    params: Params, carry: LSTMCarry, xs_tbd: jax.Array, lengths: jax.Array, unroll: int = 1
) -> tuple[LSTMCarry, jax.Array]:
    """The layer's core: ``(carry, hs [T, B, H])`` where ``hs`` holds each sequence's
    frozen ``h`` past its length (``lengths`` [B] int32; :func:`lstm_layer` zeroes them)."""
    if kernel.use_kernel(xs_tbd):
        hs, c_last = kernel.call(
            "rnn_jax_lstm_infer",
            (per_step(xs_tbd, carry.h.shape[-1]), carry.c),
            *(xs_tbd, params["wx"], params["wh"], params["b"], carry.h, carry.c, lengths),
        )
        return LSTMCarry(hs[-1], c_last), hs

    def body(carry, inp):
        xw_t, t = inp
        h, c = _cell(_gates(params, xw_t, carry.h), carry.c)
        keep_b1 = (t < lengths)[:, None]
        carry = LSTMCarry(jnp.where(keep_b1, h, carry.h), jnp.where(keep_b1, c, carry.c))
        return carry, carry.h

    steps = jnp.arange(xs_tbd.shape[0], dtype=jnp.int32)
    return jax.lax.scan(body, carry, (xs_tbd @ params["wx"], steps), unroll=unroll)


def _forward(params, carry, xs_tbd, lengths, unroll):
    """``(carry_T, gates, hs, cs)``: gate activations [T, B, 4H], h, c [T, B, H] of all steps."""
    if kernel.use_kernel(xs_tbd):
        hid = per_step(xs_tbd, carry.h.shape[-1])
        gates, hs, cs = kernel.call(
            "rnn_jax_lstm_forward",
            (per_step(xs_tbd, params["wh"].shape[-1]), hid, hid),
            *(xs_tbd, params["wx"], params["wh"], params["b"], carry.h, carry.c, lengths),
        )
        return LSTMCarry(hs[-1], cs[-1]), gates, hs, cs
    xw = xs_tbd @ params["wx"]

    def body(t, state):
        h, c, gates, hs, cs = state
        a = _gates(params, _at(gates, t), h)
        h_new, c_new = _cell(a, c)
        keep_b1 = (t.astype(jnp.int32) < lengths)[:, None]
        h, c = jnp.where(keep_b1, h_new, h), jnp.where(keep_b1, c_new, c)
        return h, c, _put(gates, a, t), _put(hs, h, t), _put(cs, c, t)

    slots = jnp.zeros((xw.shape[0],) + carry.h.shape, carry.h.dtype)  # h_t, c_t slots
    init = (carry.h, carry.c, xw, slots, slots)  # x_t W_x slots
    h, c, gates, hs, cs = jax.lax.fori_loop(0, xw.shape[0], body, init, unroll=unroll)
    return LSTMCarry(h, c), gates, hs, cs


def _backward(params, carry0, cs, gates, lengths, cts, unroll):
    """``(dz [T, B, 4H], dh_0, dc_0)``: the reverse loop, from the outputs' cotangents."""
    (dh_t, dc_t), dys = cts
    if kernel.use_kernel(gates):
        return kernel.call(
            "rnn_jax_lstm_backward",
            (gates, dh_t, dc_t),
            *(gates, cs, carry0.c, params["wh"], dys, dh_t, dc_t, lengths),
            aliases={0: 0},  # dz overwrites the gates
        )
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
        keep_b1 = (t.astype(jnp.int32) < lengths)[:, None]  # a frozen step passes dh and dc through
        dh = dh + _at(dys, t)
        dc_dh, f_t = jnp.split(_at(dc_dh_f, t), 2, axis=-1)
        dc_new = dc + dh * dc_dh
        dz_t = _at(dz, t) * jnp.concatenate([dc_new, dc_new, dc_new, dh], axis=-1)
        dz_t = jnp.where(keep_b1, dz_t, jnp.zeros_like(dz_t))
        dh = jnp.where(keep_b1, dz_t @ wh_t, dh)
        return dh, jnp.where(keep_b1, dc_new * f_t, dc), _put(dz, dz_t, t)

    dh0, dc0, dz = jax.lax.fori_loop(0, t_len, body, (dh_t, dc_t, dz), unroll=unroll)
    return dz, dh0, dc0


def _fwd(params, carry, xs_tbd, lengths, unroll):
    carry_t, gates, hs, cs = _forward(params, carry, xs_tbd, lengths, unroll)
    return (carry_t, hs), (params, carry, xs_tbd, lengths, hs, cs, gates)


def _bwd(unroll, res, cts):
    params, carry0, xs, lengths, hs, cs, gates = res
    dz, dh0, dc0 = _backward(params, carry0, cs, gates, lengths, cts, unroll)
    grads, dxs = weight_grads(params, xs, previous(carry0.h, hs), dz)
    return grads, LSTMCarry(dh0, dc0), dxs, None  # lengths are integers: no cotangent


lstm_scan.defvjp(_fwd, _bwd)
