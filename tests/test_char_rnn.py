"""experiments.char_rnn: per-step projection, causality, generators, and training runs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import char_rnn as cr
from rnn_jax.data import text
from rnn_jax.errors import ConfigError


def small(embed=0):
    config = cr.Config(model=cr.ModelConfig(hidden=(8, 8), embed=embed))
    vocab = text.Vocab.from_text(cr.SENTENCE)
    model = cr.CharModel(config, vocab)
    return model, model.init(jax.random.PRNGKey(0)), vocab


def test_projection_is_applied_at_every_step():
    model, params, vocab = small()
    ids = jnp.asarray(vocab.encode("if you want")[None])
    logits = model.logits(params, ids)
    assert logits.shape == (1, 11, len(vocab))
    _, hs = model.rnn.features(params["net"], model.inputs(params, ids))
    head = params["net"]["head"][0]
    for t in (0, 5, 10):
        np.testing.assert_allclose(logits[0, t], hs[0, t] @ head["w"] + head["b"], rtol=1e-5)


@pytest.mark.parametrize("embed", [0, pytest.param(4, marks=pytest.mark.slow)])
def test_loss_at_step_t_ignores_later_inputs(embed):
    model, params, vocab = small(embed)
    ids = jnp.asarray(vocab.encode("teach them to long")[None])
    xs = model.inputs(params, ids)
    t = 6

    def loss_t(xs):
        logits = model.rnn.apply_seq(params["net"], xs)
        return jax.nn.log_softmax(logits[0, t])[ids[0, t + 1]]

    grad = jax.grad(loss_t)(xs)
    assert float(jnp.abs(grad[:, t + 1 :]).max()) == 0.0
    assert float(jnp.abs(grad[:, : t + 1]).max()) > 0.0


def test_word_and_file_options_conflict():
    with pytest.raises(ConfigError, match="either --word or --text-file"):
        cr.load_text(cr.Config(word="hello", text_file="x.txt"))


@pytest.mark.slow
def test_cli_word_prints_predictions(tmp_path, run_cli):
    out = run_cli("--word", "hihello", "--train.steps", "60", "--workdir", str(tmp_path / "w"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "prediction: 'ihello'" in out.stdout + out.stderr


@pytest.mark.slow
def test_long_sentence_is_rebuilt(tmp_path):
    results = cr.EXPERIMENT.train_and_evaluate(
        cr.Config(), cr.experiment.RunOptions(str(tmp_path / "s"))
    )
    assert results["rebuild_accuracy"] >= 0.95
    saved = json.loads((tmp_path / "s" / "results.json").read_text())
    assert saved["rebuilt"].startswith("if you want")
