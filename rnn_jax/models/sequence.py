"""A sequence model: optional input projection, a deep RNN, an MLP head.

:class:`SequenceModel` is a frozen (hashable) description; its params are a
plain dict ``{"proj": ..., "rnn": [...], "head": [...]}``.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.errors import ConfigError
from rnn_jax.nn import dense
from rnn_jax.recurrent import stack
from rnn_jax.recurrent.cells import Cell, get_cell
from rnn_jax.typing import Carry, Lengths, Params, PRNGKey


@dataclass(frozen=True)
class SequenceModel:
    """``xs [B, T, in_dim]`` -> (linear ``input_proj``) -> RNN ``hidden`` -> MLP ``head``.

    Attributes:
      in_dim: features per time step.
      out_dim: outputs of the head.
      cell: a registered cell's name (``rnn_jax.recurrent.cells.CELLS``).
      hidden: hidden size of each RNN layer.
      input_proj: width of a linear input layer before the RNN; 0 for none.
      head: hidden widths of the MLP head (relu between layers).
      dropout: drop rate between RNN layers and before the head, during training.
    """

    in_dim: int
    out_dim: int
    cell: str = "lstm"
    hidden: tuple[int, ...] = (128,)
    input_proj: int = 0
    head: tuple[int, ...] = ()
    dropout: float = 0.0

    def __post_init__(self):
        get_cell(self.cell)  # fail early on a bad name
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden must list one positive size per layer, got {self.hidden}")

    @property
    def rnn_cell(self) -> Cell:
        return get_cell(self.cell)

    def init(self, key: PRNGKey) -> Params:
        kp, kr, kh = jax.random.split(key, 3)
        rnn_in = self.input_proj or self.in_dim
        params = {
            "rnn": stack.stack_init(kr, self.rnn_cell, rnn_in, self.hidden),
            "head": dense.mlp_init(kh, [self.hidden[-1], *self.head, self.out_dim]),
        }
        if self.input_proj:
            params["proj"] = dense.linear_init(kp, self.in_dim, self.input_proj)
        return params

    def init_carries(self, params: Params, batch: int) -> list[Carry]:
        """Zero carries of every layer for ``batch`` sequences."""
        return [self.rnn_cell.init_carry(p, (batch,)) for p in params["rnn"]]

    def features(
        self,
        params: Params,
        xs: jax.Array,
        *,
        carries: list[Carry] | None = None,
        seq_lengths: Lengths | None = None,
        key: PRNGKey | None = None,
    ) -> tuple[list[Carry], jax.Array]:
        """Top RNN layer outputs ``[B, T, H]`` and per-layer final carries.

        With a ``key`` (training), dropout between the RNN layers; the dropout
        before the head is :meth:`apply_last`'s and :meth:`apply_seq`'s, on the
        outputs the head reads.
        """
        if "proj" in params:
            xs = dense.linear_apply(params["proj"], xs)
        return stack.stack_apply(
            self.rnn_cell,
            params["rnn"],
            xs,
            carries=carries,
            seq_lengths=seq_lengths,
            dropout=self.dropout if key is not None else 0.0,
            key=key,
        )

    def step(
        self, params: Params, carries: list[Carry], x_t: jax.Array
    ) -> tuple[list[Carry], jax.Array]:
        """One time step through every layer and the head: ``x_t [B, in] -> [B, out]``.

        The body of autoregressive rollouts (``lax.scan`` over generated steps).
        """
        if "proj" in params:
            x_t = dense.linear_apply(params["proj"], x_t)
        new = []
        for p, carry in zip(params["rnn"], carries):
            carry, x_t = self.rnn_cell.step(p, carry, x_t)
            new.append(carry)
        return new, self.head_apply(params, x_t)

    def warm_up(self, params: Params, xs: jax.Array) -> tuple[list[Carry], jax.Array]:
        """Read a prompt ``xs [B, T, in]``: the final carries and the head's output after its
        last step ``[B, out]``, where a rollout (:func:`sample.carry_forward`) starts."""
        carries, ys = self.features(params, xs)
        return carries, self.head_apply(params, ys[:, -1])

    def head_apply(self, params: Params, h: jax.Array) -> jax.Array:
        return dense.mlp_apply(params["head"], h)

    def _train_head(self, params: Params, h: jax.Array, key: PRNGKey | None) -> jax.Array:
        """The head, after dropout on its input when training (a ``key``)."""
        if key is not None and self.dropout:
            h = dense.dropout_apply(key, h, self.dropout)
        return self.head_apply(params, h)

    def apply_last(
        self,
        params: Params,
        xs: jax.Array,
        *,
        seq_lengths: Lengths | None = None,
        key: PRNGKey | None = None,
    ) -> jax.Array:
        """Sequence to vector: the head on each sequence's last valid output, ``[B, out]``.

        Training dropout before the head masks only those outputs (not all ``T``).
        """
        rnn_key, head_key = (None, None) if key is None else jax.random.split(key)
        _, ys = self.features(params, xs, seq_lengths=seq_lengths, key=rnn_key)
        return self._train_head(params, stack.last_valid(ys, seq_lengths), head_key)

    def apply_seq(self, params: Params, xs: jax.Array, *, key: PRNGKey | None = None) -> jax.Array:
        """Sequence to sequence: the head at every step, ``[B, T, out]``."""
        rnn_key, head_key = (None, None) if key is None else jax.random.split(key)
        _, ys = self.features(params, xs, key=rnn_key)
        return self._train_head(params, ys, head_key)


def count_params(params: Params) -> int:
    return sum(int(jnp.size(x)) for x in jax.tree.leaves(params))
