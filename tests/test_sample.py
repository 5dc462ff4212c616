"""Rollouts: both kinds equal a Python loop of single steps, for every feedback; causality."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models import sample
from rnn_jax.models.sequence import SequenceModel

MODEL = SequenceModel(in_dim=5, out_dim=5, cell="lstm", hidden=(6, 4), head=(7,))
FEEDBACKS = {"identity": sample.identity, "sigmoid": lambda y, key: jax.nn.sigmoid(y)}


def carry_forward_loop(params, prompt, length, feedback, keys=None):
    carries, y = MODEL.warm_up(params, prompt)
    out = []
    for k in range(length):
        x = feedback(y, None if keys is None else keys[k])
        out.append(x)
        carries, y = MODEL.step(params, carries, x)
    return jnp.stack(out, 1)


def sliding_window_loop(params, window, length, feedback):
    out = []
    for _ in range(length):
        x = feedback(MODEL.apply_last(params, window), None)
        out.append(x)
        window = jnp.concatenate([window[:, 1:], x[:, None]], axis=1)
    return jnp.stack(out, 1)


@pytest.fixture(scope="module")
def setup():
    params = MODEL.init(jax.random.PRNGKey(0))
    prompt = jax.random.uniform(jax.random.key(1), (3, 4, 5))
    return params, prompt


def carry_forward(params, prompt, length, feedback, key=None):
    carries, y = MODEL.warm_up(params, prompt)
    step = lambda c, x: MODEL.step(params, c, x)  # noqa: E731
    return sample.carry_forward(step, carries, y, length, feedback=feedback, key=key)


@pytest.mark.parametrize("name", FEEDBACKS)
def test_carry_forward_equals_a_loop_of_steps(setup, name):
    params, prompt = setup
    got = jax.jit(carry_forward, static_argnums=(2, 3))(params, prompt, 6, FEEDBACKS[name])
    want = carry_forward_loop(params, prompt, 6, FEEDBACKS[name])
    assert got.shape == (3, 6, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", FEEDBACKS)
def test_sliding_window_equals_a_loop_of_window_predictions(setup, name):
    params, window = setup
    predict = lambda w: MODEL.apply_last(params, w)  # noqa: E731
    got = sample.sliding_window(predict, window, 6, feedback=FEEDBACKS[name])
    want = sliding_window_loop(params, window, 6, FEEDBACKS[name])
    assert got.shape == (3, 6, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_token_rollouts_greedy_and_temperature_equal_loops():
    """Tokens in, logits out: ids are embedded one-hot inside the step."""
    vocab = 5
    model = SequenceModel(in_dim=vocab, out_dim=vocab, cell="gru", hidden=(8,))
    params = model.init(jax.random.PRNGKey(2))
    ids = jnp.array([[0, 3, 1, 4], [2, 2, 0, 1]], jnp.int32)
    onehot = lambda i: jax.nn.one_hot(i, vocab, dtype=jnp.float32)  # noqa: E731

    # Greedy over a sliding window of ids.
    predict = lambda w: model.apply_last(params, onehot(w))  # noqa: E731
    got = sample.sliding_window(predict, ids, 5, feedback=sample.greedy)
    window, want = ids, []
    for _ in range(5):
        nxt = jnp.argmax(predict(window), -1).astype(jnp.int32)
        want.append(nxt)
        window = jnp.concatenate([window[:, 1:], nxt[:, None]], axis=1)
    np.testing.assert_array_equal(got, jnp.stack(want, 1))
    assert got.dtype == jnp.int32

    # Temperature sampling, carrying the state: one key per step, split from the given key.
    key = jax.random.key(3)
    carries, logits = model.warm_up(params, onehot(ids))
    step = lambda c, i: model.step(params, c, onehot(i))  # noqa: E731
    got = sample.carry_forward(step, carries, logits, 5, feedback=sample.temperature(0.7), key=key)
    want = []
    for k in jax.random.split(key, 5):
        nxt = jax.random.categorical(k, logits / 0.7)
        want.append(nxt)
        carries, logits = step(carries, nxt)
    np.testing.assert_array_equal(got, jnp.stack(want, 1))
    # A temperature near zero is greedy.
    cold = sample.carry_forward(
        step, *model.warm_up(params, onehot(ids)), 5, feedback=sample.temperature(1e-6), key=key
    )
    hot = sample.carry_forward(step, *model.warm_up(params, onehot(ids)), 5, feedback=sample.greedy)
    np.testing.assert_array_equal(cold, hot)


@pytest.mark.slow
def test_rollouts_are_causal(setup):
    """A longer rollout starts with the shorter one (later steps never change earlier ones),
    and each sequence's outputs depend on its own prompt only."""
    params, prompt = setup
    short = carry_forward(params, prompt, 3, sample.identity)
    long = carry_forward(params, prompt, 7, sample.identity)
    np.testing.assert_array_equal(long[:, :3], short)
    predict = lambda w: MODEL.apply_last(params, w)  # noqa: E731
    short = sample.sliding_window(predict, prompt, 3)
    long = sample.sliding_window(predict, prompt, 7)
    np.testing.assert_array_equal(long[:, :3], short)
    grad = jax.grad(lambda p: carry_forward(params, p, 4, sample.identity)[0, 0].sum())(prompt)
    assert float(jnp.abs(grad[1:]).max()) == 0.0 and float(jnp.abs(grad[0]).max()) > 0.0


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature must be positive"):
        sample.temperature(0.0)
