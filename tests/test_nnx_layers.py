"""The NNX sequence modules run this project's ``unroll``: they equal the pure layers and
stacks (padded, reversed, bidirectional), reach the CPU kernel, train under ``nnx.jit`` and
``nnx.Optimizer`` as the pure step does, and survive ``nnx.split``/``merge`` and orbax."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from rnn_jax.nnx import Recurrent, RecurrentCell, Stack
from rnn_jax.recurrent.cells import CELLS, get_cell
from rnn_jax.recurrent.fused import kernel
from rnn_jax.recurrent.scan import unroll
from rnn_jax.recurrent.stack import bidirectional_apply, stack_apply

XS = jax.random.normal(jax.random.key(0), (3, 6, 4))
LENGTHS = jnp.array([6, 0, 3])


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("reverse", [False, True])
def test_recurrent_equals_the_pure_unroll(name, reverse):
    cell = RecurrentCell(name, 4, 5, rngs=nnx.Rngs(0))
    layer = Recurrent(cell, reverse=reverse, return_carry=True)
    carry, ys = layer(XS, seq_lengths=LENGTHS)
    want_carry, want = unroll(get_cell(name), cell.pure(), XS, seq_lengths=LENGTHS, reverse=reverse)
    np.testing.assert_array_equal(ys, want)
    jax.tree.map(np.testing.assert_array_equal, carry, want_carry)


def test_recurrent_runs_the_cpu_kernel():
    if not kernel.use_kernel(XS):
        pytest.skip("no CPU kernel here (another backend, no compiler, or switched off)")
    layer = Recurrent(RecurrentCell("lstm", 4, 5, rngs=nnx.Rngs(0)))
    graph, state = nnx.split(layer)
    hlo = jax.jit(lambda s: nnx.merge(graph, s)(XS)).lower(state).as_text()
    assert "rnn_jax_lstm" in hlo


@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_equals_the_pure_stack(bidirectional):
    model = Stack("gru_reset_after", 4, [5, 3], bidirectional=bidirectional, rngs=nnx.Rngs(0))
    layers, cell = model.pure(), get_cell("gru_reset_after")
    if bidirectional:
        want = XS
        for layer in layers:
            _, want = bidirectional_apply(cell, layer, want, seq_lengths=LENGTHS)
    else:
        _, want = stack_apply(cell, layers, XS, seq_lengths=LENGTHS)
    np.testing.assert_array_equal(model(XS, seq_lengths=LENGTHS), want)
    np.testing.assert_array_equal(Stack.from_params("gru_reset_after", layers)(XS), model(XS))
    assert model(XS).shape == (3, 6, 3 * (2 if bidirectional else 1))


def test_stack_dropout_needs_rngs_and_is_off_when_deterministic():
    with pytest.raises(ValueError, match="needs rngs="):
        Stack.from_params("rnn", Stack("rnn", 4, [5, 5], rngs=nnx.Rngs(0)).pure(), dropout=0.5)
    model = Stack("rnn", 4, [5, 5], dropout=0.5, rngs=nnx.Rngs(0, dropout=1))
    _, want = stack_apply(get_cell("rnn"), model.pure(), XS)
    np.testing.assert_array_equal(model(XS, deterministic=True), want)
    assert not np.array_equal(model(XS), want)


def test_training_under_nnx_optimizer_equals_the_pure_step():
    model = Stack("lstm", 4, [5], rngs=nnx.Rngs(0))
    tx = optax.adam(1e-2)
    params = model.pure()
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer):
        def loss(model):
            return jnp.mean(model(XS, seq_lengths=LENGTHS) ** 2)

        value, grads = nnx.value_and_grad(loss)(model)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes ints and floats
            optimizer.update(model, grads)
        return value

    def pure_loss(params):
        return jnp.mean(stack_apply(get_cell("lstm"), params, XS, seq_lengths=LENGTHS)[1] ** 2)

    losses = [float(train_step(model, optimizer)) for _ in range(3)]
    opt_state = tx.init(params)
    for step in range(3):
        value, grads = jax.value_and_grad(pure_loss)(params)
        np.testing.assert_allclose(losses[step], value, rtol=1e-6)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), model.pure(), params
    )
    assert losses[-1] < losses[0]


def test_split_merge_and_orbax_round_trip(tmp_path):
    model = Stack("minlstm", 4, [5, 5], bidirectional=True, rngs=nnx.Rngs(0))
    graph, state = nnx.split(model)
    np.testing.assert_array_equal(nnx.merge(graph, state)(XS), model(XS))

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    fresh = Stack("minlstm", 4, [5, 5], bidirectional=True, rngs=nnx.Rngs(1))
    assert not np.array_equal(fresh(XS), model(XS))
    abstract = nnx.state(fresh)
    restored = checkpointer.restore(tmp_path / "state", abstract)
    nnx.update(fresh, restored)
    np.testing.assert_array_equal(fresh(XS), model(XS))


@pytest.mark.parametrize("own", [True, False], ids=["rnn_jax", "flax"])
def test_readme_example_trains(own):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("<!-- nnx-example")[1].split("```python\n")[1].split("```")[0]
    if not own:  # the commented line: Flax's own cell
        lines = block.splitlines()
        ours = next(i for i, line in enumerate(lines) if "rnx.Recurrent(" in line)
        lines[ours] = lines[ours + 1].replace("# ", "", 1).split("  #")[0]
        block = "\n".join(lines)
    namespace = {}
    with jax.numpy_dtype_promotion("standard"):  # as users run it
        exec(block, namespace)
    losses = namespace["losses"]
    assert losses[-1] < 0.8 * losses[0]
