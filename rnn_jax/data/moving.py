"""Clips of MNIST digits moving in straight lines, drawn so that only frame order tells
which way they move and which digit came first.

Each clip holds one or two distinct digits from one split's pool, downscaled
(28 -> ``digit`` px) and moving at constant velocity (one of eight directions,
a speed drawn per digit) wholly inside the canvas in every frame: no bounce, no
wrap. A digit's start is uniform over *all* the starts from which it stays
inside for the clip's length. In a two-digit clip one digit is visible from the
first frame until frame ``b``, the other from frame ``a`` to the last, with the
windows overlapping (``1 <= a <= m <= L-1-m <= b <= L-2``, ``m = (L-1) // 2``,
``a`` and ``b`` uniform and independent); frames after a clip's length are blank.

**Time-reversal symmetry.** Played backwards, a clip is a clip of this same
generator, and exactly as likely: each digit's path runs the other way (its
direction turned by 180 degrees, its speed kept), and the end of a path whose
start is uniform over the valid starts for velocity ``v`` is uniform over the
valid starts for ``-v``; the windows map to ``[0, L-1-a]`` and ``[L-1-b, L-1]``,
which are drawn exactly as the originals, with the other digit now first.
Every function of a clip that ignores frame order (a per-frame average or max,
any function of the set of frames) gives a clip and its reversal the same
answer, while the true direction and the first digit differ between them: such
a model is right on at most half the directions (it can see a digit's line of
motion, not its sense) and half the "which digit came first" questions.
A split's clips are fixed by the seed and use that split's digits only.
"""

from dataclasses import dataclass, replace

import numpy as np

from rnn_jax.errors import ConfigError

DIRECTIONS = 8  # 0: east, then counter-clockwise in steps of 45 degrees
UNIT = np.array(
    [(np.cos(a), -np.sin(a)) for a in np.arange(DIRECTIONS) * np.pi / 4]
)  # (dx, dy) on an image whose y axis points down
SCALES = (7, 14, 28)  # digit sizes a 28 x 28 MNIST image averages down to


@dataclass(frozen=True)
class Clips:
    """Moving-digit clips.

    Attributes:
      frames: ``uint8 [N, T, H, W]`` (blank after each clip's length).
      lengths: ``int32 [N]`` frames per clip.
      digits: ``int32 [N, 2]`` the digits' labels (-1: no second digit).
      directions: ``int32 [N, 2]`` each digit's direction of motion (-1: none).
      speeds: ``float32 [N, 2]`` each digit's pixels per frame (0: none).
      positions: ``float32 [N, T, 2, 2]`` each digit's (top, left) in each frame of its
        path, drawn or not (the path is defined over the clip's whole length).
      windows: ``int32 [N, 2, 2]`` each digit's first and last visible frame.
      first: ``int32 [N]`` the label of the digit visible first in a two-digit clip
        (-1 in a one-digit clip).
      sources: ``int32 [N, 2]`` each digit's index in the pool (-1: none).
    """

    frames: np.ndarray
    lengths: np.ndarray
    digits: np.ndarray
    directions: np.ndarray
    speeds: np.ndarray
    positions: np.ndarray
    windows: np.ndarray
    first: np.ndarray
    sources: np.ndarray


def downscale(images: np.ndarray, digit: int) -> np.ndarray:
    """``uint8 [N, 28, 28]`` -> ``uint8 [N, digit, digit]`` by averaging blocks."""
    k = 28 // digit
    blocks = images.reshape(len(images), digit, k, digit, k).astype(np.float32)
    return np.round(blocks.mean(axis=(2, 4))).astype(np.uint8)


def check(
    frames: tuple[int, int], digits: tuple[int, int], size: int, digit: int, speed: tuple
) -> None:
    """Raise a :class:`ConfigError` for settings no clip can satisfy."""
    if not 1 <= frames[0] <= frames[1] or not 1 <= digits[0] <= digits[1] <= 2:
        raise ConfigError(
            f"clips need 1 <= min <= max frames and 1-2 digits; got frames {frames}, "
            f"digits {digits}"
        )
    if digits[1] == 2 and frames[0] < 3:
        raise ConfigError(
            f"two-digit clips need at least 3 frames (one digit leaves, the other arrives, "
            f"one frame shows both); got --data.frames {frames[0]} {frames[1]}"
        )
    if digit not in SCALES:
        raise ConfigError(f"--data.digit must be one of {SCALES}, got {digit}")
    if not 0 < speed[0] <= speed[1]:
        raise ConfigError(f"--data.speed needs 0 < min <= max px a frame, got {speed}")
    if speed[1] * (frames[1] - 1) > size - digit:
        raise ConfigError(
            f"a digit of {digit} px moving up to {speed[1]} px a frame for {frames[1]} frames "
            f"needs a canvas of at least {digit + speed[1] * (frames[1] - 1):g} px (got "
            f"{size}); lower --data.speed or --data.frames, or raise --data.size"
        )


