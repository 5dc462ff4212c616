"""What counts as right on the embedded Reber tasks (:mod:`experiments.reber`): a string is
solved when every predicted set of next symbols is the legal set; the long-range step is
the prediction of the repeated symbol; accuracies are reported per bin of inner lengths."""

import jax
import jax.numpy as jnp
import numpy as np


def prediction_masks(length: jax.Array, steps: int) -> tuple[jax.Array, jax.Array]:
    """``[B, T]`` masks: steps whose next symbol is predicted (all but the final E and the
    padding), and the long-range step (after the inner string's E)."""
    t = jnp.arange(steps)[None, :]
    return t < length[:, None] - 1, t == length[:, None] - 3


def prediction_scores(
    logits: jax.Array, legal: jax.Array, length: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Per string ``[B]``: solved (every predicted set of next symbols, logit > 0, is the
    legal set) and whether the long-range step's set is right; padding is ignored."""
    steps, at_long = prediction_masks(length, logits.shape[1])
    sets_right = jnp.all((logits > 0) == (legal > 0.5), axis=-1)
    return jnp.all(sets_right | ~steps, axis=1), jnp.any(sets_right & at_long, axis=1)


def by_length(values: np.ndarray, inner: np.ndarray, lengths: tuple[int, int], bucket: int) -> list:
    """Means of ``values`` per bin of ``bucket`` inner lengths from ``lengths[0]`` to
    ``lengths[1]`` (None: an empty bin)."""
    out = []
    for lo in range(lengths[0], lengths[1] + 1, bucket):
        picked = values[(inner >= lo) & (inner < lo + bucket)]
        out.append(float(picked.mean()) if len(picked) else None)
    return out


def balanced(grammatical: list, swapped: list, *_) -> list:
    """Per length bin, the mean of the accuracies on grammatical and on swapped strings:
    0.5 is chance for a model without long-range memory."""
    return [None if None in (g, s) else (g + s) / 2 for g, s in zip(grammatical, swapped)]
