"""SequenceModel: one-step rollouts match the scanned model; dropout only when training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.sequence import SequenceModel, count_params


@pytest.mark.parametrize("cell", ["lstm", pytest.param("gru", marks=pytest.mark.slow), "rnn"])
def test_step_by_step_equals_apply_seq(cell):
    model = SequenceModel(in_dim=3, out_dim=2, cell=cell, hidden=(4, 5), input_proj=6, head=(7,))
    params = model.init(jax.random.PRNGKey(0))
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    want = model.apply_seq(params, xs)
    carries, outs = model.init_carries(params, 2), []
    for t in range(5):
        carries, y = model.step(params, carries, xs[:, t])
        outs.append(y)
    np.testing.assert_allclose(jnp.stack(outs, 1), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.apply_last(params, xs), want[:, -1], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_dropout_applies_only_with_a_key():
    model = SequenceModel(in_dim=3, out_dim=2, hidden=(8, 8), dropout=0.5)
    params = model.init(jax.random.PRNGKey(0))
    xs = jnp.ones((2, 4, 3))
    a, b = model.apply_seq(params, xs), model.apply_seq(params, xs)
    np.testing.assert_array_equal(a, b)
    c = model.apply_seq(params, xs, key=jax.random.key(3))
    assert not np.allclose(a, c)


@pytest.mark.slow
def test_dropout_before_the_head_keeps_the_expected_output():
    # One RNN layer and a linear head: the only dropout is on the last output, and
    # inverted dropout keeps the head's expectation; apply_last masks only what it reads.
    model = SequenceModel(in_dim=3, out_dim=2, hidden=(8,), dropout=0.5)
    params = model.init(jax.random.PRNGKey(0))
    xs = jax.random.normal(jax.random.key(1), (2, 4, 3))
    keys = jax.random.split(jax.random.key(2), 4000)
    outs = jax.vmap(lambda k: model.apply_last(params, xs, key=k))(keys)
    assert float(jnp.mean(outs == outs[:1])) < 0.5  # masks differ between keys
    np.testing.assert_allclose(outs.mean(0), model.apply_last(params, xs), atol=0.02)
    seq = jax.vmap(lambda k: model.apply_seq(params, xs, key=k))(keys)
    np.testing.assert_allclose(seq.mean(0), model.apply_seq(params, xs), atol=0.02)


def test_bad_settings_fail_early():
    with pytest.raises(ValueError, match="unknown cell"):
        SequenceModel(in_dim=3, out_dim=2, cell="transformer")
    with pytest.raises(ValueError, match="one positive size per layer"):
        SequenceModel(in_dim=3, out_dim=2, hidden=())


def test_count_params():
    model = SequenceModel(in_dim=3, out_dim=2, cell="rnn", hidden=(4,))
    # rnn: 3*4 + 4*4 + 4; head: 4*2 + 2
    assert count_params(model.init(jax.random.PRNGKey(0))) == 12 + 16 + 4 + 10
