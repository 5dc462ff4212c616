"""How far back a loss reaches: the norm of ``dL/dh_t`` against the distance to the loss,
the quantity behind the vanishing- and exploding-gradient story of plain RNNs.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from rnn_jax.recurrent.cells import Cell
from rnn_jax.typing import Params


def state_gradient_norms(
    cell: Cell,
    params: Params,
    us: jax.Array,
    losses: Callable[[jax.Array], jax.Array],
) -> jax.Array:
    """``||dL/dh_{T-d}||`` for ``d = 1 .. T``, the mean over a batch of sequences.

    ``h_k`` is the cell's whole state (every leaf of its carry: ``(h, c)`` for an LSTM, the
    real and imaginary parts for the LRU) after ``k`` of the ``T`` inputs, and ``L`` each
    sequence's loss. The gradient is taken against a zero perturbation added to the state
    before each step (the generic step, :attr:`Cell.step`), so ``h_k`` reaches the loss
    through every later step: entry ``d - 1`` is the state ``d`` steps before the end.

    Args:
      cell: the recurrent layer's cell.
      params: its parameters.
      us: its inputs ``[B, T, D]``.
      losses: ``ys [B, T, H] -> [B]``, each sequence's loss from the layer's outputs.

    Returns:
      ``[T]`` float32, by distance ``d = 1 .. T``.
    """
    b, t, _ = us.shape
    carry0 = cell.init_carry(params, (b,))
    zeros = jax.tree.map(lambda c: jnp.zeros((t, *c.shape), c.dtype), carry0)

    def total_loss(perturbations):
        def body(carry, step_in):
            x_t, nudge = step_in
            return cell.step(params, jax.tree.map(jnp.add, carry, nudge), x_t)

        _, ys = jax.lax.scan(body, carry0, (jnp.swapaxes(us, 0, 1), perturbations))
        return jnp.sum(losses(jnp.swapaxes(ys, 0, 1)))  # sequences are independent

    grads = jax.grad(total_loss)(zeros)
    squares = sum(
        jnp.sum(jnp.square(g.astype(jnp.float32)), axis=-1) for g in jax.tree.leaves(grads)
    )
    return jnp.flip(jnp.mean(jnp.sqrt(squares), axis=1))  # [T] by step -> by distance
