"""What completed images say (:mod:`experiments.mnist_gen`): the baselines' errors and nats,
and, for the top halves a classifier is least sure of, how sampled completions split
between digits."""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnn_jax import plotting
from rnn_jax.evaluation.baselines import bernoulli_nats


def bottom_mse(completed: np.ndarray, images: np.ndarray, given: int) -> float:
    """Per-pixel MSE of the completed rows after the first ``given`` (both in [0, 1])."""
    return float(np.mean((completed[:, given:] - images[:, given:]) ** 2))


def sharp_share(completed: np.ndarray, given: int, within: float = 0.1) -> float:
    """The share of the completed rows' pixels (after the first ``given``) within ``within``
    of 0 or 1: how sharp a completion is (a smooth average stroke has many in between)."""
    rest = completed[:, given:]
    return float(np.mean((rest < within) | (rest > 1.0 - within)))


def nats_report(
    pixel_nll: np.ndarray, guessed_nats: dict[str, float], given: int
) -> tuple[dict, list[str]]:
    """The model's nats (its ``-log p`` per pixel, ``[N, H, W]``) of the rows after the first
    ``given`` given those, beside the baselines', and of the whole image: the entries of
    ``results.json`` and the report's lines."""
    bottom = {"model": float(pixel_nll[:, given:].sum((1, 2)).mean()), **guessed_nats}
    whole = float(pixel_nll.sum((1, 2)).mean())
    hidden = pixel_nll[0, given:].size
    lines = [f"nats of the bottom half given the top (summed over its {hidden} pixels):"]
    lines += [f"  {name:<40} {value:.2f}" for name, value in bottom.items()]
    lines += [f"nats of the whole image (all {pixel_nll[0].size} pixels): {whole:.2f}"]
    return {"test_bottom_nll": bottom, "test_image_nll": whole}, lines


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


def plot_ambiguous(
    splits: list[dict],
    samples: np.ndarray,
    mean: np.ndarray,
    classify: Callable[[np.ndarray], np.ndarray],
    path: Path,
    shown: int = 8,
) -> Path:
    """A row per ambiguous top (:func:`ambiguous_splits`): its mean completion, then
    ``shown`` of its ``samples``, each titled with the digit the classifier reads."""
    picked = mean[[r["index"] for r in splits]][:, None]
    grid = np.concatenate([picked, samples[:, :shown]], 1).reshape(-1, *mean.shape[1:])
    titles = [f"reads {d}" for d in classify(grid)]
    return plotting.plot_images(grid, titles, path, cols=shown + 1)
