"""Flax NNX modules over this project's cells: :class:`RecurrentCell` (any registered cell
as an ``nnx.RNNCellBase``), :class:`Recurrent` (a layer through :func:`rnn_jax.unroll`) and
:class:`Stack` (deep and bidirectional)."""

import rnn_jax.recurrent  # noqa: F401  (registers the cells)
from rnn_jax.nnx.cells import RecurrentCell
from rnn_jax.nnx.layers import Recurrent, Stack

__all__ = ["Recurrent", "RecurrentCell", "Stack"]
