"""Three ways to map one token sequence to another (:mod:`experiments.translate`): a causal
LSTM that emits output i at input i (``plain``), an encoder-decoder that reads the
encoder through one vector (``encdec``), and the same decoder attending over every
encoder output (``attention``, Bahdanau et al. 2015)."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.models import decode
from rnn_jax.models.seq2seq import AttentionDecoder
from rnn_jax.nn import dense
from rnn_jax.recurrent import cells, stack
from rnn_jax.typing import Params, PRNGKey

KINDS = ("attention", "encdec", "plain")


@dataclass(frozen=True)
class Translator:
    """One of the three models; ``logits`` for training, ``translate`` for generating.

    Attributes:
      kind: ``attention``, ``encdec`` or ``plain``.
      hidden: LSTM units of the encoder (each direction) and the decoder.
      embed: token embedding size (inputs and outputs).
      in_vocab, out_vocab: input and output tokens (input id 0 is padding).
      start, end: the output tokens that start and end a translation.
      out_len: output tokens a translation holds (``end`` included).
    """

    kind: str
    hidden: int
    embed: int
    in_vocab: int
    out_vocab: int
    start: int
    end: int
    out_len: int

    @property
    def decoder(self) -> AttentionDecoder:
        att = "additive" if self.kind == "attention" else None
        memory = 2 * self.hidden + self.embed
        return AttentionDecoder(self.out_vocab, memory, self.embed, self.hidden, att)

    def init(self, key: PRNGKey) -> Params:
        ke, kr, kd = jax.random.split(key, 3)
        lstm = cells.get_cell("lstm")
        params = {"embed": jax.random.normal(ke, (self.in_vocab, self.embed)) * 0.3}
        if self.kind == "plain":
            params["rnn"] = stack.stack_init(kr, lstm, self.embed, (self.hidden,))
            params["out"] = dense.linear_init(kd, self.hidden, self.out_vocab)
        else:
            params["rnn"] = stack.bidirectional_init(kr, lstm, self.embed, self.hidden)
            params["decoder"] = self.decoder.init(kd)
        return params

    def memory(self, params: Params, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """What the decoder reads ``[B, N, 2H + embed]``, and the mask of real (non-padding)
        input tokens: each token's encoder outputs beside its own embedding, so that copying
        a token does not depend on the context it was seen in."""
        mask = tokens != 0
        lengths = jnp.sum(mask, axis=1).astype(jnp.int32)
        embedded = params["embed"][tokens]
        _, ys = stack.bidirectional_apply(
            cells.get_cell("lstm"), params["rnn"], embedded, seq_lengths=lengths
        )
        return jnp.concatenate([ys, embedded], axis=-1), mask

    def plain_logits(self, params: Params, tokens: jax.Array) -> jax.Array:
        """The causal model's ``[B, N, out_vocab]``: output i after reading input 0..i."""
        _, ys = stack.stack_apply(cells.get_cell("lstm"), params["rnn"], params["embed"][tokens])
        return dense.linear_apply(params["out"], ys)

    def logits(self, params: Params, tokens: jax.Array, targets: jax.Array):
        """Teacher-forced logits ``[B, out_len, out_vocab]`` and attention weights (or None)."""
        if self.kind == "plain":
            return self.plain_logits(params, tokens)[:, : self.out_len], None
        start = jnp.full_like(targets[:, :1], self.start)
        inputs = jnp.concatenate([start, targets[:, :-1]], axis=1)
        memory, mask = self.memory(params, tokens)
        return self.decoder.teacher_forced(params["decoder"], memory, inputs, mask)

    def translate(self, params: Params, tokens: jax.Array) -> jax.Array:
        """Generated ids ``[B, out_len]`` (greedy)."""
        if self.kind == "plain":
            logits = self.plain_logits(params, tokens)[:, : self.out_len]
            return jnp.argmax(logits, -1).astype(jnp.int32)
        memory, mask = self.memory(params, tokens)
        dec = self.decoder
        state = dec.start(params["decoder"], memory, mask)
        start = jnp.full((tokens.shape[0],), self.start, jnp.int32)
        return decode.greedy(dec.bound(params["decoder"]), state, start, self.out_len, self.end)[0]
