"""rnn_jax.models.made: the row distribution is autoregressive, normalised, its one-pass
likelihood is the product of the pixel-by-pixel one, and sampling is fixed by the key."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.made import RowMADE


@pytest.fixture
def made(key):
    model = RowMADE(width=5, context=3, hidden=12)
    params = model.init(key)
    params["x"]["w"] = params["x"]["w"] * 3.0  # stronger dependence on earlier pixels
    context = jax.random.normal(jax.random.PRNGKey(7), (2, 3))
    return model, params, context


def test_a_pixel_depends_on_earlier_pixels_only(made):
    model, params, context = made
    x = jnp.full((5,), 0.5)
    jac = jax.jacfwd(lambda x: model.logits(params, context[0], x))(x)  # [out, in]
    assert np.all(np.asarray(jac)[np.triu_indices(5)] == 0.0)  # d logit_d / d x_j, j >= d
    assert np.any(np.asarray(jac)[np.tril_indices(5, -1)] != 0.0)


def test_the_row_distribution_sums_to_one(made):
    model, params, context = made
    rows = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=5)))
    for c in context:
        p = jnp.exp(model.log_prob(params, jnp.broadcast_to(c, (32, 3)), rows))
        assert float(jnp.sum(p)) == pytest.approx(1.0, abs=1e-5)


def test_one_pass_likelihood_equals_pixel_by_pixel_on_a_sampled_row(made):
    model, params, context = made
    x = model.sample(params, context, jax.random.PRNGKey(3))
    assert set(np.unique(np.asarray(x))) <= {0.0, 1.0}
    total = 0.0
    for d in range(5):  # each pixel given only the ones before it
        prefix = x.at[:, d:].set(0.0)
        logit = model.logits(params, context, prefix)[:, d]
        total += jnp.where(x[:, d] > 0, jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit))
    np.testing.assert_allclose(model.log_prob(params, context, x), total, rtol=1e-5)


def test_sampling_is_fixed_by_the_key_and_mean_and_mode_need_none(made):
    model, params, context = made
    a = model.sample(params, context, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a, model.sample(params, context, jax.random.PRNGKey(1)))
    mean = model.sample(params, context, how="mean")
    mode = model.sample(params, context, how="mode")
    assert np.all((0 < np.asarray(mean)) & (np.asarray(mean) < 1))
    np.testing.assert_array_equal(mode, model.sample(params, context, how="mode"))
    with pytest.raises(ValueError, match="needs a key"):
        model.sample(params, context)


def test_known_pixels_are_taken_not_drawn_and_later_pixels_read_them(made):
    model, params, context = made
    values = jnp.asarray([[0.0, 1.0, 0.0, 0.3, 0.0]] * 2)
    given = jnp.asarray([[False, True, False, True, False]] * 2)
    x = model.sample(params, context, jax.random.PRNGKey(2), known=(values, given))
    np.testing.assert_array_equal(np.asarray(x)[:, [1, 3]], np.asarray(values)[:, [1, 3]])
    mean = model.sample(params, context, how="mean", known=(values, given))
    logits = model.logits(params, context, mean)  # one pass over the filled-in row
    np.testing.assert_allclose(jax.nn.sigmoid(logits)[:, [0, 2, 4]], mean[:, [0, 2, 4]], atol=1e-6)
