"""rnn_jax.evaluation.clips: what counts as right on a clip (the model-level reversal test is
in test_video.py)."""

import jax.numpy as jnp
import numpy as np

from rnn_jax.data import moving
from rnn_jax.evaluation import clips


def test_a_clip_is_right_when_its_digits_directions_and_first_digit_are():
    present = np.zeros((3, 10), np.float32)
    present[:, [3, 7]] = 1.0
    present[2, 7] = 0.0  # clip 2 holds one digit
    direction = np.full((3, 10), -1, np.int32)
    direction[:, 3], direction[:2, 7] = 0, 5
    targets = {"present": present, "direction": direction, "first": np.array([3, 7, -1])}
    digits = jnp.asarray(np.where(present > 0, 4.0, -4.0))
    directions = jnp.asarray(np.eye(8)[np.maximum(direction, 0)] * 4.0)
    directions = directions.at[1, 7].set(jnp.eye(8)[2] * 4.0)  # clip 1: digit 7 goes the wrong way
    first = jnp.asarray(np.eye(10)[[3, 3, 0]] * 4.0)  # clip 1: the wrong digit first
    right = clips.per_clip(digits, directions, first, targets)
    assert [np.asarray(r).tolist() for r in right] == [
        [True, True, True],
        [2, 1, 1],
        [2, 2, 1],
        [True, False, False],
    ]
    s = clips.score(lambda p, b: clips.per_clip(digits, directions, first, b), None, targets)
    assert s["clip"].tolist() == [True, False, True]  # a one-digit clip has no first digit
    all_clips = clips.summarise(s, np.ones(3, bool))
    assert all_clips["direction_accuracy"] == 4 / 5 and all_clips["order_accuracy"] == 0.5


def test_a_clip_reads_as_its_digits_arrows_and_first_digit():
    c = moving.Clips(
        frames=np.zeros((1, 3, 4, 4), np.uint8), lengths=np.array([3]),
        digits=np.array([[3, 7]]), directions=np.array([[0, 3]]), speeds=np.ones((1, 2)),
        positions=np.zeros((1, 3, 2, 2)), windows=np.array([[[0, 1], [1, 2]]]),
        first=np.array([7]), sources=np.array([[0, 1]]),
    )  # fmt: skip
    assert clips.describe(c, 0, [0, 3], 7) == "3→ 7↖, 7 first"
