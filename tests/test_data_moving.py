"""rnn_jax.data.moving: clips are fixed per seed, every frame is exactly its visible digits on
straight paths inside the canvas, and the generator is symmetric under time reversal."""

import numpy as np
import pytest
from scipy import stats

from rnn_jax.data import mnist, moving
from rnn_jax.errors import ConfigError

SHAPE = dict(size=40, digit=14, speed=(1.0, 2.0))


@pytest.fixture(scope="module")
def pool():
    return mnist.synthetic(200, seed=0)


def assert_valid(c: moving.Clips, images: np.ndarray, *, size=40, digit=14, speed=(1.0, 2.0)):
    """Everything the generator promises of a clip, checked from its labels alone."""
    small = moving.downscale(images, digit)
    for i, length in enumerate(c.lengths):
        present = c.digits[i] >= 0
        path = c.positions[i, :length]  # [L, 2 digits, (top, left)]
        assert path.min() >= 0 and path.max() <= size - digit  # wholly inside, every frame
        for k in np.flatnonzero(present):
            v = moving.UNIT[c.directions[i, k]] * c.speeds[i, k]  # (dx, dy)
            steps = np.diff(path[:, k], axis=0)  # straight, constant speed: (dy, dx) each frame
            np.testing.assert_allclose(steps, np.broadcast_to(v[::-1], steps.shape), atol=1e-4)
            assert speed[0] <= c.speeds[i, k] <= speed[1]
        expected = np.zeros((length, size, size), np.uint8)  # each frame: its visible digits
        for k in np.flatnonzero(present):
            first, last = c.windows[i, k]
            for f in range(first, last + 1):
                top, left = np.round(path[f, k]).astype(int)
                patch = expected[f, top : top + digit, left : left + digit]
                np.maximum(patch, small[c.sources[i, k]], out=patch)
        np.testing.assert_array_equal(c.frames[i, :length], expected)
        assert not c.frames[i, length:].any()
        if present.all():  # one digit from frame 0 leaves, the other arrives; they overlap
            m = (length - 1) // 2
            lead = int(np.argmin(c.windows[i, :, 0]))
            (a0, b0), (a1, b1) = c.windows[i, lead], c.windows[i, 1 - lead]
            assert a0 == 0 and 1 <= a1 <= m and length - 1 - m <= b0 <= length - 2
            assert b1 == length - 1 and c.first[i] == c.digits[i, lead]
            assert c.digits[i, 0] != c.digits[i, 1]
        else:
            assert tuple(c.windows[i, 0]) == (0, length - 1) and c.first[i] == -1


def test_fixed_per_seed_and_every_frame_is_its_visible_digits(pool):
    a = moving.moving_digits(*pool, 60, frames=(5, 9), seed=1, **SHAPE)
    b = moving.moving_digits(*pool, 60, frames=(5, 9), seed=1, **SHAPE)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.frames.shape == (60, 9, 40, 40) and set(a.lengths) <= set(range(5, 10))
    assert_valid(a, pool[0])
    two = a.digits[:, 1] >= 0
    assert two.any() and (~two).any()


def test_a_reversed_clip_is_a_valid_clip_of_the_opposite_motion(pool):
    c = moving.moving_digits(*pool, 60, frames=(3, 10), seed=2, **SHAPE)
    back = moving.reverse(c)
    assert_valid(back, pool[0])
    live = c.directions >= 0
    assert np.all((back.directions[live] - c.directions[live]) % moving.DIRECTIONS == 4)
    two = c.first >= 0
    assert np.all(back.first[two] != c.first[two])  # the other digit is now first
    for field in ("frames", "positions", "directions", "windows", "first"):
        np.testing.assert_array_equal(getattr(moving.reverse(back), field), getattr(c, field))


@pytest.mark.slow
def test_starts_and_ends_are_drawn_alike_so_reversal_is_as_likely(pool):
    """The starts of direction d and the ends of direction d + 180 degrees come from one
    distribution (KS test per direction and axis), and so do the two-digit clips' windows:
    the arrival frame ``a`` and ``L-1-b`` for the departure ``b``."""
    length = 8
    c = moving.moving_digits(*pool, 16_000, frames=(length, length), seed=3, **SHAPE)
    pos, direction = c.positions[:, :, 0], c.directions[:, 0]  # the first slot's digit
    for d in range(moving.DIRECTIONS):
        starts = pos[direction == d, 0]
        ends = pos[direction == (d + 4) % moving.DIRECTIONS, length - 1]
        for axis in range(2):
            p = stats.ks_2samp(starts[:, axis], ends[:, axis]).pvalue
            assert p > 1e-3, (d, axis, p)
        other = pos[direction == (d + 2) % moving.DIRECTIONS, length - 1]  # not mirrored
        assert min(stats.ks_2samp(starts[:, a], other[:, a]).pvalue for a in range(2)) < 1e-6
    two = c.first >= 0
    arrive, leave = c.windows[two, 1, 0], c.windows[two, 0, 1]
    table = np.stack(
        [np.bincount(arrive, minlength=length), np.bincount(length - 1 - leave, minlength=length)]
    )
    table = table[:, table.sum(0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_downscale_averages_blocks():
    images = np.arange(4 * 28 * 28, dtype=np.float64).reshape(4, 28, 28) % 256
    small = moving.downscale(images.astype(np.uint8), 14)
    assert small.shape == (4, 14, 14)
    block = images.astype(np.uint8)[1, 4:6, 8:10].astype(np.float32).mean()
    assert small[1, 2, 4] == np.round(block)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(digits=(1, 3)), "1-2 digits"),
        (dict(frames=(2, 6)), "two-digit clips need at least 3 frames"),
        (dict(digit=10), "--data.digit must be one of"),
        (dict(size=30, frames=(8, 12)), "needs a canvas of at least 36"),
        (dict(speed=(0.0, 1.0)), "0 < min <= max"),
    ],
)
def test_settings_no_clip_can_meet_are_refused(pool, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        moving.moving_digits(*pool, 1, **{**SHAPE, **kwargs})
