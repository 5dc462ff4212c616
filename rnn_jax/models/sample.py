"""Autoregressive generation as ``lax.scan``: carry-forward and sliding-window rollouts.

Both run a model one output at a time and feed each output back in through a
``feedback`` function (identity for regression, a sigmoid for pixels,
:func:`greedy` or :func:`temperature` for tokens); the generation length is
static, so one rollout is one compiled loop.

* :func:`carry_forward`: the recurrent state is carried from step to step, so
  each new input costs one step of the model (``step(carry, x) -> (carry, y)``).
* :func:`sliding_window`: the model re-reads a fixed-length window for every new
  output; the oldest element drops out and the new one is appended (the course's
  way, for models trained on windows).
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Feedback = Callable[[jax.Array, jax.Array | None], jax.Array]  # (y, key) -> next input


def identity(y: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """Feed the output back unchanged (regression, forecasting)."""
    return y


def greedy(logits: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """The most likely token of ``logits [..., V]``, as int32 ids ``[...]``."""
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def temperature(t: float) -> Feedback:
    """Sample a token from ``softmax(logits / t)`` (needs a key per step)."""
    if t <= 0:
        raise ValueError(f"temperature must be positive, got {t}; use greedy for t -> 0")

    def sample(logits: jax.Array, key: jax.Array | None) -> jax.Array:
        return jax.random.categorical(key, logits / t).astype(jnp.int32)

    return sample


def _keys(key: jax.Array | None, length: int):
    return None if key is None else jax.random.split(key, length)


def carry_forward(
    step: Callable[[Any, jax.Array], tuple[Any, jax.Array]],
    carry: Any,
    y0: jax.Array,
    length: int,
    *,
    feedback: Feedback = identity,
    key: jax.Array | None = None,
) -> jax.Array:
    """Generate ``length`` inputs by carrying the state forward.

    ``y0 [B, ...]`` is the model's output after reading a prompt (whose final
    state is ``carry``). Each step turns the latest output into the next input,
    ``x_k = feedback(y_k, key_k)``, emits it and runs ``carry, y_{k+1} =
    step(carry, x_k)``.

    Returns:
      The emitted inputs ``[B, length, ...]``.
    """

    def body(state, key_k):
        carry, y = state
        x = feedback(y, key_k)
        carry, y = step(carry, x)
        return (carry, y), x

    _, xs = jax.lax.scan(body, (carry, y0), _keys(key, length), length=length)
    return jnp.swapaxes(xs, 0, 1)


def sliding_window(
    predict: Callable[[jax.Array], jax.Array],
    window: jax.Array,
    length: int,
    *,
    feedback: Feedback = identity,
    key: jax.Array | None = None,
) -> jax.Array:
    """Generate ``length`` elements by sliding a window over the model's own outputs.

    ``window [B, W, ...]``; each step computes ``x = feedback(predict(window), key_k)``
    (``predict`` reads the whole window), emits it, and slides it in:
    ``window = [window[:, 1:], x]``.

    Returns:
      The emitted elements ``[B, length, ...]``.
    """

    def body(window, key_k):
        x = feedback(predict(window), key_k).astype(window.dtype)
        return jnp.concatenate([window[:, 1:], x[:, None]], axis=1), x

    _, xs = jax.lax.scan(body, window, _keys(key, length), length=length)
    return jnp.swapaxes(xs, 0, 1)
