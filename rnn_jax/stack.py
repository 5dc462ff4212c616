"""Deep (stacked) and bidirectional RNNs, dense heads, and the four input/output patterns.

All params are plain pytrees: a stack is a list of per-layer cell params, a
head a dict (linear) or a list of dicts (MLP).
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from rnn_jax.cells import Cell
from rnn_jax.scan import unroll
from rnn_jax.typing import Carry, Lengths, Params, PRNGKey

# --- dense heads ----------------------------------------------------------------


def linear_init(key: PRNGKey, in_dim: int, out_dim: int, *, dtype=jnp.float32) -> Params:
    """Dense layer params: lecun-normal ``w`` [in, out], zero ``b`` [out]."""
    w = jax.nn.initializers.lecun_normal()(key, (in_dim, out_dim), dtype)
    return {"w": w, "b": jnp.zeros((out_dim,), dtype)}


def linear_apply(params: Params, x: jax.Array) -> jax.Array:
    """``x @ w + b`` over the last axis (any leading axes: batch, time, ...)."""
    y = x @ params["w"]
    return y + jnp.broadcast_to(params["b"], y.shape)


def mlp_init(key: PRNGKey, sizes: Sequence[int], *, dtype=jnp.float32) -> list[Params]:
    """An MLP ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` as a list of linear layers."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [linear_init(k, a, b, dtype=dtype) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def mlp_apply(params: list[Params], x: jax.Array) -> jax.Array:
    """Linear layers with relu between them (none after the last)."""
    for layer in params[:-1]:
        x = jax.nn.relu(linear_apply(layer, x))
    return linear_apply(params[-1], x)


# --- stacks ---------------------------------------------------------------------


def dropout_apply(key: PRNGKey, x: jax.Array, rate: float) -> jax.Array:
    """Inverted dropout: zero a ``rate`` fraction of ``x``, scale the rest by ``1/(1-rate)``."""
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


def stack_init(
    key: PRNGKey, cell: Cell, in_dim: int, hiddens: Sequence[int], *, dtype=jnp.float32
) -> list[Params]:
    """Params of a deep RNN: layer ``k`` maps ``hiddens[k-1]`` (or ``in_dim``) to ``hiddens[k]``."""
    keys = jax.random.split(key, len(hiddens))
    dims = [in_dim, *hiddens]
    return [cell.init(k, a, b, dtype=dtype) for k, a, b in zip(keys, dims[:-1], dims[1:])]


def stack_apply(
    cell: Cell,
    params: list[Params],
    xs: jax.Array,
    *,
    carries: Sequence[Carry] | None = None,
    seq_lengths: Lengths | None = None,
    dropout: float = 0.0,
    key: PRNGKey | None = None,
    **unroll_kw,
) -> tuple[list[Carry], jax.Array]:
    """Run a deep RNN: each layer's outputs are the next layer's inputs.

    Args:
      cell: the cell used by every layer.
      params: per-layer params (from :func:`stack_init`).
      xs: ``[B, T, D]`` inputs.
      carries: per-layer initial carries; zeros when omitted.
      seq_lengths: ``[B]`` valid lengths, passed to every layer.
      dropout: drop rate between layers (training only; needs ``key``).
      key: PRNG key for dropout.
      **unroll_kw: ``reverse``, ``unroll``, ``hoist``, ``fused`` for :func:`unroll`.

    Returns:
      ``(per-layer final carries, top layer outputs [B, T, H])``.
    """
    if carries is not None and len(carries) != len(params):
        raise ValueError(f"got {len(carries)} carries for a stack of {len(params)} layers")
    if dropout > 0.0 and key is None:
        raise ValueError("dropout > 0 needs a PRNG key (pass key=..., or dropout=0 at eval)")
    if xs.ndim != 3:
        raise ValueError(f"stack_apply expects [batch, time, features], got shape {xs.shape}")
    # Time-major between layers: one transpose each way for the stack, not two per layer.
    xs = jnp.swapaxes(xs, 0, 1)
    finals = []
    for layer, p in enumerate(params):
        if layer > 0 and dropout > 0.0:
            key, sub = jax.random.split(key)
            xs = dropout_apply(sub, xs, dropout)
        carry = None if carries is None else carries[layer]
        carry, xs = unroll(
            cell, p, xs, carry=carry, seq_lengths=seq_lengths, time_major=True, **unroll_kw
        )
        finals.append(carry)
    return finals, jnp.swapaxes(xs, 0, 1)


def bidirectional_init(
    key: PRNGKey, cell: Cell, in_dim: int, hidden: int, *, dtype=jnp.float32
) -> Params:
    """Params of a forward and a backward layer: ``{"fwd": ..., "bwd": ...}``."""
    kf, kb = jax.random.split(key)
    return {
        "fwd": cell.init(kf, in_dim, hidden, dtype=dtype),
        "bwd": cell.init(kb, in_dim, hidden, dtype=dtype),
    }


def bidirectional_apply(
    cell: Cell, params: Params, xs: jax.Array, *, seq_lengths: Lengths | None = None, **unroll_kw
) -> tuple[tuple[Carry, Carry], jax.Array]:
    """Forward and backward passes concatenated per step: ``ys`` is ``[B, T, 2H]``.

    The backward pass reverses each sequence within its valid length, so padded
    batches give the same outputs as unpadded ones.
    """
    cf, yf = unroll(cell, params["fwd"], xs, seq_lengths=seq_lengths, **unroll_kw)
    cb, yb = unroll(cell, params["bwd"], xs, seq_lengths=seq_lengths, reverse=True, **unroll_kw)
    return (cf, cb), jnp.concatenate([yf, yb], axis=-1)


# --- input/output patterns ------------------------------------------------------


def last_valid(ys_bth: jax.Array, seq_lengths: Lengths | None = None) -> jax.Array:
    """Output at each sequence's last valid step ``[B, H]`` (the last step without lengths)."""
    if seq_lengths is None:
        return ys_bth[:, -1]
    idx = jnp.clip(seq_lengths - 1, 0, ys_bth.shape[1] - 1)
    return jnp.take_along_axis(ys_bth, idx[:, None, None], axis=1)[:, 0]


def seq_to_vec(
    cell: Cell, params: Params, xs: jax.Array, *, seq_lengths: Lengths | None = None, **kw
) -> jax.Array:
    """Sequence to vector: the head reads the top layer's last valid output. ``[B, C]``.

    ``params`` is ``{"rnn": [...], "head": [...]}`` (a stack and an MLP).
    """
    _, ys = stack_apply(cell, params["rnn"], xs, seq_lengths=seq_lengths, **kw)
    return mlp_apply(params["head"], last_valid(ys, seq_lengths))


def seq_to_seq(
    cell: Cell, params: Params, xs: jax.Array, *, seq_lengths: Lengths | None = None, **kw
) -> jax.Array:
    """Sequence to sequence: the head projects every step's output. ``[B, T, C]``."""
    _, ys = stack_apply(cell, params["rnn"], xs, seq_lengths=seq_lengths, **kw)
    return mlp_apply(params["head"], ys)


def vec_to_seq(cell: Cell, params: Params, x_bd: jax.Array, steps: int, **kw) -> jax.Array:
    """Vector to sequence: the input vector is fed at each of ``steps`` steps. ``[B, T, C]``."""
    xs = jnp.broadcast_to(x_bd[:, None, :], (x_bd.shape[0], steps, x_bd.shape[-1]))
    return seq_to_seq(cell, params, xs, **kw)


def encoder_decoder(
    cell: Cell,
    params: Params,
    xs: jax.Array,
    decoder_inputs: jax.Array,
    *,
    seq_lengths: Lengths | None = None,
    **kw,
) -> jax.Array:
    """Delayed sequence to sequence: the encoder reads ``xs``, its final carries start the decoder.

    ``params`` is ``{"encoder": [...], "decoder": [...], "head": [...]}`` with
    stacks of equal depth and widths. ``decoder_inputs`` ``[B, T', D']`` are
    e.g. the targets shifted right (teacher forcing). Returns ``[B, T', C]``.
    """
    carries, _ = stack_apply(cell, params["encoder"], xs, seq_lengths=seq_lengths, **kw)
    _, ys = stack_apply(cell, params["decoder"], decoder_inputs, carries=carries, **kw)
    return mlp_apply(params["head"], ys)
