"""Clips of MNIST digits moving across a canvas and bouncing off its edges.

Each clip holds one or two distinct digits from one split's pool, each moving
in one of eight directions (multiples of 45 degrees) at its own speed and
reflected at the canvas's edges; frames after a clip's length are blank. A
split's clips are fixed by the seed and use that split's digits only.
"""

from dataclasses import dataclass

import numpy as np

from rnn_jax.errors import ConfigError

DIGIT = 28
DIRECTIONS = 8  # 0: east, then counter-clockwise in steps of 45 degrees
_UNIT = np.array(
    [(np.cos(a), -np.sin(a)) for a in np.arange(DIRECTIONS) * np.pi / 4]
)  # (dx, dy) on an image whose y axis points down


@dataclass(frozen=True)
class Clips:
    """Moving-digit clips.

    Attributes:
      frames: ``uint8 [N, T, H, W]`` (blank after each clip's length).
      lengths: ``int32 [N]`` frames per clip.
      digits: ``int32 [N, 2]`` the digits' labels (-1: no second digit).
      directions: ``int32 [N, 2]`` each digit's direction at the first frame (-1: none).
      positions: ``float32 [N, T, 2, 2]`` each digit's (top, left) in each frame.
      sources: ``int32 [N, 2]`` each digit's index in the pool (-1: none).
    """

    frames: np.ndarray
    lengths: np.ndarray
    digits: np.ndarray
    directions: np.ndarray
    positions: np.ndarray
    sources: np.ndarray


def _bounce(start: float, velocity: float, steps: np.ndarray, span: float) -> np.ndarray:
    """Positions along one axis for ``start + velocity * t`` reflected into ``[0, span]``."""
    p = np.mod(start + velocity * steps, 2 * span)
    return np.where(p > span, 2 * span - p, p)


def moving_digits(
    pool_images: np.ndarray,
    pool_labels: np.ndarray,
    n: int,
    *,
    frames: tuple[int, int] = (10, 20),
    digits: tuple[int, int] = (1, 2),
    size: int = 64,
    speed: tuple[float, float] = (2.0, 4.0),
    seed: int = 0,
) -> Clips:
    """``n`` clips of ``frames[0]``-``frames[1]`` frames with ``digits[0]``-``digits[1]``
    distinct digits each, on a ``size x size`` canvas."""
    if (
        not 1 <= frames[0] <= frames[1]
        or not 1 <= digits[0] <= digits[1] <= 2
        or size < DIGIT + 2 * speed[1]
    ):
        raise ConfigError(
            f"clips need 1 <= min <= max frames, 1-2 digits and a canvas of at least {DIGIT} px; "
            f"got frames {frames}, digits {digits}, size {size}"
        )
    if len(np.unique(pool_labels)) < digits[1]:
        raise ConfigError(f"the pool holds fewer than {digits[1]} distinct digits")
    rng = np.random.default_rng(seed)
    steps = frames[1]
    out = np.zeros((n, steps, size, size), np.uint8)
    labels = np.full((n, 2), -1, np.int32)
    directions = np.full((n, 2), -1, np.int32)
    sources = np.full((n, 2), -1, np.int32)
    positions = np.zeros((n, steps, 2, 2), np.float32)
    lengths = rng.integers(frames[0], frames[1] + 1, n).astype(np.int32)
    span, t = size - DIGIT, np.arange(steps)
    for i in range(n):
        count = int(rng.integers(digits[0], digits[1] + 1))
        picks: list[int] = []
        while len(picks) < count:  # distinct digits, so each direction names its digit
            pick = int(rng.integers(len(pool_images)))
            if all(pool_labels[pick] != pool_labels[p] for p in picks):
                picks.append(pick)
        for k, pick in enumerate(picks):
            direction = int(rng.integers(DIRECTIONS))
            v = _UNIT[direction] * rng.uniform(*speed)
            # Far enough from the edges that the first move goes the labelled way.
            x0, y0 = rng.uniform(speed[1], span - speed[1], 2)
            xs, ys = _bounce(x0, v[0], t, span), _bounce(y0, v[1], t, span)
            for f in range(lengths[i]):
                top, left = int(round(ys[f])), int(round(xs[f]))
                patch = out[i, f, top : top + DIGIT, left : left + DIGIT]
                np.maximum(patch, pool_images[pick], out=patch)
            positions[i, :, k] = np.stack([ys, xs], axis=1)
            labels[i, k], directions[i, k], sources[i, k] = pool_labels[pick], direction, pick
    return Clips(out, lengths, labels, directions, positions, sources)
