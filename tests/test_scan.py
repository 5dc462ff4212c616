"""unroll() over every registered cell (the toy cell of tests/toy_cell.py included): scan
equals a Python loop, masking, reverse, gradients by finite differences, dtypes, input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from rnn_jax.recurrent.cells import CELLS
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.rnn import RNN_TANH
from rnn_jax.recurrent.scan import flip_valid, unroll

ALL = list(CELLS.values())  # collected after conftest registered the toy cell


def setup(key, cell, tiny):
    kp, kx = jax.random.split(key)
    params = cell.init(kp, tiny.D, tiny.H)
    xs = jax.random.normal(kx, (tiny.B, tiny.T, tiny.D))
    return params, xs


def python_loop(cell, params, xs, carry=None):
    carry = cell.init_carry(params, (xs.shape[0],)) if carry is None else carry
    ys = []
    for t in range(xs.shape[1]):
        carry, y = cell.step(params, carry, xs[:, t])
        ys.append(y)
    return carry, jnp.stack(ys, 1)


@pytest.mark.parametrize("cell", ALL, ids=lambda c: c.name)
@pytest.mark.parametrize("hoist", [False, True])
def test_scan_equals_python_loop(key, tiny, cell, hoist):
    params, xs = setup(key, cell, tiny)
    carry, ys = unroll(cell, params, xs, hoist=hoist, path="scan")
    carry_ref, ys_ref = python_loop(cell, params, xs)
    np.testing.assert_allclose(ys, ys_ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_time_major_and_unroll_agree(key, tiny):
    params, xs = setup(key, LSTM, tiny)
    _, ys = unroll(LSTM, params, xs)
    _, ys_tm = unroll(LSTM, params, jnp.swapaxes(xs, 0, 1), time_major=True, unroll=2)
    np.testing.assert_allclose(jnp.swapaxes(ys_tm, 0, 1), ys, rtol=1e-6, atol=1e-6)


PATHS = [(c, p) for c in ALL for p in ["scan", *(path.name for path in c.paths)]]


@pytest.mark.parametrize("cell,path", PATHS, ids=lambda v: getattr(v, "name", v))
@pytest.mark.parametrize("reverse", [False, True])
def test_masked_equals_each_sequence_at_its_own_length(key, tiny, cell, path, reverse):
    params, xs = setup(key, cell, tiny)
    lengths = jnp.array([3, tiny.T])
    carry, ys = unroll(cell, params, xs, seq_lengths=lengths, reverse=reverse, path=path)
    for b, n in enumerate(lengths.tolist()):
        carry_b, ys_b = unroll(cell, params, xs[b : b + 1, :n], reverse=reverse, path="scan")
        np.testing.assert_allclose(ys[b, :n], ys_b[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ys[b, n:], 0.0)
        for full, own in zip(jax.tree.leaves(carry), jax.tree.leaves(carry_b)):
            np.testing.assert_allclose(full[b], own[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell,path", PATHS, ids=lambda v: getattr(v, "name", v))
def test_zero_length_keeps_initial_carry(key, tiny, cell, path):
    params, xs = setup(key, cell, tiny)
    carry0 = jax.tree.map(jnp.ones_like, cell.init_carry(params, (tiny.B,)))
    carry, ys = unroll(cell, params, xs, carry=carry0, seq_lengths=jnp.array([0, 2]), path=path)
    for got in jax.tree.leaves(carry):
        np.testing.assert_array_equal(got[0], 1.0)
    np.testing.assert_array_equal(ys[0], 0.0)


@pytest.mark.parametrize("cell", ALL, ids=lambda c: c.name)
def test_steps_are_rank_polymorphic(tiny, cell):
    params = cell.init(jax.random.key(0), tiny.D, tiny.H)
    for batch_shape in [(2, 3), ()]:  # two batch axes, one example
        carry = cell.init_carry(params, batch_shape)
        _, y = jax.eval_shape(cell.step, params, carry, jnp.ones((*batch_shape, tiny.D)))
        assert y.shape == (*batch_shape, tiny.H)


@pytest.mark.parametrize("cell", [c for c in ALL if c.project is not None], ids=lambda c: c.name)
def test_split_cells_step_is_recur_of_project(key, tiny, cell):
    params, xs = setup(key, cell, tiny)
    carry = cell.init_carry(params, (tiny.B,))
    want = cell.recur(params, carry, cell.project(params, xs[:, 0]))
    for a, b in zip(jax.tree.leaves(cell.step(params, carry, xs[:, 0])), jax.tree.leaves(want)):
        np.testing.assert_array_equal(a, b)


def test_unknown_path_names_the_cells_paths(key, tiny):
    params, xs = setup(key, LSTM, tiny)
    with pytest.raises(
        ValueError, match=r"no path 'parallel'.*\['scan', 'cudnn', 'fused', 'deer'\]"
    ):
        unroll(LSTM, params, xs, path="parallel")


@pytest.mark.parametrize("cell", ALL, ids=lambda c: c.name)
def test_reverse_equals_flip_forward_flip(key, tiny, cell):
    params, xs = setup(key, cell, tiny)
    _, ys_rev = unroll(cell, params, xs, reverse=True)
    _, ys_fwd = unroll(cell, params, jnp.flip(xs, 1))
    np.testing.assert_allclose(ys_rev, jnp.flip(ys_fwd, 1), rtol=1e-6, atol=1e-6)


def test_flip_valid_keeps_padding_at_the_end():
    xs = jnp.arange(8).reshape(2, 4)[..., None]
    out = flip_valid(xs, jnp.array([2, 4]))[..., 0]
    np.testing.assert_array_equal(out, [[1, 0, 2, 3], [7, 6, 5, 4]])


@pytest.mark.parametrize("cell,path", PATHS, ids=lambda v: getattr(v, "name", v))
def test_float64_gradients_match_finite_differences(tiny, cell, path):
    with jax.enable_x64(True):
        key = jax.random.key(1)
        params = cell.init(key, tiny.D, tiny.H, dtype=jnp.float64)
        # Moved off the initialisation, where a relu cell may sit on its kink (the IRNN's
        # pre-activations start near 0, and finite differences across a kink are wrong).
        leaves, tree = jax.tree.flatten(params)
        noise = jax.random.split(jax.random.key(2), len(leaves))
        leaves = [p + 0.1 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, noise)]
        params = jax.tree.unflatten(tree, leaves)
        xs = jax.random.normal(key, (tiny.B, tiny.T, tiny.D), jnp.float64)
        lengths = jnp.array([tiny.T, 2])

        def loss(params, xs):
            carry, ys = unroll(cell, params, xs, seq_lengths=lengths, path=path)
            assert {x.dtype for x in jax.tree.leaves((carry, ys))} == {jnp.dtype(jnp.float64)}
            return jnp.sum(ys**2) + sum(jnp.sum(c) for c in jax.tree.leaves(carry))

        check_grads(loss, (params, xs), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_tanh_rnn_hand_written_bptt_equals_jax_grad(key, tiny):
    """Backpropagation through time for h_t = tanh(x_t Wx + h_{t-1} Wh + b), L = sum_t v . h_t."""
    params, xs = setup(key, RNN_TANH, tiny)
    v = jax.random.normal(jax.random.key(3), (tiny.H,))

    def loss(params):
        _, ys = unroll(RNN_TANH, params, xs)
        return jnp.sum(ys @ v)

    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    x, vn = np.asarray(xs, np.float64), np.asarray(v, np.float64)
    hs = [np.zeros((tiny.B, tiny.H))]
    for t in range(tiny.T):
        hs.append(np.tanh(x[:, t] @ p["wx"] + hs[-1] @ p["wh"] + p["b"]))
    grads = {k: np.zeros_like(a) for k, a in p.items()}
    dh_next = np.zeros((tiny.B, tiny.H))
    for t in reversed(range(tiny.T)):
        dh = np.broadcast_to(vn, (tiny.B, tiny.H)) + dh_next
        da = dh * (1 - hs[t + 1] ** 2)
        grads["wx"] += x[:, t].T @ da
        grads["wh"] += hs[t].T @ da
        grads["b"] += da.sum(0)
        dh_next = da @ p["wh"].T
    got = jax.grad(loss)(params)
    for k in grads:
        np.testing.assert_allclose(got[k], grads[k], rtol=1e-4, atol=1e-5)


def test_jit_equals_no_jit(key, tiny):
    params, xs = setup(key, LSTM, tiny)
    f = lambda p, x: unroll(LSTM, p, x, seq_lengths=jnp.array([2, 5]))[1]  # noqa: E731
    np.testing.assert_allclose(jax.jit(f)(params, xs), f(params, xs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "make_args,match",
    [
        (lambda p, xs: dict(xs=xs[0]), r"rank-3 input .* got shape \(5, 3\)"),
        (lambda p, xs: dict(xs=xs[..., :2]), r"shape \(2, 5, 2\): 2 features .* expects 3"),
        (
            lambda p, xs: dict(xs=xs, carry=LSTM.init_carry(p, (3,))),
            r"carry has shapes \[\(3, 4\), \(3, 4\)\], expected \[\(2, 4\), \(2, 4\)\]",
        ),
        (lambda p, xs: dict(xs=xs, seq_lengths=jnp.array([1, 6])), r"\[0, 5\].*max 6"),
        (lambda p, xs: dict(xs=xs, seq_lengths=jnp.array([1])), r"shape \(1,\), expected \(2,\)"),
    ],
    ids=["rank", "features", "carry", "lengths-range", "lengths-shape"],
)
def test_bad_input_raises_value_error_naming_shapes(key, tiny, make_args, match):
    params, xs = setup(key, LSTM, tiny)
    with pytest.raises(ValueError, match=match):
        unroll(LSTM, params, **make_args(params, xs))


def test_checks_run_at_trace_time_under_jit(key, tiny):
    params, xs = setup(key, LSTM, tiny)
    with pytest.raises(ValueError, match="features"):
        jax.jit(lambda x: unroll(LSTM, params, x))(xs[..., :2])
