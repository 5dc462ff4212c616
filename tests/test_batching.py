"""Batching: the resumable training stream and padded evaluation chunks."""

import jax
import numpy as np
import pytest

from rnn_jax.training import batching


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


def test_in_chunks_equals_one_call_on_everything():
    x = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
    batch = {"x": x, "w": np.arange(23)}

    def fn(b):
        return b["x"].sum(1) * 2, b["w"][:, None] + b["x"]

    calls = []
    got = batching.in_chunks(lambda b: calls.append(len(b["w"])) or fn(b), batch, 10)
    for a, b in zip(got, fn(batch)):
        np.testing.assert_array_equal(a, b)
    assert calls == [10, 10, 3]
    np.testing.assert_array_equal(batching.in_chunks(lambda v: -v, x, 4), -x)


def test_keyed_chunks_give_each_chunk_its_own_key_from_the_seed():
    seen = []

    def fn(part, key):
        seen.append(key)
        return part * 2

    out = batching.in_keyed_chunks(fn, np.arange(5), 2, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(out, np.arange(5) * 2)
    want = jax.random.split(jax.random.PRNGKey(3), 3)  # three chunks: 2, 2, 1
    for got, key in zip(seen, want, strict=True):
        np.testing.assert_array_equal(got, key)
    seen.clear()
    batching.in_keyed_chunks(fn, np.arange(5), 2, None)
    assert seen == [None, None, None]