def moving_digits(
    pool_images: np.ndarray,
    pool_labels: np.ndarray,
    n: int,
    *,
    frames: tuple[int, int] = (6, 9),
    digits: tuple[int, int] = (1, 2),
    size: int = 40,
    digit: int = 14,
    speed: tuple[float, float] = (2.0, 3.0),
    seed: int = 0,
) -> Clips:
    """``n`` clips of ``frames[0]``-``frames[1]`` frames with ``digits[0]``-``digits[1]``
    distinct digits of ``digit`` px each, on a ``size x size`` canvas, moving at
    ``speed[0]``-``speed[1]`` px a frame."""
    check(frames, digits, size, digit, speed)
    if len(np.unique(pool_labels)) < digits[1]:
        raise ConfigError(f"the pool holds fewer than {digits[1]} distinct digits")
    rng = np.random.default_rng(seed)
    steps, span = frames[1], size - digit
    out = np.zeros((n, steps, size, size), np.uint8)
    labels = np.full((n, 2), -1, np.int32)
    directions = np.full((n, 2), -1, np.int32)
    speeds = np.zeros((n, 2), np.float32)
    positions = np.zeros((n, steps, 2, 2), np.float32)
    windows = np.full((n, 2, 2), -1, np.int32)
    first = np.full(n, -1, np.int32)
    sources = np.full((n, 2), -1, np.int32)
    lengths = rng.integers(frames[0], frames[1] + 1, n).astype(np.int32)
    for i in range(n):
        length = int(lengths[i])
        count = int(rng.integers(digits[0], digits[1] + 1))
        picks: list[int] = []
        while len(picks) < count:  # distinct digits, so each direction names its digit
            pick = int(rng.integers(len(pool_images)))
            if all(pool_labels[pick] != pool_labels[p] for p in picks):
                picks.append(pick)
        if count == 1:
            shown = [(0, length - 1)]
        else:
            m = (length - 1) // 2  # a <= m <= b: the windows overlap on frames a..b
            a, b = int(rng.integers(1, m + 1)), int(rng.integers(length - 1 - m, length - 1))
            shown = [(0, b), (a, length - 1)]
        t = np.arange(length)[:, None]
        for k, pick in enumerate(picks):
            direction, s = int(rng.integers(DIRECTIONS)), float(rng.uniform(*speed))
            v = UNIT[direction] * s  # (dx, dy)
            travel = v * (length - 1)
            low, high = np.maximum(0.0, -travel), span - np.maximum(0.0, travel)
            start = rng.uniform(low, high)  # (x, y), every start the path stays inside from
            path = (start + v * t)[:, ::-1]  # (top, left) per frame
            image = downscale(pool_images[pick : pick + 1], digit)[0]
            for f in range(shown[k][0], shown[k][1] + 1):
                top, left = np.round(path[f]).astype(int)
                patch = out[i, f, top : top + digit, left : left + digit]
                np.maximum(patch, image, out=patch)
            positions[i, :length, k] = path
            labels[i, k], directions[i, k], speeds[i, k] = pool_labels[pick], direction, s
            windows[i, k], sources[i, k] = shown[k], pick
        if count == 2:
            first[i] = labels[i, 0]
    return Clips(out, lengths, labels, directions, speeds, positions, windows, first, sources)


def reverse(clips: Clips) -> Clips:
    """Each clip played backwards, labelled as the generator would label it: directions
    turned by 180 degrees, windows and paths reversed, the other digit first."""
    n, steps = clips.lengths.shape[0], clips.frames.shape[1]
    back = (clips.lengths[:, None] - 1 - np.arange(steps)[None, :]) % steps  # [N, T]
    valid = np.arange(steps)[None, :] < clips.lengths[:, None]
    rows = np.arange(n)[:, None]
    frames = np.where(valid[..., None, None], clips.frames[rows, back], 0).astype(np.uint8)
    positions = np.where(valid[..., None, None], clips.positions[rows, back], 0)
    present = clips.digits >= 0
    last = clips.lengths[:, None, None] - 1
    windows = np.where(present[..., None], last - clips.windows[:, :, ::-1], -1)
    lead = np.argmin(windows[:, :, 0], axis=1)  # the digit now visible from frame 0
    first = np.where(present[:, 1], clips.digits[np.arange(n), lead], -1)
    return replace(
        clips,
        frames=frames,
        positions=positions.astype(np.float32),
        directions=np.where(present, (clips.directions + DIRECTIONS // 2) % DIRECTIONS, -1),
        windows=windows.astype(np.int32),
        first=first.astype(np.int32),
    )


def targets(c: Clips) -> dict[str, np.ndarray]:
    """Frames, lengths and what a model should read from each clip: the digits as a
    multi-hot vector, a direction per digit class (-1 where the digit is absent), the
    digit visible first (-1: one digit) and the digits each frame shows."""
    n = len(c.lengths)
    present = np.zeros((n, 10), np.float32)
    direction = np.full((n, 10), -1, np.int32)
    rows, slots = np.nonzero(c.digits >= 0)
    present[rows, c.digits[rows, slots]] = 1.0
    direction[rows, c.digits[rows, slots]] = c.directions[rows, slots]
    seen = np.zeros((n, c.frames.shape[1], 10), np.float32)
    frame = np.arange(c.frames.shape[1])
    for row, slot in zip(rows, slots):
        first, last = c.windows[row, slot]
        seen[row, (frame >= first) & (frame <= last), c.digits[row, slot]] = 1.0
    return {
        "frames": c.frames,
        "length": c.lengths,
        "present": present,
        "direction": direction,
        "first": c.first,
        "seen": seen,
    }
