"""The optimizer: schedules, clipping, bad names."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.training import optim


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


@pytest.mark.parametrize("schedule", optim.SCHEDULES)
@pytest.mark.parametrize("clip_norm", [0.0, 1.0])
def test_injected_rate_equals_plain_adam(schedule, clip_norm):
    """The peak rate, warm-up and clip norm as state arrays change nothing: the same updates
    as optax's, bit for bit with a constant rate. The cosine differs in the last bit at some
    steps (under a relative 1e-6): optax divides by a constant, which XLA rewrites, ours by the
    traced warm-up's decay length."""
    if schedule == "cosine":
        rate = optax.warmup_cosine_decay_schedule(0.0, 3e-3, 3, 10, end_value=0.0)
    else:
        rate = 3e-3
    plain = optax.adam(rate)
    if clip_norm:
        plain = optax.chain(optax.clip_by_global_norm(clip_norm), plain)
    ours = optim.make_optimizer(3e-3, 10, schedule=schedule, warmup_steps=3, clip_norm=clip_norm)
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}
    s_plain, s_ours = plain.init(params), ours.init(params)
    assert float(s_ours.hyperparams["learning_rate"]) == pytest.approx(3e-3)
    assert int(s_ours.hyperparams["warmup_steps"]) == 3
    assert ("clip_norm" in s_ours.hyperparams) is bool(clip_norm)
    update = jax.jit(lambda tx, g, s: tx.update(g, s, params), static_argnums=0)
    for k in range(12):  # past the warm-up and the end of the decay
        grads = {"w": jnp.sin(params["w"] * (k + 1)) * 3.0}
        with jax.numpy_dtype_promotion("standard"):
            u_plain, s_plain = update(plain, grads, s_plain)
            u_ours, s_ours = update(ours, grads, s_ours)  # jitted: the peak is traced
        if schedule == "constant":
            np.testing.assert_array_equal(u_ours["w"], u_plain["w"])
        else:
            np.testing.assert_allclose(u_ours["w"], u_plain["w"], rtol=1e-6, atol=0)
