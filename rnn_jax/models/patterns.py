"""The four input/output patterns of the course over a stack and an MLP head.

seq2vec (:func:`seq_to_vec`), seq2seq (:func:`seq_to_seq`), vec2seq
(:func:`vec_to_seq`) and the delayed seq2seq encoder-decoder
(:func:`encoder_decoder`).
"""

import jax
import jax.numpy as jnp

from rnn_jax.nn.dense import mlp_apply
from rnn_jax.recurrent.cells import Cell
from rnn_jax.recurrent.stack import last_valid, stack_apply
from rnn_jax.typing import Lengths, Params


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
