"""Canvases composed of real MNIST digits: digit strings (CRNN) and captioned scenes.

Every composition is drawn from a pool of digits (one split's images) with a
seeded generator, so a split's scenes are fixed per seed and use that split's
digits only; overlapping strokes merge by taking the brighter pixel.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from rnn_jax.errors import ConfigError

DIGIT = 28  # MNIST images are 28 x 28
T = TypeVar("T")


def per_split(
    compose: Callable[..., T], pools: dict[str, dict], counts: dict[str, int], seed: int
) -> dict[str, T]:
    """``compose(images, labels, n, seed=...)`` for each split named in ``counts``, from that
    split's own pool (:func:`rnn_jax.data.mnist.splits`) and its own seed, so no split
    sees another's digits and each is fixed by ``seed``."""
    return {
        name: compose(pools[name]["image"], pools[name]["label"], n, seed=seed * 3 + i)
        for i, (name, n) in enumerate(counts.items())
    }


@dataclass(frozen=True)
class Strings:
    """Digit strings on canvases.

    Attributes:
      images: ``uint8 [N, H, W]``.
      labels: ``int32 [N, max_digits]``, the digits left to right, padded with -1.
      lengths: ``int32 [N]`` digits per string.
      positions: ``int32 [N, max_digits, 2]``, each digit's (top, left) on the canvas.
      sources: ``int32 [N, max_digits]``, each digit's index in the pool (-1: padding).
    """

    images: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    positions: np.ndarray
    sources: np.ndarray


def digit_strings(
    pool_images: np.ndarray,
    pool_labels: np.ndarray,
    n: int,
    *,
    digits: tuple[int, int] = (1, 8),
    height: int = 32,
    width: int = 224,
    spacing: tuple[int, int] = (16, 26),
    seed: int = 0,
) -> Strings:
    """``n`` strings of ``digits[0]``-``digits[1]`` digits drawn from the pool, left to
    right: each digit ``spacing`` pixels (uniform in the range) after the previous one,
    at a random height, the string at a random offset on a ``height x width`` canvas."""
    lo, hi = digits
    widest = (hi - 1) * spacing[1] + DIGIT
    if not 1 <= lo <= hi or height < DIGIT or width < widest:
        raise ConfigError(
            f"strings of {lo}-{hi} digits {spacing[1]} px apart need a canvas of at least "
            f"{DIGIT} x {widest} px (got {height} x {width}) and 1 <= min <= max digits"
        )
    rng = np.random.default_rng(seed)
    images = np.zeros((n, height, width), np.uint8)
    labels = np.full((n, hi), -1, np.int32)
    sources = np.full((n, hi), -1, np.int32)
    positions = np.zeros((n, hi, 2), np.int32)
    lengths = rng.integers(lo, hi + 1, n).astype(np.int32)
    for i, length in enumerate(lengths):
        steps = rng.integers(spacing[0], spacing[1] + 1, length - 1)
        lefts = np.concatenate([[0], np.cumsum(steps)])
        lefts += rng.integers(0, width - (lefts[-1] + DIGIT) + 1)
        tops = rng.integers(0, height - DIGIT + 1, length)
        picks = rng.integers(0, len(pool_images), length)
        for k, (top, left, pick) in enumerate(zip(tops, lefts, picks)):
            patch = images[i, top : top + DIGIT, left : left + DIGIT]
            np.maximum(patch, pool_images[pick], out=patch)
        labels[i, :length] = pool_labels[picks]
        sources[i, :length] = picks
        positions[i, :length] = np.stack([tops, lefts], axis=1)
    return Strings(images, labels, lengths, positions, sources)


def crops(strings: Strings) -> tuple[np.ndarray, np.ndarray]:
    """Each digit's 28 x 28 crop at its true position (neighbours' strokes included) and
    its label, for every valid digit of every string: ``(uint8 [M, 28, 28], int32 [M])``."""
    rows, cols = np.nonzero(strings.labels >= 0)
    out = np.stack(
        [
            strings.images[i, t : t + DIGIT, left : left + DIGIT]
            for i, (t, left) in zip(rows, strings.positions[rows, cols])
        ]
    )
    return out, strings.labels[rows, cols]


NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COUNTS = {2: "two", 3: "three", 4: "four"}
WORDS = (*NAMES, *"a an left right of above and three digits top bottom row : ,".split())
VOCAB = ("<pad>", "<start>", "<end>", *WORDS)  # every word a caption may hold, and three marks
PAD, START, END = 0, 1, 2
MAX_LEN = 16  # the longest caption (13 words) and its end token fit


@dataclass(frozen=True)
class Scenes:
    """Captioned scenes of digits in the cells of a 2 x 2 grid.

    Attributes:
      images: ``uint8 [N, 64, 64]``.
      captions: one caption per scene, words separated by spaces.
      labels: ``int32 [N, 4]``, the digit in each cell (row-major), -1 where empty.
      sources: ``int32 [N, 4]``, each cell's digit's index in the pool (-1: empty).
    """

    images: np.ndarray
    captions: list[str]
    labels: np.ndarray
    sources: np.ndarray


def _article(label: int) -> str:
    return f"{'an' if label == 8 else 'a'} {NAMES[label]}"


def caption(cells: np.ndarray) -> str:
    """The caption of a scene from its grid ``[4]`` (row-major, -1 empty); the wording
    follows the layout: two digits side by side, one above the other, or diagonal;
    three digits listed in reading order; four read row by row."""
    filled = [(i, int(c)) for i, c in enumerate(cells) if c >= 0]
    digits = [NAMES[c] for _, c in filled]
    if len(filled) == 2:
        (i, a), (j, b) = filled
        if i // 2 == j // 2:
            return f"{_article(a)} left of {_article(b)}"
        if i % 2 == j % 2:
            return f"{_article(a)} above {_article(b)}"
        side = "left" if i % 2 < j % 2 else "right"
        return f"{_article(a)} above and {side} of {_article(b)}"
    if len(filled) == 3:
        return f"three digits : {digits[0]} , {digits[1]} and {digits[2]}"
    return f"top row {digits[0]} and {digits[1]} , bottom row {digits[2]} and {digits[3]}"


def caption_ids(text: str) -> np.ndarray:
    """Word ids (in :data:`VOCAB`) of a caption, then ``<end>``, padded to :data:`MAX_LEN`."""
    ids = [VOCAB.index(w) for w in text.split()] + [END]
    return np.array(ids + [PAD] * (MAX_LEN - len(ids)), np.int32)


def captioned_scenes(
    pool_images: np.ndarray,
    pool_labels: np.ndarray,
    n: int,
    *,
    digits: tuple[int, int] = (2, 4),
    jitter: int = 4,
    seed: int = 0,
) -> Scenes:
    """``n`` scenes of ``digits[0]``-``digits[1]`` digits in random cells of a 2 x 2 grid
    on a 64 x 64 canvas, each digit shifted by up to ``jitter`` px within its 32 x 32 cell."""
    if not 2 <= digits[0] <= digits[1] <= 4 or not 0 <= jitter <= 32 - DIGIT:
        raise ConfigError(
            f"scenes hold 2-4 digits and a jitter of 0-{32 - DIGIT} px, got {digits} and {jitter}"
        )
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 64, 64), np.uint8)
    labels = np.full((n, 4), -1, np.int32)
    sources = np.full((n, 4), -1, np.int32)
    for i in range(n):
        cells = np.sort(rng.choice(4, rng.integers(digits[0], digits[1] + 1), replace=False))
        picks = rng.integers(0, len(pool_images), len(cells))
        for cell, pick in zip(cells, picks):
            top, left = 32 * np.array([cell // 2, cell % 2]) + rng.integers(0, jitter + 1, 2)
            images[i, top : top + DIGIT, left : left + DIGIT] = pool_images[pick]
        labels[i, cells], sources[i, cells] = pool_labels[picks], picks
    return Scenes(images, [caption(row) for row in labels], labels, sources)
