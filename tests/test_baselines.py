"""Nearest-neighbour search against brute force."""

import numpy as np

from rnn_jax.baselines import knn_indices


def test_knn_matches_brute_force():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 6)).astype(np.float32)
    queries = rng.normal(size=(37, 6)).astype(np.float32)
    got = knn_indices(train, queries, k=3, chunk=10)  # several chunks, one partial
    dist = ((queries[:, None] - train[None]) ** 2).sum(-1)
    want = np.argsort(dist, axis=1)[:, :3]
    np.testing.assert_array_equal(got, want)
