"""An image captioner: a conv encoder and an LSTM decoder that attends over the feature
map's cells (Show, Attend and Tell, Xu et al. 2015), or without attention reads one
vector of the whole map at every step (Show and Tell's form) (:mod:`experiments.caption`)."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.models import decode
from rnn_jax.models.seq2seq import AttentionDecoder
from rnn_jax.nn import dense
from rnn_jax.nn.conv import ConvEncoder
from rnn_jax.typing import Params, PRNGKey

ATTENTIONS = ("additive", "dot", "none")


@dataclass(frozen=True)
class Captioner:
    """Conv encoder (``side x side`` -> ``side / 2^layers`` square map of C channels) and
    the attention decoder over a vocabulary of ``vocab`` tokens.

    Attributes:
      vocab: tokens, ``start`` and ``end`` among them.
      start, end: the tokens that start and end a caption.
      max_len: tokens a generated caption holds (the end token included).
      channels: conv layers (3x3, ReLU, max pool 2x2 each).
      attention: ``additive``, ``dot`` or ``none``.
      hidden: LSTM units of the decoder.
      embed: token embedding size.
      side: side of the square images, in pixels.
    """

    vocab: int
    start: int
    end: int
    max_len: int
    channels: tuple[int, ...]
    attention: str
    hidden: int
    embed: int
    side: int = 64

    @property
    def encoder(self) -> ConvEncoder:
        return ConvEncoder(tuple(self.channels), ((2, 2),) * len(self.channels))

    @property
    def decoder(self) -> AttentionDecoder:
        att = None if self.attention == "none" else self.attention
        dim = self.channels[-1] if att else self.hidden
        return AttentionDecoder(self.vocab, dim, self.embed, self.hidden, att)

    def init(self, key: PRNGKey) -> Params:
        kc, ks, kd = jax.random.split(key, 3)
        params = {"conv": self.encoder.init(kc), "decoder": self.decoder.init(kd)}
        h, w, c = self.encoder.out_shape(self.side, self.side)
        if self.attention == "none":
            params["summary"] = dense.linear_init(ks, h * w * c, self.hidden)
        else:
            params["position"] = 0.1 * jax.random.normal(ks, (h * w, c))
        return params

    def memory(self, params: Params, images: jax.Array) -> jax.Array:
        """What the decoder reads of ``images [B, side, side]`` (in [0, 1]): the map's cells
        ``[B, cells, C]``, each plus a learned embedding of where it is (a convolution alone
        cannot tell the cells apart, and a caption's words may depend on the layout), or
        without attention one vector of the whole map ``[B, 1, hidden]``."""
        fmap = self.encoder.apply(params["conv"], images[..., None])
        b = fmap.shape[0]
        if self.attention == "none":
            return jnp.tanh(dense.linear_apply(params["summary"], fmap.reshape(b, 1, -1)))
        return fmap.reshape(b, -1, fmap.shape[-1]) + params["position"][None]

    def teacher_forced(self, params: Params, images: jax.Array, targets: jax.Array):
        """Logits ``[B, L, vocab]`` and attention weights of each target token given the
        ones before it."""
        start = jnp.full_like(targets[:, :1], self.start)
        inputs = jnp.concatenate([start, targets[:, :-1]], axis=1)
        return self.decoder.teacher_forced(params["decoder"], self.memory(params, images), inputs)

    def generate(self, params: Params, images: jax.Array, width: int = 0) -> jax.Array:
        """Greedy (``width=0``) or beam-search captions ``[B, max_len]`` of ``images``."""
        dec = self.decoder
        state = dec.start(params["decoder"], self.memory(params, images))
        start = jnp.full((images.shape[0],), self.start, jnp.int32)
        step = dec.bound(params["decoder"])
        if not width:
            return decode.greedy(step, state, start, self.max_len, self.end)[0]
        return decode.beam_search(step, state, start, self.max_len, self.end, width)[0]
