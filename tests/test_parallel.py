"""Data parallelism: split steps equal one-device steps; bad device counts; no deadlock."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.recurrent import stack
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.training import batching, parallel, train


def two_devices():
    if len(jax.local_devices()) < 2:
        pytest.skip("needs 2 devices: run with JAX_NUM_CPU_DEVICES=2 (tests/conftest.py sets it)")
    return parallel.data_parallel_mesh(2)


@pytest.mark.parametrize("steps_per_call", [1, 2])
def test_data_parallel_step_equals_one_device(linear, steps_per_call):
    mesh = two_devices()
    tx = optax.adam(0.05)
    one = train.make_train_step(linear.loss_fn, tx, steps_per_call=steps_per_call)
    split = train.make_train_step(linear.loss_fn, tx, steps_per_call=steps_per_call, mesh=mesh)
    s1, s2 = linear.fresh_state(tx), parallel.replicate(linear.fresh_state(tx), mesh)
    data = batching.batches(linear.data(), 16, seed=0, steps_per_call=steps_per_call)
    for _ in range(3):
        batch = next(data)
        s1, m1 = one(s1, batch)
        s2, m2 = split(s2, batch)
    assert s2.params["w"].sharding.device_set == set(mesh.devices.flat)
    np.testing.assert_allclose(s2.params["w"], s1.params["w"], rtol=1e-5)
    for k in m1:
        np.testing.assert_allclose(m2[k], m1[k], rtol=1e-5)


def lstm_problem(b=4, t=6, d=3, h=8):
    def lstm_loss(params, batch, key):
        _, hs = stack.stack_apply(LSTM, params, batch["x"])
        return jnp.mean((hs[:, -1] - batch["y"]) ** 2), {}

    rng = np.random.default_rng(0)
    data = {
        "x": rng.normal(size=(b, t, d)).astype(np.float32),
        "y": rng.normal(size=(b, h)).astype(np.float32),
    }
    return stack.stack_init(jax.random.key(0), LSTM, d, (h,)), lstm_loss, data


def test_data_parallel_lstm_gradients_equal_one_device():
    mesh = two_devices()
    params, lstm_loss, batch = lstm_problem()
    tx = optax.sgd(1.0)  # the update is minus the gradient
    s1 = train.init_state(params, tx, 0)
    s2 = parallel.replicate(train.init_state(jax.tree.map(jnp.copy, params), tx, 0), mesh)
    s1, _ = train.make_train_step(lstm_loss, tx)(s1, batch)
    s2, _ = train.make_train_step(lstm_loss, tx, mesh=mesh)(s2, batch)
    for a, b in zip(jax.tree.leaves(s2.params), jax.tree.leaves(s1.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_data_parallel_bad_input(linear):
    mesh = two_devices()
    tx = optax.adam(0.05)
    step = train.make_train_step(linear.loss_fn, tx, mesh=mesh)
    with pytest.raises(ValueError, match="batch of 15 examples does not split evenly over 2"):
        step(
            parallel.replicate(linear.fresh_state(tx), mesh),
            next(batching.batches(linear.data(), 15, seed=0)),
        )
    n = len(jax.local_devices())
    with pytest.raises(
        ValueError, match=f"over {n + 1} devices, but JAX sees {n} .*JAX_NUM_CPU_DEVICES={n + 1}"
    ):
        parallel.data_parallel_mesh(n + 1)


@pytest.mark.slow
def test_fit_data_parallel_runs_many_steps():
    # XLA:CPU deadlocked once its queue of 32 multi-device steps was full (steps that
    # take longer than Python takes to launch them); the step keeps at most two in flight.
    mesh = two_devices()
    params, lstm_loss, data = lstm_problem(b=512, t=28, d=28, h=64)
    tx = optax.adam(1e-3)
    step = train.make_train_step(lstm_loss, tx, mesh=mesh)
    state = parallel.replicate(train.init_state(params, tx, 0), mesh)
    state = train.fit(
        state, step, iter(lambda: data, None), start=0, total_steps=100, log_every=100
    )
    assert int(state.step) == 100
