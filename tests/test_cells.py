"""The built-in cells' steps against the equations written out per gate, and against Flax
and PyTorch; the registry. (Generic behaviour of every cell: tests/test_scan.py.)"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.recurrent import cells
from rnn_jax.recurrent.gru import GRU, GRU_RESET_AFTER
from rnn_jax.recurrent.lstm import LSTM, lstm_init
from rnn_jax.recurrent.rnn import IRNN, RNN_RELU, RNN_TANH
from rnn_jax.typing import LSTMCarry


def sig(x):
    return 1 / (1 + np.exp(-x))


def blocks(w, n):
    return np.split(np.asarray(w, np.float64), n, axis=-1)


def random_state(key, cell, tiny):
    kp, kx, kh, kc = jax.random.split(key, 4)
    params = cell.init(kp, tiny.D, tiny.H)
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(kx, p.shape), params)
    x = jax.random.normal(kx, (tiny.B, tiny.D))
    h = jax.random.normal(kh, (tiny.B, tiny.H))
    return params, x, h, jax.random.normal(kc, (tiny.B, tiny.H))


@pytest.mark.parametrize("cell,act", [(RNN_TANH, np.tanh), (RNN_RELU, lambda a: np.maximum(a, 0))])
def test_rnn_step_matches_equation(key, tiny, cell, act):
    p, x, h, _ = random_state(key, cell, tiny)
    _, y = cell.step(p, h, x)
    pn = jax.tree.map(np.asarray, p)
    want = act(np.asarray(x) @ pn["wx"] + np.asarray(h) @ pn["wh"] + pn["b"])
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_irnn_starts_at_the_identity(key, tiny):
    """Le et al. 2015: W_h = I and small input weights, so a zero input carries a
    non-negative state unchanged."""
    params = IRNN.init(key, tiny.D, tiny.H)
    np.testing.assert_array_equal(params["wh"], np.eye(tiny.H))
    assert float(jnp.std(params["wx"])) < 1e-2
    h = jnp.abs(jax.random.normal(key, (tiny.B, tiny.H)))
    _, y = IRNN.step(params, h, jnp.zeros((tiny.B, tiny.D)))
    np.testing.assert_array_equal(y, h)


def test_lstm_step_matches_equation(key, tiny):
    p, x, h, c = random_state(key, LSTM, tiny)
    (h1, c1), y = LSTM.step(p, LSTMCarry(h, c), x)
    wi, wf, wg, wo = blocks(p["wx"], 4)
    ui, uf, ug, uo = blocks(p["wh"], 4)
    bi, bf, bg, bo = blocks(p["b"], 4)
    x, h, c = (np.asarray(a, np.float64) for a in (x, h, c))
    i = sig(x @ wi + h @ ui + bi)
    f = sig(x @ wf + h @ uf + bf)
    g = np.tanh(x @ wg + h @ ug + bg)
    o = sig(x @ wo + h @ uo + bo)
    c_want = f * c + i * g
    np.testing.assert_allclose(c1, c_want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h1, o * np.tanh(c_want), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y, h1)


def test_lstm_forget_bias_at_init(key, tiny):
    p = lstm_init(key, tiny.D, tiny.H, forget_bias=2.5)
    np.testing.assert_array_equal(blocks(p["b"], 4)[1], 2.5)
    for k in (0, 2, 3):
        np.testing.assert_array_equal(blocks(p["b"], 4)[k], 0.0)
    wh = blocks(p["wh"], 4)[0]
    np.testing.assert_allclose(wh.T @ wh, np.eye(tiny.H), atol=1e-5)  # orthogonal per gate


def test_gru_step_matches_course_equation(key, tiny):
    p, x, h, _ = random_state(key, GRU, tiny)
    _, y = GRU.step(p, h, x)
    wz, wr, wn = blocks(p["wx"], 3)
    uz, ur, un = blocks(p["wh"], 3)
    bz, br, bn = blocks(p["b"], 3)
    x, h = np.asarray(x, np.float64), np.asarray(h, np.float64)
    z = sig(x @ wz + h @ uz + bz)
    r = sig(x @ wr + h @ ur + br)
    # h~ = tanh(W [r * h, x]): W stacks the recurrent and input blocks.
    n = np.tanh(np.concatenate([r * h, x], -1) @ np.concatenate([un, wn], 0) + bn)
    np.testing.assert_allclose(y, (1 - z) * h + z * n, rtol=1e-5, atol=1e-5)


def test_gru_reset_after_matches_equation(key, tiny):
    p, x, h, _ = random_state(key, GRU_RESET_AFTER, tiny)
    _, y = GRU_RESET_AFTER.step(p, h, x)
    wz, wr, wn = blocks(p["wx"], 3)
    uz, ur, un = blocks(p["wh"], 3)
    bz, br, bn = blocks(p["b"], 3)
    x, h = np.asarray(x, np.float64), np.asarray(h, np.float64)
    z = sig(x @ wz + h @ uz + bz)
    r = sig(x @ wr + h @ ur + br)
    n = np.tanh(x @ wn + bn + r * (h @ un + np.asarray(p["bhn"])))
    np.testing.assert_allclose(y, (1 - z) * h + z * n, rtol=1e-5, atol=1e-5)


def test_bfloat16_stays_bfloat16_with_float32_cell_state(key, tiny):
    p = LSTM.init(key, tiny.D, tiny.H, dtype=jnp.bfloat16)
    carry = LSTM.init_carry(p, (tiny.B,))
    carry, y = LSTM.step(p, carry, jnp.ones((tiny.B, tiny.D), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and carry.h.dtype == jnp.bfloat16
    assert carry.c.dtype == jnp.float32


def test_wrong_feature_size_names_shapes(key, tiny):
    p = LSTM.init(key, tiny.D, tiny.H)
    with pytest.raises(ValueError, match=r"shape \(2, 7\).*expects 3 features"):
        LSTM.step(p, LSTM.init_carry(p, (2,)), jnp.ones((2, 7)))


def test_unknown_cell_lists_choices():
    with pytest.raises(ValueError, match="unknown cell 'lstn'.*'lstm'"):
        cells.get_cell("lstn")


def test_registry_refuses_a_second_cell_under_a_taken_name():
    with pytest.raises(ValueError, match="'lstm' is registered already"):
        cells.register(dataclasses.replace(LSTM, about="another"))
    assert cells.register(LSTM) is LSTM  # registering the same cell again is harmless


def test_help_lists_every_registered_cell():
    text = cells.describe()
    assert all(f"{name} (" in text for name in cells.CELLS)


# --- Flax linen, same weights --------------------------------------------------


def test_lstm_matches_flax_optimized_lstm_cell(key, tiny):
    """Mapping: wx = [ii|if|ig|io].kernel, wh = [hi|hf|hg|ho].kernel, b = [hi|hf|hg|ho].bias.

    Flax's carry is (c, h); ours is LSTMCarry(h, c).
    """
    import flax.linen as nn

    x = jax.random.normal(key, (tiny.B, tiny.D))
    flax_cell = nn.OptimizedLSTMCell(tiny.H)
    c0, h0 = flax_cell.initialize_carry(key, x.shape)
    c0, h0 = c0 + 0.5, h0 - 0.5
    fp = flax_cell.init(jax.random.key(1), (c0, h0), x)["params"]
    fp = jax.tree.map(lambda a: a + 0.1, fp)  # non-zero biases
    (c_f, h_f), y_f = flax_cell.apply({"params": fp}, (c0, h0), x)
    gates = "ifgo"
    p = {
        "wx": jnp.concatenate([fp[f"i{g}"]["kernel"] for g in gates], 1),
        "wh": jnp.concatenate([fp[f"h{g}"]["kernel"] for g in gates], 1),
        "b": jnp.concatenate([fp[f"h{g}"]["bias"] for g in gates]),
    }
    (h, c), y = LSTM.step(p, LSTMCarry(h0, c0), x)
    np.testing.assert_allclose(h, h_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, c_f, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, y_f, rtol=1e-5, atol=1e-6)


def test_gru_reset_after_matches_flax_gru_cell(key, tiny):
    """Mapping: Flax's update gate is ours complemented (h' = (1-z) n + z h there),
    so its z weights and bias enter negated: wx = [-iz | ir | in], wh = [-hz | hr | hn],
    b = [-iz.bias | ir.bias | in.bias], bhn = hn.bias."""
    import flax.linen as nn

    x = jax.random.normal(key, (tiny.B, tiny.D))
    h0 = jax.random.normal(jax.random.key(2), (tiny.B, tiny.H))
    flax_cell = nn.GRUCell(tiny.H)
    fp = flax_cell.init(jax.random.key(1), h0, x)["params"]
    fp = jax.tree.map(lambda a: a + 0.1, fp)
    h_f, _ = flax_cell.apply({"params": fp}, h0, x)
    p = {
        "wx": jnp.concatenate([-fp["iz"]["kernel"], fp["ir"]["kernel"], fp["in"]["kernel"]], 1),
        "wh": jnp.concatenate([-fp["hz"]["kernel"], fp["hr"]["kernel"], fp["hn"]["kernel"]], 1),
        "b": jnp.concatenate([-fp["iz"]["bias"], fp["ir"]["bias"], fp["in"]["bias"]]),
        "bhn": fp["hn"]["bias"],
    }
    h, _ = GRU_RESET_AFTER.step(p, h0, x)
    np.testing.assert_allclose(h, h_f, rtol=1e-5, atol=1e-6)


# --- PyTorch, same weights (skipped when torch is not installed) ----------------


@pytest.mark.slow
def test_lstm_matches_torch_lstm(key, tiny):
    """Mapping: wx = weight_ih_l0.T, wh = weight_hh_l0.T, b = bias_ih_l0 + bias_hh_l0."""
    torch = pytest.importorskip("torch")
    from rnn_jax.recurrent.scan import unroll

    torch.manual_seed(0)
    net = torch.nn.LSTM(tiny.D, tiny.H, batch_first=True)
    xs = np.random.default_rng(0).normal(size=(tiny.B, tiny.T, tiny.D)).astype(np.float32)
    ys_t, (h_t, c_t) = net(torch.from_numpy(xs))
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    p = {
        "wx": jnp.asarray(sd["weight_ih_l0"].T),
        "wh": jnp.asarray(sd["weight_hh_l0"].T),
        "b": jnp.asarray(sd["bias_ih_l0"] + sd["bias_hh_l0"]),
    }
    (h, c), ys = unroll(LSTM, p, jnp.asarray(xs))
    np.testing.assert_allclose(ys, ys_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h_t[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, c_t[0].detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_gru_reset_after_matches_torch_gru(key, tiny):
    """Mapping (torch gate order r, z, n; z complemented as for Flax):
    wx = [-W_iz | W_ir | W_in].T, wh = [-W_hz | W_hr | W_hn].T,
    b = [-(b_iz + b_hz) | b_ir + b_hr | b_in], bhn = b_hn."""
    torch = pytest.importorskip("torch")
    from rnn_jax.recurrent.scan import unroll

    torch.manual_seed(0)
    net = torch.nn.GRU(tiny.D, tiny.H, batch_first=True)
    xs = np.random.default_rng(0).normal(size=(tiny.B, tiny.T, tiny.D)).astype(np.float32)
    ys_t, _ = net(torch.from_numpy(xs))
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    wr, wz, wn = np.split(sd["weight_ih_l0"], 3)
    ur, uz, un = np.split(sd["weight_hh_l0"], 3)
    bir, biz, bin_ = np.split(sd["bias_ih_l0"], 3)
    bhr, bhz, bhn = np.split(sd["bias_hh_l0"], 3)
    p = {
        "wx": jnp.asarray(np.concatenate([-wz, wr, wn]).T),
        "wh": jnp.asarray(np.concatenate([-uz, ur, un]).T),
        "b": jnp.asarray(np.concatenate([-(biz + bhz), bir + bhr, bin_])),
        "bhn": jnp.asarray(bhn),
    }
    _, ys = unroll(GRU_RESET_AFTER, p, jnp.asarray(xs))
    np.testing.assert_allclose(ys, ys_t.detach().numpy(), rtol=1e-5, atol=1e-6)
