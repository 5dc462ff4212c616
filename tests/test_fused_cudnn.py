"""The LSTM's cuDNN path is chosen where it serves: float32 on a GPU with cuDNN's RNN, not
when ``RNN_JAX_CUDNN=0``. (Its values against the scan, padded, reversed and with float64
gradients, run on any machine through ``lstm_ref``: tests/test_scan.py's paths.)"""

import jax
import jax.numpy as jnp
import pytest

from rnn_jax.recurrent.fused import cudnn
from rnn_jax.recurrent.lstm import LSTM
from rnn_jax.recurrent.scan import unroll


def _operands(dtype=jnp.float32):
    params = LSTM.init(jax.random.key(0), 3, 4, dtype=dtype)
    return params, LSTM.init_carry(params, (2,)), jnp.ones((5, 2, 3), dtype)


def test_chosen_for_float32_where_cudnn_is(monkeypatch):
    monkeypatch.setattr(cudnn, "has_cudnn", lambda: True)
    monkeypatch.delenv("RNN_JAX_CUDNN", raising=False)
    assert cudnn.cudnn_applies(*_operands())
    assert not cudnn.cudnn_applies(*_operands(jnp.bfloat16))
    monkeypatch.setenv("RNN_JAX_CUDNN", "0")
    assert not cudnn.cudnn_applies(*_operands())


def test_not_chosen_without_cudnn():
    if cudnn.has_cudnn():
        pytest.skip("this machine has cuDNN: the path is chosen (test above)")
    assert not cudnn.cudnn_applies(*_operands())
    params, _, xs = _operands()
    hlo = jax.jit(lambda p: unroll(LSTM, p, xs, time_major=True)).lower(params).as_text()
    assert "lstm_ref" not in hlo


def test_left_out_under_vmap(monkeypatch):
    monkeypatch.setattr(cudnn, "has_cudnn", lambda: True)
    params, carry, xs = _operands()
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)

    def chosen(params):
        return jnp.float32(cudnn.cudnn_applies(params, carry, xs))

    assert cudnn.vmap_without_cudnn(chosen)(stacked).tolist() == [0.0, 0.0]
    assert cudnn.cudnn_applies(params, carry, xs)  # and back once the vmap is traced
