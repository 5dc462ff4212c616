"""rnn_jax.data.scenes: digit strings are fixed per seed, stay on the canvas, use their
pool's digits only."""

import numpy as np
import pytest

from rnn_jax.data import scenes
from rnn_jax.errors import ConfigError


def pool(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 256, (n, 28, 28)).astype(np.uint8), rng.integers(0, 10, n)


def test_strings_are_fixed_per_seed_and_drawn_from_their_pool():
    images, labels = pool()
    a = scenes.digit_strings(images, labels, 40, digits=(1, 8), seed=3)
    b = scenes.digit_strings(images, labels, 40, digits=(1, 8), seed=3)
    c = scenes.digit_strings(images, labels, 40, digits=(1, 8), seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (40, 32, 224) and a.labels.shape == (40, 8)
    assert set(a.lengths) <= set(range(1, 9)) and len(set(a.lengths)) > 3
    for i, n in enumerate(a.lengths):
        assert np.all(a.labels[i, n:] == -1) and np.all(a.sources[i, n:] == -1)
        np.testing.assert_array_equal(a.labels[i, :n], labels[a.sources[i, :n]])
        lefts = a.positions[i, :n, 1]
        assert np.all(np.diff(lefts) >= 16) and np.all(np.diff(lefts) <= 26)  # left to right
        assert lefts[0] >= 0 and lefts[-1] + 28 <= 224
        assert np.all((a.positions[i, :n, 0] >= 0) & (a.positions[i, :n, 0] <= 4))
    # Each digit is on the canvas where it says (strokes only ever brighten).
    crops, crop_labels = scenes.crops(a)
    flat = a.sources[a.labels >= 0]
    assert np.all(crops >= images[flat]) and np.array_equal(crop_labels, labels[flat])
    # Nothing but the pool's digits: a canvas from an all-zero pool is empty.
    empty = scenes.digit_strings(np.zeros_like(images), labels, 5, seed=0)
    assert not empty.images.any()


def test_a_canvas_too_small_is_a_clear_error():
    images, labels = pool()
    with pytest.raises(ConfigError, match="need a canvas of at least 28 x 210 px"):
        scenes.digit_strings(images, labels, 3, digits=(1, 8), width=200)
