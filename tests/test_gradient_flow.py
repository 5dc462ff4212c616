"""The gradient-flow measurement and experiment: ``||dL/dh_t||`` by distance is the gradient
it says it is, and the exploding and vanishing cases show as such."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gradient_flow
from rnn_jax.errors import ConfigError
from rnn_jax.evaluation.gradient_flow import state_gradient_norms
from rnn_jax.recurrent.cells import get_cell
from rnn_jax.recurrent.scan import unroll


def test_an_identity_recurrence_passes_the_gradient_back_unchanged(tiny):
    """IRNN with positive inputs: every step's Jacobian is I, so ||dL/dh|| is ||v|| at
    every distance for L = v . h_T."""
    cell = get_cell("irnn")
    params = cell.init(jax.random.key(0), tiny.D, tiny.H)
    params["wx"] = jnp.full_like(params["wx"], 0.1)
    us = jnp.ones((tiny.B, 20, tiny.D))
    v = jnp.arange(1.0, tiny.H + 1)
    norms = state_gradient_norms(cell, params, us, lambda ys: ys[:, -1] @ v)
    np.testing.assert_allclose(norms, np.full(20, float(jnp.linalg.norm(v))), rtol=1e-6)


@pytest.mark.parametrize("name", ["rnn", "lstm", "lru"])
def test_the_farthest_distance_is_the_gradient_at_the_initial_state(tiny, name):
    cell = get_cell(name)
    params = cell.init(jax.random.key(1), tiny.D, tiny.H)
    us = jax.random.normal(jax.random.key(2), (tiny.B, tiny.T, tiny.D))
    v = jax.random.normal(jax.random.key(3), (tiny.H,))
    norms = state_gradient_norms(cell, params, us, lambda ys: ys[:, -1] @ v)
    carry0 = cell.init_carry(params, (tiny.B,))

    def loss(carry):
        return jnp.sum(unroll(cell, params, us, carry=carry)[1][:, -1] @ v)

    grads = jax.grad(loss)(carry0)
    per_sequence = jnp.sqrt(sum(jnp.sum(g**2, -1) for g in jax.tree.leaves(grads)))
    assert norms.shape == (tiny.T,)
    np.testing.assert_allclose(norms[-1], jnp.mean(per_sequence), rtol=1e-5)


def test_a_tanh_rnn_vanishes_and_explodes_with_its_recurrent_scale():
    """At initialisation on the adding problem: orthogonal W_h loses orders of magnitude over
    60 steps; twice that gains them."""
    ends = {}
    for scale in (1.0, 2.0):
        config = gradient_flow.Config(length=60, model=gradient_flow.ModelConfig("rnn", 16, scale))
        model = gradient_flow.build_model(config)
        measure = gradient_flow.make_fns(model, "adding", 60, 0)[3]
        norms = measure(
            gradient_flow.scaled_init(model, scale)(jax.random.PRNGKey(0)), jnp.arange(16)
        )
        ends[scale] = float(norms[-1] / norms[0])
    assert ends[1.0] < 1e-3 and ends[2.0] > 1e3


def test_only_a_cell_with_recurrent_weights_can_be_scaled():
    model = gradient_flow.build_model(gradient_flow.Config(model=gradient_flow.ModelConfig("lru")))
    with pytest.raises(ConfigError, match="no recurrent weights wh"):
        gradient_flow.scaled_init(model, 2.0)


def test_the_copy_task_runs_and_predicts_symbols(tmp_path):
    run = tmp_path / "copy"
    flags = ["--problem", "copy", "--length", "3", "--train.steps", "2", "--train.evals", "1",
             "--data.val-examples", "4", "--data.test-examples", "4", "--data.gradient-examples",
             "2", "--model.hidden", "8", "--workdir", str(run)]  # fmt: skip
    gradient_flow.EXPERIMENT.main(flags)
    trained = gradient_flow.EXPERIMENT.load(run)
    assert (run / "figures" / "gradient_flow.png").is_file()
    assert trained.predict(np.zeros((2, 23), np.int32)).shape == (2, 23)
    with pytest.raises(ValueError, match="copy symbols lie in 0 .. 9"):
        trained.predict(np.full((1, 23), 12))
