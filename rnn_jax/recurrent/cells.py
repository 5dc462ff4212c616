"""The cell contract and the registry of cells.

A cell is what it does, not what its parameters are called: a :class:`Cell` bundles
pure functions over a parameter pytree whose layout only the cell knows::

    params        = cell.init(key, in_dim, hidden, dtype=...)
    carry         = cell.init_carry(params, batch_shape)   # zeros, widths from params
    carry, h_t    = cell.step(params, carry, x_t)          # the lax.scan body
    cell.input_size(params) == in_dim                      # for shape checks

:func:`rnn_jax.recurrent.scan.unroll` runs any such cell over time. A cell may
offer more: a split step (``project`` all inputs at once, then ``recur``) that
``unroll`` can hoist out of the loop, and layer-level fast paths
(:class:`LayerPath`, e.g. the LSTM's CPU kernel) that ``unroll`` picks where they
apply. A new cell is one module that builds a ``Cell`` and calls :func:`register`.
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax

from rnn_jax.errors import ConfigError
from rnn_jax.typing import Carry, Hidden, Params, Step


@dataclass(frozen=True, kw_only=True)
class LayerPath:
    """A cell's own way over a whole sequence, equal in value to scanning its step.

    Attributes:
      name: what ``unroll(..., path=name)`` asks for.
      run: ``(params, carry, xs [T, B, D], seq_lengths [B] | None, unroll) -> (carry, ys
        [T, B, H])`` with the generic scan's semantics (past a sequence's length its
        carry is frozen and its outputs are zero).
      applies: ``(params, carry, xs) -> bool``: whether ``run`` serves these operands
        (dtypes, backend); ``unroll`` takes the first path that applies.
    """

    name: str
    run: Callable[..., tuple[Carry, jax.Array]]
    applies: Callable[[Params, Carry, jax.Array], bool]


@dataclass(frozen=True, kw_only=True)
class Cell:
    """A recurrent cell as pure functions (in the spirit of ``stax``).

    Attributes:
      name: registry name (``get_cell(name)``) and ``--model.cell`` value.
      about: a few words for the command line's help.
      init: ``(key, in_dim, hidden, *, dtype) -> params``.
      init_carry: ``(params, batch_shape) -> carry`` of zeros for that batch.
      step: ``(params, carry, x_t [*B, D]) -> (carry, h_t [*B, H])``.
      input_size: ``params -> D``, the features a step reads.
      project, recur: optional split of ``step`` into its input half
        ``(params, x [..., D]) -> xw`` and its recurrent half ``(params, carry, xw_t)``,
        so that ``unroll`` can project all steps in one matmul.
      paths: optional :class:`LayerPath` fast paths, in order of preference.
      jacobian_diagonal: optional ``(params, carry, xw_t) -> d carry_t / d carry_{t-1}``'s
        diagonal, shaped like the carry, for a split cell (``xw_t`` is ``project``'s output):
        what parallel evaluation by quasi-Newton steps needs (:mod:`.deer`), in about a
        step's arithmetic; without it, one Jacobian-vector product per state unit.
    """

    name: str
    about: str
    init: Callable[..., Params]
    init_carry: Callable[[Params, tuple[int, ...]], Carry]
    step: Callable[[Params, Carry, Step], tuple[Carry, Hidden]]
    input_size: Callable[[Params], int]
    project: Callable[[Params, jax.Array], jax.Array] | None = None
    recur: Callable[[Params, Carry, jax.Array], tuple[Carry, Hidden]] | None = None
    paths: tuple[LayerPath, ...] = ()
    jacobian_diagonal: Callable[[Params, Carry, jax.Array], Carry] | None = None


def split_step(
    project: Callable[[Params, jax.Array], jax.Array],
    recur: Callable[[Params, Carry, jax.Array], tuple[Carry, Hidden]],
) -> Callable[[Params, Carry, Step], tuple[Carry, Hidden]]:
    """The step of a split cell: ``recur(params, carry, project(params, x_t))``."""

    def step(params: Params, carry: Carry, x_t: Step) -> tuple[Carry, Hidden]:
        return recur(params, carry, project(params, x_t))

    return step


CELLS: dict[str, Cell] = {}


def register(cell: Cell) -> Cell:
    """Add ``cell`` to the registry under its name (what ``--model.cell`` accepts).

    Raises:
      ValueError: if another cell already has that name.
    """
    if CELLS.get(cell.name, cell) is not cell:
        raise ValueError(f"a cell named {cell.name!r} is registered already")
    CELLS[cell.name] = cell
    return cell


def get_cell(name: str) -> Cell:
    """The cell registered under ``name``.

    Raises:
      ConfigError: for an unknown name, listing the known ones.
    """
    if name not in CELLS:
        raise ConfigError(f"unknown cell {name!r}; choose one of {sorted(CELLS)}")
    return CELLS[name]


def describe() -> str:
    """The registered cells as the command line's help lists them."""
    return "Recurrent cell: " + ", ".join(f"{c.name} ({c.about})" for c in CELLS.values()) + "."
