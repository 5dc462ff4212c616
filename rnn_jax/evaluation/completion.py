"""What completed images say (:mod:`experiments.mnist_gen`): the baselines' errors and nats,
and, for the top halves a classifier is least sure of, how sampled completions split
between digits."""

from collections.abc import Callable

import numpy as np

from rnn_jax.evaluation.baselines import bernoulli_nats


def bottom_mse(completed: np.ndarray, images: np.ndarray, given: int) -> float:
    """Per-pixel MSE of the completed rows after the first ``given`` (both in [0, 1])."""
    return float(np.mean((completed[:, given:] - images[:, given:]) ** 2))


def baseline_scores(
    guesses: dict[str, np.ndarray], images: np.ndarray, given: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Each guessed bottom half's per-pixel MSE against ``images [N, H, W]`` (in [0, 1]),
    and its nats read as pixel probabilities (:func:`bernoulli_nats`, mean over images)."""
    bottom = images[:, given:]
    mse = {name: float(np.mean((guess - bottom) ** 2)) for name, guess in guesses.items()}
    nats = {name: float(bernoulli_nats(guess, bottom).mean()) for name, guess in guesses.items()}
    return mse, nats


def ambiguous_splits(
    top_probs: np.ndarray,
    draw: Callable[[np.ndarray], np.ndarray],
    classify: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    tops: int = 8,
    samples: int = 16,
) -> tuple[list[dict], np.ndarray]:
    """The ``tops`` images whose top half alone the classifier is least sure of (the
    highest entropy of ``top_probs [N, 10]``), ``samples`` completions of each drawn by
    ``draw`` (images -> completed images, one per row), and the digits the classifier reads
    in them. Returns a row per image (its index, label, the top half's two likeliest
    digits, and how many samples read as each digit) and the completions
    ``[tops, samples, H, W]``."""
    p = np.clip(top_probs, 1e-12, 1.0)
    picks = np.argsort(-(p * -np.log(p)).sum(1))[:tops]
    drawn = draw(np.repeat(images[picks], samples, axis=0))
    read = classify(drawn).reshape(len(picks), samples)
    rows = []
    for i, r in zip(picks, read):
        top2 = np.argsort(-top_probs[i])[:2]
        digits, counts = np.unique(r, return_counts=True)
        rows.append({
            "index": int(i),
            "label": int(labels[i]),
            "top_half_reads": {int(d): round(float(top_probs[i, d]), 3) for d in top2},
            "samples_read_as": {int(d): int(c) for d, c in zip(digits, counts)},
        })  # fmt: skip
    return rows, drawn.reshape(len(picks), samples, *drawn.shape[1:])
