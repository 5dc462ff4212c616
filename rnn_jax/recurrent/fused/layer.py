"""What every fused layer shares: the dtypes it serves, and sequence lengths around its core."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rnn_jax.typing import Carry, Params


def fused_applies(params: Params, carry: Carry, xs: jax.Array) -> bool:
    """Whether a fused layer serves these operands: float32 or float64 throughout."""
    dtypes = {x.dtype for x in jax.tree.leaves((params, carry, xs))}
    return len(dtypes) == 1 and dtypes.pop() in (jnp.float32, jnp.float64)


def with_lengths(
    core: Callable[..., tuple[Carry, jax.Array]],
    params: Params,
    carry: Carry,
    xs_tbd: jax.Array,
    seq_lengths: jax.Array | None,
    unroll: int,
) -> tuple[Carry, jax.Array]:
    """Run ``core(params, carry, xs_tbd, lengths [B] int32, unroll)`` with every row's length
    (all ``T`` without ``seq_lengths``), and zero its outputs past each length: ``core``
    freezes a finished row's carry and repeats its last output, as its kernel does."""
    t_len, batch = xs_tbd.shape[:2]
    if seq_lengths is None:
        return core(params, carry, xs_tbd, jnp.full((batch,), t_len, jnp.int32), unroll)
    lengths = jnp.asarray(seq_lengths, jnp.int32)
    carry, hs = core(params, carry, xs_tbd, lengths, unroll)
    valid_tb1 = (jnp.arange(t_len, dtype=jnp.int32)[:, None] < lengths[None, :])[..., None]
    return carry, jnp.where(valid_tb1, hs, jnp.zeros_like(hs))


def per_step(xs_tbd: jax.Array, width: int) -> jax.ShapeDtypeStruct:
    """A ``[T, B, width]`` result of a loop over ``xs_tbd`` [T, B, D], in its dtype."""
    return jax.ShapeDtypeStruct((*xs_tbd.shape[:2], width), xs_tbd.dtype)


def previous(first: jax.Array, seq: jax.Array) -> jax.Array:
    """``seq`` [T, ...] shifted one step later in time, ``first`` at step 0: the step-``t``
    inputs ``h_{t-1}`` of a recurrence whose outputs are ``seq``."""
    return jnp.concatenate([first[None], seq[:-1]], axis=0)


def weight_grads(
    params: Params, xs_tbd: jax.Array, h_prev: jax.Array, dz: jax.Array
) -> tuple[dict[str, jax.Array], jax.Array]:
    """``({"wx", "wh", "b"} gradients, d xs)`` of ``z_t = x_t W_x + h_{t-1} W_h + b`` from
    ``dz`` [T, B, G]: both weights' gradients as one large matmul over all steps,
    ``[x_t, h_{t-1}]^T dz_t`` (one product of ``D + H`` rows runs faster than two thin
    ones), and the input's gradient as another."""
    d = xs_tbd.shape[-1]
    dz_ng = dz.reshape(-1, dz.shape[-1])
    xh = jnp.concatenate([xs_tbd, h_prev], axis=-1).reshape(dz_ng.shape[0], -1)
    d_w = xh.T @ dz_ng
    grads = {"wx": d_w[:d], "wh": d_w[d:], "b": dz_ng.sum(axis=0)}
    return grads, (dz_ng @ params["wx"].T).reshape(xs_tbd.shape)


def input_grads(
    wx: jax.Array, xs_tbd: jax.Array, dxw: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(d wx, d b, d xs)`` from the gradient ``dxw`` [T, B, G] of ``xs @ wx + b``: one large
    matmul per weight over all time steps."""
    dxw_ng = dxw.reshape(-1, dxw.shape[-1])
    d_wx = xs_tbd.reshape(-1, xs_tbd.shape[-1]).T @ dxw_ng
    return d_wx, dxw_ng.sum(axis=0), (dxw_ng @ wx.T).reshape(xs_tbd.shape)


def weight_grad(h_prev: jax.Array, da: jax.Array) -> jax.Array:
    """``sum_t h_prev_t^T da_t``: a recurrent weight's gradient as one matmul over all steps."""
    return h_prev.reshape(-1, h_prev.shape[-1]).T @ da.reshape(-1, da.shape[-1])
