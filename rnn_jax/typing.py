"""Notation and array aliases used across rnn_jax.

Dimension letters in shapes and in local names (``xs_btd``, ``h_bh``):

    B  batch            T  time steps        D  input features
    H  hidden units     G  gates x H         C  classes / outputs
    V  vocabulary

Public functions are batch-major (``[B, T, D]``); ``lax.scan`` runs time-major
(``[T, B, D]``) internally.
"""

from typing import Any, NamedTuple

import jax
from jaxtyping import Array, Float, Int

Params = Any  # a pytree (nested dicts / lists) of arrays
Carry = Any  # a cell's state: any pytree of [*B, ...] arrays (e.g. h, or LSTMCarry(h, c))
PRNGKey = jax.Array

Seq = Float[Array, "b t d"]
SeqOut = Float[Array, "b t h"]
Step = Float[Array, "*b d"]
Hidden = Float[Array, "*b h"]
Lengths = Int[Array, " b"]


class LSTMCarry(NamedTuple):
    """LSTM state: hidden output ``h`` and cell state ``c``, both ``[*B, H]``."""

    h: jax.Array
    c: jax.Array
