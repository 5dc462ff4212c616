"""train_run: the shared training run, here split over two devices and resumed."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax import train
from rnn_jax.experiment import train_run


def loss_fn(params, batch, key):
    return jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2), {}


def run(tmp_path, name, *, devices, total_steps, resume=False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    data = {"x": x, "y": x @ np.array([1.0, -2.0, 0.5], np.float32)}
    sums = jax.jit(
        lambda params, batch: {
            "mse": ((batch["x"] @ params["w"] - batch["y"]) ** 2 * batch["weight"]).sum(),
            "count": batch["weight"].sum(),
        }
    )
    return train_run(
        experiment=name,
        run_dir=tmp_path / name,
        resume=resume,
        init_params=lambda: {"w": np.zeros(3, np.float32)},
        loss_fn=loss_fn,
        tx=optax.adam(0.05),
        train_arrays=data,
        batch_size=16,
        total_steps=total_steps,
        seed=0,
        evaluate=lambda params: {"val": train.evaluate(sums, params, data, 32)},
        eval_every=10,
        best_metric="val/mse",
        best_mode="min",
        devices=devices,
    )


def test_two_devices_resume_and_match_one_device(tmp_path):
    if len(jax.local_devices()) < 2:
        pytest.skip("needs 2 devices: run with JAX_NUM_CPU_DEVICES=2 (tests/conftest.py sets it)")
    one = run(tmp_path, "one", devices=1, total_steps=40)
    two = run(tmp_path, "two", devices=2, total_steps=40)
    assert two.best_params["w"].sharding.device_set == {jax.local_devices()[0]}
    np.testing.assert_allclose(two.state.params["w"], one.state.params["w"], rtol=1e-5)
    run(tmp_path, "resumed", devices=2, total_steps=20)
    resumed = run(tmp_path, "resumed", devices=2, total_steps=40, resume=True)
    np.testing.assert_allclose(resumed.state.params["w"], two.state.params["w"], rtol=1e-6)
    assert resumed.best_step == two.best_step
