"""Train state, the jitted step, evaluation and the fit loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.errors import DivergedError
from rnn_jax.training import batching, train


def test_train_step_lowers_loss_and_traces_once(linear):
    traces = []

    def counting_loss(params, batch, key):
        traces.append(1)
        return linear.loss_fn(params, batch, key)

    tx = optax.adam(0.1)
    step = train.make_train_step(counting_loss, tx)
    state = linear.fresh_state(tx)
    data = batching.batches(linear.data(), 16, seed=0)
    losses = []
    for _ in range(30):
        state, metrics = step(state, next(data))
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.1 * losses[0]
    assert int(state.step) == 30
    assert set(metrics) == {"loss", "mae", "grad_norm"}
    assert len(traces) == 1  # one compile for every batch


def test_same_seed_same_params_bit_for_bit(linear):
    def run():
        tx = optax.adam(0.05)
        step = train.make_train_step(linear.loss_fn, tx)
        state = linear.fresh_state(tx)
        data = batching.batches(linear.data(), 16, seed=3)
        for _ in range(10):
            state, _ = step(state, next(data))
        return np.asarray(state.params["w"])

    np.testing.assert_array_equal(run(), run())


def test_steps_per_call_equals_single_steps(linear):
    tx = optax.adam(0.05)
    single, multi = (
        train.make_train_step(linear.loss_fn, tx),
        train.make_train_step(linear.loss_fn, tx, steps_per_call=4),
    )
    s1, s4 = linear.fresh_state(tx), linear.fresh_state(tx)
    d1 = batching.batches(linear.data(), 16, seed=0)
    d4 = batching.batches(linear.data(), 16, seed=0, steps_per_call=4)
    for _ in range(4):
        s1, _ = single(s1, next(d1))
    s4, m4 = multi(s4, next(d4))
    assert int(s4.step) == 4 and m4["loss"].shape == ()
    np.testing.assert_allclose(s4.params["w"], s1.params["w"], rtol=1e-6)


def test_evaluate_is_exact_with_a_partial_last_batch(linear):
    data = linear.data(n=10)
    params = {"w": jnp.array([0.5, 0.5, 0.5])}

    @jax.jit
    def sums(params, batch):
        err = (batch["x"] @ params["w"] - batch["y"]) ** 2
        return {"mse": jnp.sum(batch["weight"] * err), "count": jnp.sum(batch["weight"])}

    got = train.evaluate(sums, params, data, batch_size=4)
    want = np.mean((data["x"] @ np.full(3, 0.5, np.float32) - data["y"]) ** 2)
    assert got["mse"] == pytest.approx(want, rel=1e-6)


def mse_sums(params, batch):
    err = (batch["x"] @ params["w"] - batch["y"]) ** 2
    return {"mse": jnp.sum(batch["weight"] * err), "count": jnp.sum(batch["weight"])}


def test_members_validations_equal_their_own(linear):
    # Three members, each with its own parameters and its own split (10 rows, batches of 4:
    # the padded last batch is weighted 0), scored in one vmapped call.
    splits = [linear.data(n=10, seed=s) for s in range(3)]
    params = [{"w": jnp.full(3, v, jnp.float32)} for v in (0.1, 0.5, -2.0)]
    validations = [train.Validation(mse_sums, split, batch_size=4) for split in splits]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *params)
    got = train.evaluate_members(validations, stacked)
    for g, v, p in zip(got, validations, params):
        assert g.keys() == {"mse"}
        assert g["mse"] == pytest.approx(v(p)["mse"], rel=1e-6)
    assert got[0]["mse"] != pytest.approx(got[1]["mse"])


def test_fit_evaluates_logs_and_stops_on_nan(linear):
    tx = optax.sgd(0.01)
    step = train.make_train_step(linear.loss_fn, tx)
    logged, evals = [], []
    state = train.fit(
        linear.fresh_state(tx),
        step,
        batching.batches(linear.data(), 16, seed=0),
        start=0,
        total_steps=10,
        log_every=4,
        evaluation=train.Evaluation(lambda s: [{"val": {"w0": float(s.params["w"][0])}}], 5),
        on_log=lambda m, step, split, values: logged.append((m, step, split)),
        on_eval=lambda s, r: evals.append(int(s.step)),
    )
    assert int(state.step) == 10 and evals == [5, 10]
    assert (0, 5, "val") in logged and (0, 10, "train") in logged and (0, 10, "time") in logged

    def nan_loss(params, batch, key):
        loss, aux = linear.loss_fn(params, batch, key)
        return loss * jnp.nan, aux

    bad_step = train.make_train_step(nan_loss, tx)
    with pytest.raises(DivergedError, match="between steps 0 and 3"):
        train.fit(
            linear.fresh_state(tx),
            bad_step,
            batching.batches(linear.data(), 16, seed=0),
            start=0,
            total_steps=6,
            log_every=3,
        )


def test_fit_fails_members_one_by_one_and_stops_when_none_is_left():
    """Metrics of shape [members]: a member whose loss turns non-finite gets on_fail and no
    more rows while the others log on; DivergedError only once every member has failed."""
    losses = iter([[1.0, 2.0], [1.0, np.nan], [1.0, 2.0], [np.inf, 2.0]])

    def step(state, batch):
        return state + 1, {"loss": jnp.asarray(next(losses))}

    rows, fails = [], []
    with pytest.raises(DivergedError, match="between steps 2 and 4"):
        train.fit(
            0,
            step,
            iter(lambda: None, 1),
            start=0,
            total_steps=4,
            members=2,
            log_every=2,
            on_log=lambda m, step, split, values: rows.append((m, step, split, values["loss"])),
            on_fail=lambda m, why: fails.append((m, why.split(";")[0])),
        )
    assert (0, 2, "train", 1.0) in rows and all(r[0] == 0 for r in rows if r[1] > 0)
    assert fails == [(1, "non-finite ['loss'] between steps 0 and 2"), (0, fails[1][1])]


def test_classification_sums_weigh_out_the_padding():
    logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [5.0, 0.0]])
    sums = train.classification_sums(logits, jnp.array([0, 0, 1]), jnp.array([1.0, 1.0, 0.0]))
    assert float(sums["accuracy"]) == 1.0 and float(sums["count"]) == 2.0  # the third is padding
    expected = float(
        optax.softmax_cross_entropy_with_integer_labels(logits[:2], jnp.array([0, 0])).sum()
    )
    assert float(sums["loss"]) == pytest.approx(expected)
