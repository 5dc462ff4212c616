"""rnn_jax.models.translator: the plain model is causal, the encoder-decoders read everything."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.translator import KINDS, Translator

SIZES = dict(hidden=8, embed=4, in_vocab=20, out_vocab=8, start=1, end=2, out_len=5)


def test_every_kind_gives_logits_and_translations_of_the_output_length(key):
    tokens = jnp.ones((2, 9), jnp.int32)
    for kind in KINDS:
        model = Translator(kind, **SIZES)
        params = jax.eval_shape(model.init, key)
        logits, _ = jax.eval_shape(model.logits, params, tokens, jnp.ones((2, 5), jnp.int32))
        assert logits.shape == (2, 5, 8), kind
        assert jax.eval_shape(model.translate, params, tokens).shape == (2, 5), kind


@pytest.mark.slow
def test_the_plain_model_is_causal_and_the_decoders_read_everything(key):
    tokens = jnp.asarray(np.random.default_rng(0).integers(1, 20, (2, 12)), jnp.int32)
    tokens = tokens.at[1].set(tokens[0])
    changed = tokens.at[1, 7:].set(5)  # everything after position 6
    targets = jnp.asarray(np.array([[3, 4, 5, 6, 2]] * 2))
    for kind in KINDS:
        model = Translator(kind, **SIZES)
        params = model.init(key)
        logits, _ = model.logits(params, changed, targets)
        same = np.allclose(logits[0], logits[1], atol=1e-6)
        # The plain model's 5 outputs come at inputs 0..4: a change after 6 cannot reach
        # them; an encoder-decoder's every output depends on the whole input.
        assert same == (kind == "plain"), kind
