"""What counts as right on clips of moving digits (:mod:`experiments.video`): the set of
digits, each present digit's direction, and in two-digit clips the digit seen first; a
clip is right when all three are."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.data import moving
from rnn_jax.training import batching

ARROWS = "→↗↑↖←↙↓↘"  # the eight directions, counter-clockwise from east


def per_clip(
    digits: jax.Array, directions: jax.Array, first: jax.Array, targets: dict[str, jax.Array]
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Per clip ``[B]``, from the logits of the digits ``[B, 10]``, the directions
    ``[B, 10, D]`` and the digit first ``[B, 10]`` against :func:`rnn_jax.data.moving.
    targets`: digits right, directions right, directions counted, first digit right."""
    digits_right = jnp.all((digits > 0) == (targets["present"] > 0.5), axis=1)
    shown = targets["direction"] >= 0
    dir_right = jnp.sum((jnp.argmax(directions, -1) == targets["direction"]) & shown, axis=1)
    first_right = jnp.argmax(first, -1) == targets["first"]
    return digits_right, dir_right, jnp.sum(shown, axis=1), first_right


def score(scores: Callable, params, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per clip of ``arrays``, by ``scores(params, batch)`` (:func:`per_clip`'s four): digits
    right, directions right and counted, first digit right, whether it has two digits,
    and whether every head is right."""
    digits, dirs, shown, first = batching.in_chunks(lambda b: scores(params, b), arrays, 250)
    two = arrays["first"] >= 0
    clip = digits & (dirs == shown) & (first | ~two)
    return {"digits": digits, "dirs": dirs, "shown": shown, "first": first, "two": two,
            "clip": clip}  # fmt: skip


def summarise(s: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, float]:
    """Accuracies over the clips in ``rows`` (a boolean mask) of :func:`score`'s; the order
    head's over the two-digit clips among them."""
    two = s["two"] & rows
    return {
        "clip_accuracy": float(s["clip"][rows].mean()),
        "digits_accuracy": float(s["digits"][rows].mean()),
        "direction_accuracy": float(s["dirs"][rows].sum() / s["shown"][rows].sum()),
        "order_accuracy": float(s["first"][two].mean()) if two.any() else None,
    }


def describe(clips: moving.Clips, i: int, directions, first: int) -> str:
    """Clip ``i``'s digits with ``directions`` (one per digit slot) and, for two digits,
    which came first, as ``3→ 7↖, 3 first``."""
    text = " ".join(f"{d}{ARROWS[r]}" for d, r in zip(clips.digits[i], directions) if d >= 0)
    return text + (f", {first} first" if clips.first[i] >= 0 else "")
