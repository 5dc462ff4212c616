"""Checkpoints: round trip, retention of latest and best, clear errors."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.training import train
from rnn_jax.training.ckpt import CheckpointError, Checkpoints


def make_state(seed=0):
    params = {"rnn": [{"wx": jnp.arange(6.0).reshape(2, 3) + seed}], "head": {"b": jnp.ones(2)}}
    return train.init_state(params, optax.adam(1e-3), seed)


def test_round_trip_restores_equal_trees(tmp_path):
    state = make_state(seed=1)
    ckpts = Checkpoints(tmp_path / "ckpt")
    ckpts.save(7, state, {"step": 7, "metrics": {}})
    restored, meta = ckpts.restore(7, jax.eval_shape(lambda: make_state()))
    ckpts.close()
    assert meta["step"] == 7
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        np.testing.assert_array_equal(a, b)


def test_keeps_latest_two_and_the_best(tmp_path):
    ckpts = Checkpoints(tmp_path / "ckpt", keep=2, best_metric="val/acc", best_mode="max")
    for step, acc in [(1, 0.5), (2, 0.9), (3, 0.7), (4, 0.6), (5, 0.65)]:
        ckpts.save(step, make_state(), {"metrics": {"val/acc": acc}}, metrics={"val/acc": acc})
    ckpts.manager.wait_until_finished()
    assert sorted(ckpts.steps()) == [2, 4, 5]
    assert ckpts.best_step() == 2 and ckpts.latest_step() == 5
    ckpts.close()
    low = Checkpoints(tmp_path / "ckpt", best_metric="val/acc", best_mode="min")
    assert low.best_step() == 4
    low.close()


def test_missing_and_corrupt_checkpoints_raise_clear_errors(tmp_path):
    ckpts = Checkpoints(tmp_path / "ckpt")
    ckpts.save(1, make_state(), {"metrics": {}})
    ckpts.manager.wait_until_finished()
    like = jax.eval_shape(lambda: make_state())
    with pytest.raises(CheckpointError, match="no checkpoint at step 9.*steps present: \\[1\\]"):
        ckpts.restore(9, like)
    for path in (tmp_path / "ckpt" / "1" / "state").rglob("*"):
        if path.is_file():
            path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot be read.*corrupt"):
        ckpts.restore(1, like)
    ckpts.close()


def test_restore_into_another_model_shape_is_a_clear_error(tmp_path):
    ckpts = Checkpoints(tmp_path / "ckpt")
    ckpts.save(1, make_state(), {"metrics": {}})
    other = make_state()._replace(
        params={"rnn": [{"wx": jnp.zeros((5, 5))}], "head": {"b": jnp.ones(2)}}
    )
    with pytest.raises(CheckpointError, match="cannot be read"):
        ckpts.restore(1, jax.eval_shape(lambda: other))
    ckpts.close()
    shutil.rmtree(tmp_path / "ckpt")
