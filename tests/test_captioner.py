"""rnn_jax.models.captioner: with attention the decoder reads the map's cells; without, one
vector of the whole map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.models.captioner import Captioner


@pytest.mark.slow
def test_without_attention_the_decoder_reads_one_vector(key):
    plain = Captioner(vocab=12, start=1, end=2, max_len=6, channels=(4, 8), attention="none",
                      hidden=16, embed=8, side=32)  # fmt: skip
    params = plain.init(key)
    images = jnp.asarray(np.random.default_rng(0).random((2, 32, 32)), jnp.float32)
    assert plain.memory(params, images).shape == (2, 1, 16)
    assert "position" not in params and "attention" not in params["decoder"]
    targets = jnp.array([[5, 7, 9, 2, 0, 0]] * 2)
    logits, _ = plain.teacher_forced(params, images, targets)
    assert logits.shape == (2, 6, 12)
    # Two different scenes, one vector each: different words are likely.
    assert not np.allclose(logits[0], logits[1])
    assert plain.generate(params, images).shape == (2, 6)


def test_with_attention_the_decoder_reads_every_cell_where_it_is(key):
    att = Captioner(vocab=12, start=1, end=2, max_len=6, channels=(4, 8), attention="dot",
                    hidden=16, embed=8, side=32)  # fmt: skip
    params = jax.eval_shape(att.init, key)  # shapes alone: no compile
    images = jnp.asarray(np.random.default_rng(0).random((2, 32, 32)), jnp.float32)
    cells = jax.eval_shape(att.memory, params, images)
    assert cells.shape == (2, 64, 8)  # 32 / 2 / 2 = 8 x 8 cells of 8 channels
    assert params["position"].shape == (64, 8)
