"""rnn_jax.models.inpainter: ``p(hidden | given)`` normalises over the hidden pixels for any
mask, never reads or counts what is hidden, is autoregressive in raster order, and its
sampler draws along the distribution its one-pass likelihood scores."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.inpainter import Inpainter
from rnn_jax.models.made import RowMADE
from rnn_jax.models.sequence import SequenceModel

H, W, E, C = 3, 4, 4, 5
GIVEN = np.array([[0, 1, 0, 0], [1, 0, 0, 1], [0, 0, 1, 1]], bool)  # given right of hidden too


@pytest.fixture(scope="module")
def model():
    inpainter = Inpainter(SequenceModel(W + 2 * E, C, hidden=(6,)), RowMADE(W, C + 2 * W, 10), E)
    params = inpainter.init(jax.random.PRNGKey(0))
    params["made"]["x"]["w"] = params["made"]["x"]["w"] * 3.0  # lean on earlier pixels
    return inpainter, params


def every_filling(base: np.ndarray, given: np.ndarray) -> jnp.ndarray:
    """``base`` with its hidden pixels set to every binary pattern: ``[2^hidden, H, W]``."""
    hidden = np.flatnonzero(~given.ravel())
    out = np.repeat(base.ravel()[None], 2 ** len(hidden), axis=0)
    out[:, hidden] = list(itertools.product([0.0, 1.0], repeat=len(hidden)))
    return jnp.asarray(out.reshape(-1, *base.shape))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_hidden_pixels_distribution_sums_to_one(model, seed):
    inpainter, params = model
    base = np.random.default_rng(seed).random((H, W)).astype(np.float32)  # grayscale given
    images = every_filling(base, GIVEN)  # 2^7 = 128 completions
    total = jnp.sum(jnp.exp(inpainter.log_prob(params, images, GIVEN)))
    assert float(total) == pytest.approx(1.0, abs=1e-5)


def test_what_is_hidden_is_not_read_by_the_encoder_and_all_given_scores_zero(model):
    inpainter, params = model
    a = jax.random.uniform(jax.random.PRNGKey(1), (2, H, W))
    b = jnp.where(GIVEN, a, 1.0 - a)  # the same given pixels, other hidden ones
    given = jnp.asarray(GIVEN, a.dtype)
    np.testing.assert_array_equal(
        inpainter.encode(params, a, given), inpainter.encode(params, b, given)
    )
    assert not np.allclose(
        inpainter.encode(params, a, 1.0 - given), inpainter.encode(params, b, 1.0 - given)
    )
    np.testing.assert_array_equal(inpainter.log_prob(params, a, np.ones((H, W), bool)), 0.0)


@pytest.mark.parametrize("given", [np.zeros((H, W), bool), GIVEN], ids=["nothing", "some"])
def test_a_pixel_reads_the_given_ones_and_the_hidden_ones_before_it_only(model, given):
    inpainter, params = model
    x = jax.random.uniform(jax.random.PRNGKey(2), (H * W,))
    logits = lambda flat: inpainter.logits(params, flat.reshape(1, H, W), given).ravel()  # noqa: E731
    jac = np.asarray(jax.jacrev(logits)(x))  # [pixel i, input j]
    hidden = ~given.ravel()
    later_hidden = np.triu(np.ones((H * W, H * W), bool)) & hidden[None, :]  # j >= i, hidden
    assert np.all(jac[later_hidden] == 0.0)
    assert np.any(jac[np.tril(np.ones_like(later_hidden), -1) & hidden[None, :]] != 0.0)
    if given.any():  # the given pixels are read wherever they are (through the encoder)
        assert np.any(jac[np.triu(np.ones_like(later_hidden), 1) & given.ravel()[None, :]] != 0.0)


def test_the_sampler_draws_from_the_conditionals_the_likelihood_scores(model):
    inpainter, params = model
    images = jax.random.uniform(jax.random.PRNGKey(3), (2, H, W))
    mean = inpainter.sample(params, images, GIVEN, how="mean")  # each pixel its probability
    np.testing.assert_array_equal(np.where(GIVEN, mean, 0), np.where(GIVEN, images, 0))
    scored = jax.nn.sigmoid(inpainter.logits(params, mean, GIVEN))  # teacher-forced, one pass
    np.testing.assert_allclose(
        np.asarray(scored)[:, ~GIVEN], np.asarray(mean)[:, ~GIVEN], atol=1e-6
    )
    mode = inpainter.sample(params, images, GIVEN, how="mode")
    logits = np.asarray(inpainter.logits(params, mode, GIVEN))[:, ~GIVEN]
    np.testing.assert_array_equal(logits > 0, np.asarray(mode)[:, ~GIVEN] > 0.5)


def test_sampling_keeps_the_given_pixels_and_is_fixed_by_the_key(model):
    inpainter, params = model
    images = jax.random.uniform(jax.random.PRNGKey(5), (2, H, W))
    drawn = inpainter.sample(params, images, GIVEN, jax.random.PRNGKey(4))
    np.testing.assert_array_equal(np.where(GIVEN, drawn, 0), np.where(GIVEN, images, 0))
    assert set(np.unique(np.asarray(drawn)[:, ~GIVEN])) <= {0.0, 1.0}
    again = inpainter.sample(params, images, GIVEN, jax.random.PRNGKey(4))
    np.testing.assert_array_equal(drawn, again)
    others = [inpainter.sample(params, images, GIVEN, jax.random.PRNGKey(k)) for k in range(5, 9)]
    assert any(not np.array_equal(drawn, o) for o in others)
    with pytest.raises(ValueError, match="needs a key"):
        inpainter.sample(params, images, GIVEN)
