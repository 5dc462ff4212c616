"""Baselines: nearest neighbours against brute force, completion and forecasting baselines."""

import numpy as np

from rnn_jax.data import mnist, scenes, signals
from rnn_jax.evaluation import baselines
from rnn_jax.evaluation.baselines import knn_indices


def test_knn_matches_brute_force():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 6)).astype(np.float32)
    queries = rng.normal(size=(37, 6)).astype(np.float32)
    got = knn_indices(train, queries, k=3, chunk=10)  # several chunks, one partial
    dist = ((queries[:, None] - train[None]) ** 2).sum(-1)
    want = np.argsort(dist, axis=1)[:, :3]
    np.testing.assert_array_equal(got, want)


def test_persistence_and_seasonal_naive():
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(baselines.persistence(x, 3), [[5, 5, 5], [11, 11, 11]])
    np.testing.assert_array_equal(
        baselines.seasonal_naive(x, 5, 2), [[4, 5, 4, 5, 4], [10, 11, 10, 11, 10]]
    )


def test_estimate_period_finds_a_sine_period():
    t = np.arange(5000)
    signal = np.sin(2 * np.pi * t / 40.0) + 0.1 * np.random.default_rng(0).normal(size=5000)
    assert baselines.estimate_period(signal, min_lag=20, max_lag=60) == 40


def test_linear_ar_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    w = rng.normal(size=(8, 3))
    y = x @ w + 0.5
    ar = baselines.LinearAR().fit(x, y)
    np.testing.assert_allclose(ar.predict(x), y, rtol=1e-4, atol=1e-4)


def test_completion_baselines_on_known_data():
    images = mnist.pixels(mnist.synthetic(40, seed=0)[0])
    preds = baselines.completion_baselines(images, images[:5], 14)
    for bottom in preds.values():
        assert bottom.shape == (5, 14, 28)
    # Each test image is in the training set, so its nearest neighbour is itself.
    np.testing.assert_allclose(preds["(c) nearest training image (top half)"], images[:5, 14:])
    np.testing.assert_allclose(preds["(b) repeat last given row"][:, 3], images[:5, 13])
    np.testing.assert_allclose(preds["(a) mean training bottom half"][2], images[:, 14:].mean(0))


def test_window_normal_equations_sum_over_every_window_in_chunks():
    signal = np.random.default_rng(0).normal(size=300).astype(np.float32)
    for stride in (1, 3):
        x, y = signals.windows(signal, steps=4, features=5, stride=stride)
        want = baselines.normal_equations(x.reshape(len(x), -1), y)
        got = baselines.window_normal_equations(signal, 20, 5, stride=stride, chunk=7)
        assert got[2] == want[2] == len(x)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


def test_segment_then_classify_reads_each_digit_of_each_string():
    pool, labels = mnist.synthetic(40, seed=0)
    strings = scenes.digit_strings(pool, labels, 5, digits=(1, 3), seed=0)

    def by_label(images):
        return labels[[int(np.argmin(np.abs(pool.astype(int) - im).sum((1, 2)))) for im in images]]

    read = baselines.classify_segments(by_label, strings, pool)
    want = [row[:n].tolist() for row, n in zip(strings.labels, strings.lengths)]
    assert read["alone"] == want  # each digit's own image: a perfect classifier reads it
    assert [len(r) for r in read["crop"]] == strings.lengths.tolist()
