"""rnn_jax.data.moving: clips are fixed per seed, digits stay inside the frame and move the
labelled way, and each clip uses its own pool's digits."""

import numpy as np
import pytest

from rnn_jax.data import mnist, moving
from rnn_jax.errors import ConfigError


@pytest.fixture(scope="module")
def pool():
    images, labels = mnist.synthetic(200, seed=0)
    return images, labels


def test_fixed_per_seed_and_inside_the_frame(pool):
    a = moving.moving_digits(*pool, 40, frames=(5, 9), seed=1)
    b = moving.moving_digits(*pool, 40, frames=(5, 9), seed=1)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.frames.shape == (40, 9, 64, 64)
    assert a.positions.min() >= 0 and a.positions.max() <= 64 - moving.DIGIT
    for clip, length in zip(a.frames, a.lengths):
        assert 5 <= length <= 9 and clip[length:].sum() == 0 and clip[length - 1].sum() > 0
    two = a.digits[:, 1] >= 0
    assert two.any() and (~two).any() and np.all(a.digits[two, 0] != a.digits[two, 1])


def test_first_move_goes_the_labelled_way_and_digits_bounce(pool):
    c = moving.moving_digits(*pool, 200, frames=(20, 20), seed=2)
    for k in range(2):
        live = c.directions[:, k] >= 0
        step = c.positions[live, 1, k] - c.positions[live, 0, k]  # (dy, dx)
        want = moving._UNIT[c.directions[live, k]]  # (dx, dy)
        np.testing.assert_array_less(0, (step[:, 1] * want[:, 0] + step[:, 0] * want[:, 1]))
    moves = np.diff(c.positions[:, :, 0, 1], axis=1)
    assert (np.diff(np.sign(np.round(moves, 6)), axis=1) != 0).any()  # some bounced


def test_each_digit_is_its_pools_image(pool):
    images, labels = pool
    c = moving.moving_digits(images, labels, 30, frames=(3, 3), digits=(1, 1), seed=3)
    for clip, (top, left), src in zip(c.frames, c.positions[:, 0, 0], c.sources[:, 0]):
        t, left = int(round(top)), int(round(left))
        np.testing.assert_array_equal(clip[0, t : t + 28, left : left + 28], images[src])
    with pytest.raises(ConfigError, match="1-2 digits"):
        moving.moving_digits(images, labels, 1, digits=(1, 3))
