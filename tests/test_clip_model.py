"""rnn_jax.models.clips: what each kind reads (the order-free kinds cannot see order)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.clips import KINDS, ClipModel


def test_heads_and_per_frame_digits_have_their_shapes(key):
    model = ClipModel("average", (2,), 4, size=8, directions=8)
    frames = jnp.zeros((3, 4, 8, 8))
    params = jax.eval_shape(model.init, key)
    digits, directions, first, seen = jax.eval_shape(model.apply, params, frames, jnp.ones(3, int))
    assert digits.shape == first.shape == (3, 10) and directions.shape == (3, 10, 8)
    assert seen.shape == (3, 4, 10)


@pytest.mark.slow
def test_what_each_kind_reads():
    rng = np.random.default_rng(0)
    frames = jnp.asarray(rng.random((2, 5, 24, 24)), jnp.float32)
    lengths = jnp.array([5, 3], jnp.int32)
    later = frames.at[:, 1:].set(0)  # only the first frame left
    beyond = frames.at[1, 3:].set(1.0)  # after the second clip's length
    shuffled = frames.at[0].set(frames[0, np.array([3, 0, 4, 2, 1])])  # valid frames permuted
    shuffled = shuffled.at[1, :3].set(frames[1, np.array([2, 0, 1])])
    for kind in KINDS:
        model = ClipModel(kind, (4, 8), 16, size=24)
        params = model.init(jax.random.PRNGKey(0))
        digits, directions, first, seen = model.apply(params, frames, lengths)
        assert digits.shape == (2, 10) and directions.shape == (2, 10, 8) and first.shape == (2, 10)
        assert seen.shape == (2, 1 if kind == "frame" else 5, 10)
        first_only = np.allclose(model.apply(params, later, lengths)[0], digits, atol=1e-5)
        assert first_only == (kind == "frame"), kind
        np.testing.assert_allclose(model.apply(params, beyond, lengths)[0][1], digits[1], atol=1e-5)
        permuted = model.apply(params, shuffled, lengths)
        if kind == "average":  # the same up to the order of a float32 sum
            for a, b in zip(permuted[:3], (digits, directions, first)):
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        else:
            assert not np.allclose(permuted[1], directions, atol=1e-4), kind
