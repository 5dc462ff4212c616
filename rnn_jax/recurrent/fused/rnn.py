"""The vanilla RNN layer (tanh or relu) with a hand-derived backward pass (``jax.custom_vjp``).

Forward ``h_t = act(x_t W_x + h_{t-1} W_h + b)``: the input projection of all steps is one
matmul, then one recurrent matmul per step (the CPU kernel joins each step's projection to
its recurrent matmul instead). Backward, from the outputs' cotangents::

    dz_t = (dh + dy_t) * act'(h_t)          (tanh: 1 - h_t^2; relu: [h_t > 0])
    dh_{t -> t-1} = dz_t W_h^T
    [dW_x; dW_h] = sum_t [x_t, h_{t-1}]^T dz_t,  db = sum_t dz_t

one matmul per step in the reverse loop, and the weight gradients as one large
matmul. On a CPU in float32 both loops run in the compiled kernel (``rnn.cc``).
Gradients equal ``jax.grad`` of the plain scan (tests/test_fused_layers.py).
"""

from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.recurrent.fused import kernel
from rnn_jax.recurrent.fused.layer import per_step, previous, weight_grads, with_lengths
from rnn_jax.typing import Params


def rnn_layer(
    params: Params,
    h0: jax.Array,
    xs_tbd: jax.Array,
    seq_lengths: jax.Array | None = None,
    unroll: int = 1,
    *,
    relu: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Run a tanh (or ``relu``) RNN over time-major ``xs_tbd`` [T, B, D]: ``(h_T, ys [T, B,
    H])``, the values of scanning its step (frozen past ``seq_lengths``, zero outputs there)."""
    core = partial(rnn_scan, relu=relu)
    return with_lengths(core, params, h0, xs_tbd, seq_lengths, unroll)


def _activation(relu: bool):
    return jax.nn.relu if relu else jnp.tanh


@partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def rnn_scan(
    params: Params, h0: jax.Array, xs_tbd: jax.Array, lengths: jax.Array, unroll: int, relu: bool
) -> tuple[jax.Array, jax.Array]:
    """The layer's core: ``(h_T, hs [T, B, H])``, a row's ``h`` frozen past its length."""
    hs = _forward(params, h0, xs_tbd, lengths, unroll, relu)
    return hs[-1], hs


def _forward(params, h0, xs_tbd, lengths, unroll, relu):
    """``hs`` [T, B, H]: the kernel's loop on a CPU in float32, else XLA's."""
    if kernel.use_kernel(xs_tbd):
        target = f"rnn_jax_rnn_{'relu' if relu else 'tanh'}_forward"
        (hs,) = kernel.call(
            target,
            (per_step(xs_tbd, h0.shape[-1]),),
            *(xs_tbd, params["wx"], params["wh"], params["b"], h0, lengths),
        )
        return hs
    xw = xs_tbd @ params["wx"]
    act = _activation(relu)

    def body(h, inp):
        xw_t, t = inp
        h_new = act(xw_t + params["b"][None] + h @ params["wh"])
        h = jnp.where((t < lengths)[:, None], h_new, h)
        return h, h

    steps = jnp.arange(xw.shape[0], dtype=jnp.int32)
    return jax.lax.scan(body, h0, (xw, steps), unroll=unroll)[1]


def _backward(params, hs, lengths, dh_last, dys, unroll, relu):
    """``(dz [T, B, H], dh_0)``: the reverse loop, from the outputs' cotangents."""
    if kernel.use_kernel(hs):
        target = f"rnn_jax_rnn_{'relu' if relu else 'tanh'}_backward"
        return kernel.call(
            target,
            (hs, dh_last),
            *(hs, params["wh"], dys, dh_last, lengths),
            aliases={2: 0},  # dz overwrites the outputs' cotangents
        )
    wh_t = params["wh"].T

    def body(dh, inp):
        h_t, dy_t, t = inp
        keep_b1 = (t < lengths)[:, None]  # a frozen step passes dh through
        dh = dh + dy_t
        slope = (h_t > 0).astype(h_t.dtype) if relu else 1 - h_t * h_t
        dz = jnp.where(keep_b1, dh * slope, jnp.zeros_like(dh))
        return jnp.where(keep_b1, dz @ wh_t, dh), dz

    steps = jnp.arange(hs.shape[0], dtype=jnp.int32)
    dh0, dz = jax.lax.scan(body, dh_last, (hs, dys, steps), reverse=True, unroll=unroll)
    return dz, dh0


def _fwd(params, h0, xs_tbd, lengths, unroll, relu):
    hs = _forward(params, h0, xs_tbd, lengths, unroll, relu)
    return (hs[-1], hs), (params, h0, xs_tbd, lengths, hs)


def _bwd(unroll, relu, res, cts):
    params, h0, xs, lengths, hs = res
    dh_last, dys = cts
    dz, dh0 = _backward(params, hs, lengths, dh_last, dys, unroll, relu)
    grads, dxs = weight_grads(params, xs, previous(h0, hs), dz)
    return grads, dh0, dxs, None  # lengths are integers: no cotangent


rnn_scan.defvjp(_fwd, _bwd)
