"""The long-dependency problems: what each example holds, and its keys decide it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.data import memory


@pytest.mark.parametrize("length", [2, 7, 100])
def test_adding_marks_one_step_in_each_half_and_asks_for_their_sum(length):
    for i in range(20):
        x, y = memory.adding(jax.random.fold_in(jax.random.key(0), i), length)
        assert x.shape == (length, 2)
        values, marker = np.asarray(x[:, 0]), np.asarray(x[:, 1])
        assert ((values >= 0) & (values < 1)).all()
        marked = np.flatnonzero(marker)
        assert set(np.unique(marker)) <= {0.0, 1.0} and len(marked) == 2
        assert marked[0] < length // 2 <= marked[1]
        np.testing.assert_allclose(float(y), values[marked].sum(), rtol=1e-6)


def test_copy_writes_the_symbols_back_after_the_delimiter():
    delay = 5
    x, y = memory.copy(jax.random.key(3), delay)
    steps = delay + 2 * memory.COPY_SPAN
    assert x.shape == y.shape == (steps,) and x.dtype == y.dtype == jnp.int32
    symbols = np.asarray(x[: memory.COPY_SPAN])
    assert ((symbols >= 1) & (symbols <= memory.COPY_SYMBOLS)).all()
    go = memory.COPY_SPAN + delay - 1
    assert x[go] == memory.COPY_GO
    assert (np.delete(np.asarray(x), np.r_[: memory.COPY_SPAN, go]) == memory.COPY_BLANK).all()
    np.testing.assert_array_equal(y[-memory.COPY_SPAN :], symbols)
    assert (np.asarray(y[: -memory.COPY_SPAN]) == memory.COPY_BLANK).all()


def test_an_example_is_a_function_of_its_key():
    a = memory.adding(jax.random.key(1), 30)
    b = memory.adding(jax.random.key(1), 30)
    c = memory.adding(jax.random.key(2), 30)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_the_baselines():
    rng = np.random.default_rng(0)
    sums = rng.uniform(size=(200_000, 2)).sum(1)
    assert abs(np.mean(np.square(sums - 1)) - memory.ADDING_CONSTANT_MSE) < 2e-3
    assert memory.copy_memoryless_loss(100) == pytest.approx(10 * np.log(8) / 120)


def test_too_short_problems_are_refused():
    with pytest.raises(ValueError, match="at least 2 steps"):
        memory.adding(jax.random.key(0), 1)
    with pytest.raises(ValueError, match="delay of at least 1"):
        memory.copy(jax.random.key(0), 0)
