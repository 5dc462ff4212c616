"""Batching: the resumable training stream and padded evaluation chunks."""

import numpy as np
import pytest

from rnn_jax import batching


def test_batches_fixed_shape_deterministic_and_resumable():
    data = {"x": np.arange(10), "y": np.arange(10) * 2}
    stream = batching.batches(data, 3, seed=1)
    first = [next(stream) for _ in range(7)]  # 3 per epoch: crosses two epoch boundaries
    assert all(b["x"].shape == (3,) for b in first)
    np.testing.assert_array_equal(first[0]["y"], first[0]["x"] * 2)
    epoch0 = np.concatenate([b["x"] for b in first[:3]])
    assert len(set(epoch0.tolist())) == 9  # no repeats within an epoch; 1 dropped
    again = batching.batches(data, 3, seed=1, start_step=4)
    for b in first[4:]:
        np.testing.assert_array_equal(next(again)["x"], b["x"])
    other_seed = [next(batching.batches(data, 3, seed=2))["x"] for _ in range(1)]
    assert not np.array_equal(other_seed[0], first[0]["x"])
    stacked = next(batching.batches(data, 3, seed=1, start_step=1, steps_per_call=2))
    np.testing.assert_array_equal(stacked["x"], np.stack([first[1]["x"], first[2]["x"]]))


def test_batches_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch size 20 is larger than the 10"):
        next(batching.batches({"x": np.arange(10)}, 20, seed=0))


def test_padded_chunks_cover_everything_once_with_weights():
    data = {"x": np.arange(10)}
    chunks = list(batching.padded_chunks(data, 4))
    assert [c["x"].shape for c in chunks] == [(4,)] * 3
    weights = np.concatenate([c["weight"] for c in chunks])
    np.testing.assert_array_equal(weights, [1] * 10 + [0] * 2)
    np.testing.assert_array_equal(np.concatenate([c["x"] for c in chunks])[:10], np.arange(10))
