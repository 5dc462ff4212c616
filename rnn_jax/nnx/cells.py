"""Any registered cell as a Flax NNX module: :class:`RecurrentCell`.

It subclasses ``nnx.RNNCellBase``, so ``nnx.RNN``, ``nnx.Bidirectional`` and ``nnx.scan``
take it as they take Flax's own cells. Its parameters are the pure cell's pytree with an
``nnx.Param`` at each leaf (``cell.params["wx"]``, ...), so the pure functions, the
converters (:mod:`rnn_jax.convert`) and NNX's optimizers and checkpoints see the same arrays.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from rnn_jax.recurrent.cells import Cell, get_cell
from rnn_jax.typing import Carry, Params


def as_cell(cell: str | Cell) -> Cell:
    """The registered cell named ``cell``, or ``cell`` itself."""
    return get_cell(cell) if isinstance(cell, str) else cell


def hidden_size(cell: Cell, params: Params) -> int:
    """The width of a cell's state (its carry's last axis), read from its params' shapes."""
    carry = jax.eval_shape(lambda p: cell.init_carry(p, (1,)), params)
    return jax.tree.leaves(carry)[0].shape[-1]


def param_tree(params: Params) -> Params:
    """A pure params pytree with each leaf wrapped in an ``nnx.Param``."""
    return nnx.data(jax.tree.map(nnx.Param, params))


def pure_params(tree: Params) -> Params:
    """The arrays of a tree of ``nnx.Param`` leaves (:func:`param_tree`'s inverse)."""
    return jax.tree.map(lambda v: v[...], tree, is_leaf=lambda v: isinstance(v, nnx.Variable))


class RecurrentCell(nnx.RNNCellBase):
    """One step of a registered cell (``"lstm"``, ``"gru_reset_after"``, ``"minlstm"``, ...).

    ``carry, y = cell(carry, x_t)`` is the pure ``cell.step``; ``initialize_carry`` gives
    the pure ``init_carry``'s zeros (the LSTM's carry is ``LSTMCarry(h, c)``, Flax's ``(c,
    h)``). Run it over a sequence with :class:`rnn_jax.nnx.Recurrent` for this project's
    fast paths (fused layers, CPU kernel, parallel scans), or with ``nnx.RNN`` as any cell.
    """

    def __init__(
        self,
        cell: str | Cell,
        in_features: int,
        hidden_features: int,
        *,
        param_dtype=jnp.float32,
        rngs: nnx.Rngs | None = None,
        params: Params | None = None,
    ):
        """Fresh params from ``rngs.params()``, or the given pure ``params`` (which must fit
        ``in_features`` and ``hidden_features``; see :meth:`from_params`)."""
        cell = as_cell(cell)
        if params is None:
            if rngs is None:
                raise ValueError("RecurrentCell needs rngs= to draw its params (or params=)")
            params = cell.init(rngs.params(), in_features, hidden_features, dtype=param_dtype)
        elif (cell.input_size(params), hidden_size(cell, params)) != (in_features, hidden_features):
            raise ValueError(
                f"these {cell.name} params map {cell.input_size(params)} features to "
                f"{hidden_size(cell, params)} units, not {in_features} to {hidden_features}"
            )
        self.cell = nnx.static(cell)
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.params = param_tree(jax.tree.map(jnp.asarray, params))

    @classmethod
    def from_params(cls, cell: str | Cell, params: Params) -> "RecurrentCell":
        """A module holding these pure params (e.g. from :mod:`rnn_jax.convert`)."""
        cell = as_cell(cell)
        return cls(cell, cell.input_size(params), hidden_size(cell, params), params=params)

    def pure(self) -> Params:
        """The pure params pytree, as ``cell.step`` and :func:`rnn_jax.unroll` take it."""
        return pure_params(self.params)

    def __call__(self, carry: Carry, inputs: jax.Array) -> tuple[Carry, jax.Array]:
        return self.cell.step(self.pure(), carry, inputs)

    def initialize_carry(self, input_shape: tuple[int, ...], rngs=None, carry_init=None) -> Carry:
        """Zeros for inputs shaped ``input_shape`` (``[*B, D]``); ``rngs`` is unused, and a
        ``carry_init`` other than zeros is refused (the cell's carry has its own dtypes)."""
        if carry_init is not None:
            raise ValueError(
                "RecurrentCell's carry starts at zeros; pass initial_carry= to the RNN instead"
            )
        return self.cell.init_carry(self.pure(), tuple(input_shape[:-1]))

    @property
    def num_feature_axes(self) -> int:
        return 1
