"""Sequences through this project's :func:`rnn_jax.unroll` for NNX models: a layer
(:class:`Recurrent`, ``nnx.RNN``'s counterpart) and a deep, optionally bidirectional stack
(:class:`Stack`, the NNX face of :mod:`rnn_jax.recurrent.stack`).

Unlike ``nnx.RNN``'s scan of the cell module, these pick the cell's fastest path that
applies (the fused layers and their CPU kernel, parallel scans) and take ``seq_lengths``
as ``unroll`` does: past its length a sequence's carry is frozen and its outputs are zero.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from rnn_jax.nnx.cells import RecurrentCell, as_cell, hidden_size
from rnn_jax.recurrent.cells import Cell
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import bidirectional_apply, is_bidirectional
from rnn_jax.typing import Carry, Lengths, Params


class Recurrent(nnx.Module):
    """Run a :class:`RecurrentCell` over ``[B, T, D]`` inputs (``[T, B, D]`` if time-major).

    ``reverse`` runs from each sequence's last valid step back; outputs stay aligned with
    the inputs (``nnx.RNN``'s ``keep_order=True``). ``path`` picks one of ``unroll``'s
    paths by name (``"scan"``, ``"fused"``, ...); by default the fastest that applies.
    """

    def __init__(
        self,
        cell: RecurrentCell,
        *,
        time_major: bool = False,
        reverse: bool = False,
        return_carry: bool = False,
        unroll: int = 1,
        path: str | None = None,
    ):
        self.cell = cell
        self.time_major = time_major
        self.reverse = reverse
        self.return_carry = return_carry
        self.unroll = unroll
        self.path = path

    def __call__(
        self,
        inputs: jax.Array,
        *,
        initial_carry: Carry | None = None,
        seq_lengths: Lengths | None = None,
        return_carry: bool | None = None,
        reverse: bool | None = None,
    ):
        """Outputs ``[B, T, H]``, or ``(final_carry, outputs)`` with ``return_carry``."""
        carry, ys = unroll(
            self.cell.cell,
            self.cell.pure(),
            inputs,
            carry=initial_carry,
            seq_lengths=seq_lengths,
            reverse=self.reverse if reverse is None else reverse,
            time_major=self.time_major,
            unroll=self.unroll,
            path=self.path,
        )
        return (carry, ys) if (self.return_carry if return_carry is None else return_carry) else ys


class Stack(nnx.Module):
    """Layers of one cell, each layer's outputs the next one's inputs (``[B, T, D]`` in,
    ``[B, T, H]`` out, ``2H`` if bidirectional), with dropout between layers.

    :meth:`pure` gives the stack's params as :mod:`rnn_jax.recurrent.stack` and
    :mod:`rnn_jax.convert` lay them out (a list per layer, ``{"fwd", "bwd"}`` when
    bidirectional), and :meth:`from_params` builds a stack from them.
    """

    def __init__(
        self,
        cell: str | Cell,
        in_features: int,
        hidden_sizes: Sequence[int],
        *,
        bidirectional: bool = False,
        dropout: float = 0.0,
        param_dtype=jnp.float32,
        path: str | None = None,
        rngs: nnx.Rngs | None = None,
        params: Sequence[Params] | None = None,
    ):
        """Fresh params from ``rngs``, or the given per-layer pure ``params`` (see
        :meth:`from_params`); ``rngs`` also draws the dropout masks."""
        cell = as_cell(cell)
        widths = [in_features] + [h * (2 if bidirectional else 1) for h in hidden_sizes]
        if params is not None and len(params) != len(hidden_sizes):
            raise ValueError(f"got params for {len(params)} layers, not {len(hidden_sizes)}")
        if dropout > 0 and rngs is None:
            raise ValueError("dropout > 0 needs rngs= for its masks")

        def layer(k: int):
            def one(direction: str | None):
                own = None if params is None else params[k]
                own = own if direction is None or own is None else own[direction]
                return RecurrentCell(
                    cell, widths[k], hidden_sizes[k], param_dtype=param_dtype, rngs=rngs, params=own
                )

            return nnx.Dict(fwd=one("fwd"), bwd=one("bwd")) if bidirectional else one(None)

        self.cell = nnx.static(cell)
        self.layers = nnx.List([layer(k) for k in range(len(hidden_sizes))])
        self.path = path
        self.dropout = nnx.Dropout(dropout, rngs=rngs) if dropout > 0 else None

    @classmethod
    def from_params(
        cls, cell: str | Cell, layers: Sequence[Params], *, dropout: float = 0.0, rngs=None
    ) -> "Stack":
        """A stack holding these pure per-layer params (e.g. ``convert.from_torch``'s);
        ``rngs`` is needed for dropout only."""
        cell = as_cell(cell)
        bidirectional = is_bidirectional(layers[0])
        ones = [layer["fwd"] if bidirectional else layer for layer in layers]
        return cls(
            cell,
            cell.input_size(ones[0]),
            [hidden_size(cell, p) for p in ones],
            bidirectional=bidirectional,
            dropout=dropout,
            rngs=rngs,
            params=layers,
        )

    def pure(self) -> list[Params]:
        """Per-layer pure params (``{"fwd", "bwd"}`` for a bidirectional layer)."""
        return [_layer_params(layer) for layer in self.layers]

    def __call__(
        self, inputs: jax.Array, *, seq_lengths: Lengths | None = None, deterministic=None
    ) -> jax.Array:
        """Top layer's outputs ``[B, T, H]`` (``2H``: forward then backward features)."""
        xs = inputs
        for k, layer in enumerate(self.layers):
            if k > 0 and self.dropout is not None:
                xs = self.dropout(xs, deterministic=deterministic)
            run = bidirectional_apply if isinstance(layer, nnx.Dict) else unroll
            _, xs = run(
                self.cell, _layer_params(layer), xs, seq_lengths=seq_lengths, path=self.path
            )
        return xs


def _layer_params(layer: RecurrentCell | nnx.Dict) -> Params:
    """A layer's pure params: ``{"fwd", "bwd"}`` for a bidirectional one."""
    if isinstance(layer, nnx.Dict):
        return {direction: cell.pure() for direction, cell in layer.items()}
    return layer.pure()
