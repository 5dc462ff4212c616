"""rnn_jax.nn.conv: feature-map shapes, a finite-difference gradient check, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnn_jax.errors import ConfigError
from rnn_jax.nn.conv import ConvEncoder


def test_feature_map_shapes_follow_the_pools():
    enc = ConvEncoder(channels=(4, 6, 8), pools=((2, 2), (2, 2), (7, 1)))
    params = enc.init(jax.random.key(0))
    out = jax.eval_shape(enc.apply, params, jnp.ones((3, 28, 64, 1)))
    assert out.shape == (3, 1, 16, 8) == (3, *enc.out_shape(28, 64))
    assert [p["w"].shape for p in params] == [(3, 3, 1, 4), (3, 3, 4, 6), (3, 3, 6, 8)]


@pytest.mark.slow
def test_gradients_match_finite_differences():
    enc = ConvEncoder(channels=(3, 4), pools=((2, 2), (1, 1)), in_channels=2)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda p: p.astype(jnp.float64), enc.init(jax.random.key(0)))
        images = jax.random.normal(jax.random.key(1), (2, 6, 8, 2), jnp.float64)
        f = lambda p, x: jnp.sum(jnp.sin(enc.apply(p, x)))  # noqa: E731
        check_grads(f, (params, images), order=1, modes=["rev"], eps=1e-6, atol=1e-5, rtol=1e-5)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ConfigError, match="2 conv layers but 1 pools"):
        ConvEncoder(channels=(3, 4), pools=((2, 2),))
    enc = ConvEncoder(channels=(3,), pools=((2, 2),))
    with pytest.raises(ValueError, match=r"expected images \[B, H, W, 1\]"):
        enc.apply(enc.init(jax.random.key(0)), np.ones((2, 8, 8)))
