"""Deep (stacked) and bidirectional RNNs over any registered cell.

A stack's params are a list of per-layer cell params; a bidirectional layer's
a dict ``{"fwd": ..., "bwd": ...}``.
"""

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from rnn_jax.nn.dense import dropout_apply
from rnn_jax.recurrent.cells import Cell
from rnn_jax.recurrent.scan import unroll
from rnn_jax.typing import Carry, Lengths, Params, PRNGKey


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
      **unroll_kw: ``reverse``, ``unroll``, ``hoist``, ``path`` for :func:`unroll`.

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


def is_bidirectional(layer: Params) -> bool:
    """Whether a stack's layer params are a bidirectional layer's ``{"fwd", "bwd"}``."""
    return isinstance(layer, Mapping) and set(layer) == {"fwd", "bwd"}


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


def last_valid(ys_bth: jax.Array, seq_lengths: Lengths | None = None) -> jax.Array:
    """Output at each sequence's last valid step ``[B, H]`` (the last step without lengths)."""
    if seq_lengths is None:
        return ys_bth[:, -1]
    idx = jnp.clip(seq_lengths - 1, 0, ys_bth.shape[1] - 1)
    return jnp.take_along_axis(ys_bth, idx[:, None, None], axis=1)[:, 0]
