"""rnn_jax.models.completer: the course's windows, causal reading, completions that keep the
given rows, and the Bernoulli rows' exact likelihood."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.completer import MODES, RowCompleter, take_windows
from rnn_jax.models.made import RowMADE
from rnn_jax.models.sequence import SequenceModel


def small_completer(mode, output="sigmoid"):
    net = SequenceModel(28, 9 if output == "bernoulli" else 28, hidden=(6, 5), head=(7,))
    made = RowMADE(28, 9, 16) if output == "bernoulli" else None
    completer = RowCompleter(net, mode, "rollout", output, made, given=14)
    return completer, completer.init(jax.random.PRNGKey(0))


def test_windows_match_course_indexing():
    images = jnp.arange(3 * 28 * 28, dtype=jnp.float32).reshape(3, 28, 28)
    for i in range(14):
        x, y = take_windows(images, jnp.full((3,), i), 14)
        assert x.shape == (3, 14, 28) and y.shape == (3, 28)
        np.testing.assert_array_equal(x, images[:, i : i + 14])
        np.testing.assert_array_equal(y, images[:, i + 14])
    x, y = take_windows(images, jnp.array([0, 5, 13]), 14)
    np.testing.assert_array_equal(x[1], images[1, 5:19])
    np.testing.assert_array_equal(y[2], images[2, 27])


@pytest.mark.slow
def test_teacher_model_is_causal():
    """The prediction of row t+1 has zero gradient with respect to rows after t."""
    completer, params = small_completer("teacher")
    xs = jax.random.uniform(jax.random.key(1), (1, 27, 28))
    t = 10
    grad = jax.grad(lambda x: completer.net.apply_seq(params, x)[0, t].sum())(xs)
    assert float(jnp.abs(grad[:, t + 1 :]).max()) == 0.0
    assert float(jnp.abs(grad[:, : t + 1]).max()) > 0.0


@pytest.mark.parametrize(
    "mode", [pytest.param(m, marks=pytest.mark.slow) if m != "teacher" else m for m in MODES]
)
def test_completions_keep_the_top_and_stay_in_range(mode):
    completer, params = small_completer(mode)
    top = jax.random.uniform(jax.random.key(2), (3, 14, 28))
    got = completer.complete(params, top)
    assert got.shape == (3, 28, 28)
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0
    np.testing.assert_array_equal(got[:, :14], top)


def test_bernoulli_rows_are_drawn_and_scored_exactly():
    completer, params = small_completer("teacher", "bernoulli")
    top = (jax.random.uniform(jax.random.key(2), (2, 14, 28)) > 0.5).astype(jnp.float32)
    drawn = completer.complete(params, top, jax.random.PRNGKey(4), how="sample")
    assert drawn.shape == (2, 28, 28) and set(np.unique(np.asarray(drawn))) <= {0.0, 1.0}
    np.testing.assert_array_equal(drawn[:, :14], top)
    again = completer.complete(params, top, jax.random.PRNGKey(4), how="sample")
    np.testing.assert_array_equal(drawn, again)  # fixed by the key
    # The log-likelihood of each drawn row given the rows before it is the row model's.
    lp = completer.rows_log_prob(params, drawn)
    context = completer.net.apply_seq(params, completer.after_blank(drawn[:, :-1]))
    want = completer.made.log_prob(params["made"], context, drawn)
    np.testing.assert_allclose(lp, want, rtol=1e-6)
    assert lp.shape == (2, 28)  # every row, the first one after a blank row too
    # A row's log-likelihood does not depend on the rows below it.
    changed = drawn.at[:, 20:].set(1.0 - drawn[:, 20:])
    np.testing.assert_allclose(
        completer.rows_log_prob(params, changed)[:, :20], lp[:, :20], rtol=1e-6
    )
    # The whole image drawn from nothing.
    image = completer.complete(params, top[:, :0], jax.random.PRNGKey(5), how="sample")
    assert image.shape == (2, 28, 28)
    loss, _ = completer.loss_fn(params, drawn, jax.random.PRNGKey(0))
    np.testing.assert_allclose(loss, -np.mean(lp) / 28, rtol=1e-6)
