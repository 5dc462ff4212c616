"""Long-dependency problems, drawn from a key: the adding problem and the copy task, the
classic tests of whether a recurrent network carries information over many steps.

Each example is a pure function of its key (``jax.random.fold_in(key, i)`` for the i-th),
so a data set is a range of example numbers and any batch is drawn where it is used.
"""

import jax
import jax.numpy as jnp

from rnn_jax.typing import PRNGKey

ADDING_TOLERANCE = 0.04
"""An adding example counts as solved when its error is below this (Hochreiter &
Schmidhuber 1997)."""

COPY_SYMBOLS = 8  # symbols to remember: 1 .. 8
COPY_SPAN = 10  # how many of them
COPY_BLANK = 0
COPY_GO = COPY_SYMBOLS + 1  # the delimiter: "now write them back"
COPY_VOCAB = COPY_SYMBOLS + 2


def adding(key: PRNGKey, length: int) -> tuple[jax.Array, jax.Array]:
    """One adding-problem example (Hochreiter & Schmidhuber 1997, in the form of Le et al.
    2015): ``x [length, 2]``, a value drawn from U(0, 1) and a marker at every step; the
    marker is 1 at one step of the first half and one of the second, else 0. The target is
    the sum of the two marked values (a scalar).
    """
    if length < 2:
        raise ValueError(f"the adding problem needs at least 2 steps, got {length}")
    k_values, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_values, (length,))
    half = length // 2
    first = jax.random.randint(k_first, (), 0, half)
    second = jax.random.randint(k_second, (), half, length)
    steps = jnp.arange(length)
    marker = ((steps == first) | (steps == second)).astype(values.dtype)
    return jnp.stack([values, marker], axis=-1), values[first] + values[second]


def copy(key: PRNGKey, delay: int) -> tuple[jax.Array, jax.Array]:
    """One copy-task example (Arjovsky et al. 2016), ``delay + 2 * COPY_SPAN`` steps of
    symbols: ``COPY_SPAN`` symbols drawn from 1 .. ``COPY_SYMBOLS``, ``delay - 1`` blanks,
    the delimiter ``COPY_GO``, then ``COPY_SPAN`` blanks; the target is blank everywhere but
    the last ``COPY_SPAN`` steps, which repeat the symbols. Both are int32 ``[steps]``.
    """
    if delay < 1:
        raise ValueError(f"the copy task needs a delay of at least 1 step, got {delay}")
    symbols = jax.random.randint(key, (COPY_SPAN,), 1, COPY_SYMBOLS + 1)
    blanks = jnp.full((delay - 1,), COPY_BLANK, jnp.int32)
    span_blank = jnp.full((COPY_SPAN,), COPY_BLANK, jnp.int32)
    go = jnp.array([COPY_GO], jnp.int32)
    x = jnp.concatenate([symbols, blanks, go, span_blank])
    y = jnp.concatenate([span_blank, blanks, span_blank[:1], symbols])
    return x, y


def copy_memoryless_loss(delay: int) -> float:
    """Cross-entropy per step (nats) of the best model without memory: blanks where they
    are due, uniform guesses over the symbols in the last ``COPY_SPAN`` steps."""
    return COPY_SPAN * float(jnp.log(COPY_SYMBOLS)) / (delay + 2 * COPY_SPAN)


ADDING_CONSTANT_MSE = 1 / 6
"""Mean squared error of always answering 1, the mean of the target (its variance)."""
