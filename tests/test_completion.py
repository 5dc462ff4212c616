"""rnn_jax.evaluation.completion: the baselines' scores, and how sampled completions of the
least certain top halves split between digits."""

import numpy as np
import pytest

from rnn_jax.evaluation import completion


def test_a_guess_is_scored_by_its_bottom_rows_only():
    images = np.zeros((2, 4, 3), np.float32)
    images[:, 2:] = 1.0
    guesses = {"right": np.ones((2, 2, 3), np.float32), "half": np.full((2, 2, 3), 0.5)}
    mse, nats = completion.baseline_scores(guesses, images, given=2)
    assert mse == {"right": 0.0, "half": 0.25}
    assert nats["half"] == pytest.approx(6 * np.log(2), rel=1e-6)  # 6 pixels, a coin each
    assert completion.bottom_mse(np.zeros_like(images), images, 2) == 1.0  # the top is ignored


def test_the_least_certain_tops_are_sampled_and_their_reads_counted():
    probs = np.full((4, 10), 0.01)
    probs[:, 0] = 0.91
    probs[2] = 0.1  # the one the classifier cannot tell
    images = np.arange(4 * 2 * 2, dtype=np.float32).reshape(4, 2, 2)
    draw = lambda x: x + np.arange(len(x))[:, None, None] % 2  # noqa: E731  (two kinds)
    classify = lambda x: (x[:, 0, 0] % 2).astype(int)  # noqa: E731
    rows, grid = completion.ambiguous_splits(
        probs, draw, classify, images, np.arange(4), tops=1, samples=4
    )
    assert rows[0]["index"] == 2 and rows[0]["label"] == 2
    assert rows[0]["samples_read_as"] == {0: 2, 1: 2} and grid.shape == (1, 4, 2, 2)


def test_sharpness_counts_the_completed_pixels_near_0_or_1():
    images = np.zeros((2, 4, 2))
    images[:, 2:] = [[0.05, 0.5], [0.95, 0.2]]  # completed rows: 2 of 4 pixels sharp
    images[:, :2] = 0.5  # the given rows do not count
    assert completion.sharp_share(images, 2) == 0.5


def test_nats_report_sums_the_rows_after_the_given_ones_and_the_whole_image():
    nll = np.ones((3, 4, 2))  # 1 nat per pixel
    results, lines = completion.nats_report(nll, {"baseline": 9.0}, given=1)
    assert results == {"test_bottom_nll": {"model": 6.0, "baseline": 9.0}, "test_image_nll": 8.0}
    assert "6 pixels" in lines[0] and "all 8 pixels" in lines[-1]
