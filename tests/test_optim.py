"""The optimizer: schedules, clipping, bad names."""

import jax
import jax.numpy as jnp
import pytest

from rnn_jax import optim


def test_optimizer_schedules_and_bad_name():
    tx = optim.make_optimizer(1e-2, 100, schedule="cosine", warmup_steps=10, clip_norm=1.0)
    state = tx.init({"w": jnp.zeros(2)})
    assert jax.tree.leaves(state)  # chain(clip, adam) state exists
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        optim.make_optimizer(1e-2, 100, schedule="linear")


def test_cosine_warmup_starts_at_zero_and_constant_does_not():
    g = {"w": jnp.full((4,), 100.0)}
    for schedule, moves in (("cosine", False), ("constant", True)):
        tx = optim.make_optimizer(0.1, 10, schedule=schedule, warmup_steps=5, clip_norm=1.0)
        with jax.numpy_dtype_promotion("standard"):
            upd, _ = tx.update(g, tx.init(g), g)
        assert bool(jnp.any(upd["w"] != 0)) is moves
