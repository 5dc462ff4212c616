"""Train state, optimizer, batching, the jitted step, evaluation and the fit loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax import stack, train
from rnn_jax.cells import LSTM


def regression_problem(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32)
    return {"x": x, "y": y}


def loss_fn(params, batch, key):
    pred = batch["x"] @ params["w"]
    loss = jnp.mean((pred - batch["y"]) ** 2)
    return loss, {"mae": jnp.mean(jnp.abs(pred - batch["y"]))}


def fresh_state(tx, seed=0):
    return train.init_state({"w": jnp.zeros((3,))}, tx, seed)


def test_optimizer_schedules_and_bad_name():
    tx = train.make_optimizer(1e-2, 100, schedule="cosine", warmup_steps=10, clip_norm=1.0)
    state = tx.init({"w": jnp.zeros(2)})
    assert jax.tree.leaves(state)  # chain(clip, adam) state exists
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        train.make_optimizer(1e-2, 100, schedule="linear")


def test_cosine_warmup_starts_at_zero_and_constant_does_not():
    g = {"w": jnp.full((4,), 100.0)}
    for schedule, moves in (("cosine", False), ("constant", True)):
        tx = train.make_optimizer(0.1, 10, schedule=schedule, warmup_steps=5, clip_norm=1.0)
        with jax.numpy_dtype_promotion("standard"):
            upd, _ = tx.update(g, tx.init(g), g)
        assert bool(jnp.any(upd["w"] != 0)) is moves


def test_batches_fixed_shape_deterministic_and_resumable():
    data = {"x": np.arange(10), "y": np.arange(10) * 2}
    stream = train.batches(data, 3, seed=1)
    first = [next(stream) for _ in range(7)]  # 3 per epoch: crosses two epoch boundaries
    assert all(b["x"].shape == (3,) for b in first)
    np.testing.assert_array_equal(first[0]["y"], first[0]["x"] * 2)
    epoch0 = np.concatenate([b["x"] for b in first[:3]])
    assert len(set(epoch0.tolist())) == 9  # no repeats within an epoch; 1 dropped
    again = train.batches(data, 3, seed=1, start_step=4)
    for b in first[4:]:
        np.testing.assert_array_equal(next(again)["x"], b["x"])
    other_seed = [next(train.batches(data, 3, seed=2))["x"] for _ in range(1)]
    assert not np.array_equal(other_seed[0], first[0]["x"])
    stacked = next(train.batches(data, 3, seed=1, start_step=1, steps_per_call=2))
    np.testing.assert_array_equal(stacked["x"], np.stack([first[1]["x"], first[2]["x"]]))


def test_batches_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch size 20 is larger than the 10"):
        next(train.batches({"x": np.arange(10)}, 20, seed=0))


def test_train_step_lowers_loss_and_traces_once():
    traces = []

    def counting_loss(params, batch, key):
        traces.append(1)
        return loss_fn(params, batch, key)

    tx = optax.adam(0.1)
    step = train.make_train_step(counting_loss, tx)
    state = fresh_state(tx)
    data = train.batches(regression_problem(), 16, seed=0)
    losses = []
    for _ in range(30):
        state, metrics = step(state, next(data))
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.1 * losses[0]
    assert int(state.step) == 30
    assert set(metrics) == {"loss", "mae", "grad_norm"}
    assert len(traces) == 1  # one compile for every batch


def test_same_seed_same_params_bit_for_bit():
    def run():
        tx = optax.adam(0.05)
        step = train.make_train_step(loss_fn, tx)
        state = fresh_state(tx)
        data = train.batches(regression_problem(), 16, seed=3)
        for _ in range(10):
            state, _ = step(state, next(data))
        return np.asarray(state.params["w"])

    np.testing.assert_array_equal(run(), run())


def test_steps_per_call_equals_single_steps():
    tx = optax.adam(0.05)
    single, multi = (
        train.make_train_step(loss_fn, tx),
        train.make_train_step(loss_fn, tx, steps_per_call=4),
    )
    s1, s4 = fresh_state(tx), fresh_state(tx)
    d1 = train.batches(regression_problem(), 16, seed=0)
    d4 = train.batches(regression_problem(), 16, seed=0, steps_per_call=4)
    for _ in range(4):
        s1, _ = single(s1, next(d1))
    s4, m4 = multi(s4, next(d4))
    assert int(s4.step) == 4 and m4["loss"].shape == ()
    np.testing.assert_allclose(s4.params["w"], s1.params["w"], rtol=1e-6)


def two_devices():
    if len(jax.local_devices()) < 2:
        pytest.skip("needs 2 devices: run with JAX_NUM_CPU_DEVICES=2 (tests/conftest.py sets it)")
    return train.data_parallel_mesh(2)


@pytest.mark.parametrize("steps_per_call", [1, 2])
def test_data_parallel_step_equals_one_device(steps_per_call):
    mesh = two_devices()
    tx = optax.adam(0.05)
    one = train.make_train_step(loss_fn, tx, steps_per_call=steps_per_call)
    split = train.make_train_step(loss_fn, tx, steps_per_call=steps_per_call, mesh=mesh)
    s1, s2 = fresh_state(tx), train.replicate(fresh_state(tx), mesh)
    data = train.batches(regression_problem(), 16, seed=0, steps_per_call=steps_per_call)
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
    s2 = train.replicate(train.init_state(jax.tree.map(jnp.copy, params), tx, 0), mesh)
    s1, _ = train.make_train_step(lstm_loss, tx)(s1, batch)
    s2, _ = train.make_train_step(lstm_loss, tx, mesh=mesh)(s2, batch)
    for a, b in zip(jax.tree.leaves(s2.params), jax.tree.leaves(s1.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_data_parallel_bad_input():
    mesh = two_devices()
    tx = optax.adam(0.05)
    step = train.make_train_step(loss_fn, tx, mesh=mesh)
    with pytest.raises(ValueError, match=r"batch of \[15\] examples does not split evenly over 2"):
        step(
            train.replicate(fresh_state(tx), mesh),
            next(train.batches(regression_problem(), 15, seed=0)),
        )
    n = len(jax.local_devices())
    with pytest.raises(
        ValueError, match=f"over {n + 1} devices, but JAX sees {n} .*JAX_NUM_CPU_DEVICES={n + 1}"
    ):
        train.data_parallel_mesh(n + 1)


def test_fit_data_parallel_runs_many_steps():
    # XLA:CPU deadlocked once its queue of 32 multi-device steps was full (steps that
    # take longer than Python takes to launch them); the step keeps at most two in flight.
    mesh = two_devices()
    params, lstm_loss, data = lstm_problem(b=512, t=28, d=28, h=64)
    tx = optax.adam(1e-3)
    step = train.make_train_step(lstm_loss, tx, mesh=mesh)
    state = train.replicate(train.init_state(params, tx, 0), mesh)
    state = train.fit(state, step, iter(lambda: data, None), total_steps=100, log_every=100)
    assert int(state.step) == 100


def test_evaluate_is_exact_with_a_partial_last_batch():
    data = regression_problem(n=10)
    params = {"w": jnp.array([0.5, 0.5, 0.5])}

    @jax.jit
    def sums(params, batch):
        err = (batch["x"] @ params["w"] - batch["y"]) ** 2
        return {"mse": jnp.sum(batch["weight"] * err), "count": jnp.sum(batch["weight"])}

    got = train.evaluate(sums, params, data, batch_size=4)
    want = np.mean((data["x"] @ np.full(3, 0.5, np.float32) - data["y"]) ** 2)
    assert got["mse"] == pytest.approx(want, rel=1e-6)


def test_fit_evaluates_logs_and_stops_on_nan():
    tx = optax.sgd(0.01)
    step = train.make_train_step(loss_fn, tx)
    logged, evals = [], []
    state = train.fit(
        fresh_state(tx),
        step,
        train.batches(regression_problem(), 16, seed=0),
        total_steps=10,
        log_every=4,
        evaluation=train.Evaluation(lambda s: {"val": {"w0": float(s.params["w"][0])}}, 5),
        on_log=lambda step, split, m: logged.append((step, split)),
        on_eval=lambda s, r: evals.append(int(s.step)),
    )
    assert int(state.step) == 10 and evals == [5, 10]
    assert (5, "val") in logged and (10, "train") in logged

    def nan_loss(params, batch, key):
        loss, aux = loss_fn(params, batch, key)
        return loss * jnp.nan, aux

    bad_step = train.make_train_step(nan_loss, tx)
    with pytest.raises(FloatingPointError, match="between steps 0 and 3"):
        train.fit(
            fresh_state(tx),
            bad_step,
            train.batches(regression_problem(), 16, seed=0),
            total_steps=6,
            log_every=3,
        )
