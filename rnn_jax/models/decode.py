"""Batched greedy and beam-search decoding of a token decoder, as ``lax`` loops.

A decoder is a step function ``step(state, tokens [B]) -> (state, logits [B, V])``
over any pytree state whose leaves have the batch as their leading axis (for
example :meth:`rnn_jax.models.seq2seq.AttentionDecoder.step` with its parameters bound).
The length is static, so a decoding is one compiled loop; after a sequence
emits ``end`` it keeps emitting ``end`` (its padding).
"""

from collections.abc import Callable, Collection, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

DecoderStep = Callable[[Any, jax.Array], tuple[Any, jax.Array]]


def greedy(
    step: DecoderStep, state: Any, start: jax.Array, length: int, end: int
) -> tuple[jax.Array, Any]:
    """The most likely token at each step: ``(tokens [B, length], final state)``.

    ``start [B]`` is the first input token (a start-of-sequence id).
    """

    def body(carry, _):
        state, token, done = carry
        state, logits = step(state, token)
        token = jnp.where(done, end, jnp.argmax(logits, axis=-1).astype(jnp.int32))
        return (state, token, done | (token == end)), token

    done = jnp.zeros(start.shape, bool)
    (state, _, _), tokens = jax.lax.scan(body, (state, start, done), length=length)
    return tokens.T, state


def beam_search(
    step: DecoderStep,
    state: Any,
    start: jax.Array,
    length: int,
    end: int,
    width: int,
    length_penalty: float = 0.0,
) -> tuple[jax.Array, jax.Array]:
    """The ``width`` best sequences by total log-probability, kept at every step.

    A finished beam (it emitted ``end``) stays as it is, at its score. The
    final choice divides each beam's score by ``(tokens up to end) **
    length_penalty`` (0: none, so width 1 is greedy decoding exactly).

    Returns:
      ``(tokens [B, length], scores [B])``: the best sequence per batch row and
      its total log-probability.
    """
    batch = start.shape[0]
    tile = lambda x: jnp.repeat(x, width, axis=0)  # noqa: E731  [B, ...] -> [B*K, ...]
    state = jax.tree.map(tile, state)
    scores = jnp.tile(jnp.array([0.0] + [-jnp.inf] * (width - 1)), (batch, 1))  # [B, K]
    tokens = jnp.full((batch, width, length), end, jnp.int32)
    carry = (state, tile(start), scores, tokens, jnp.zeros((batch, width), bool))

    def body(carry, t):
        state, token, scores, tokens, done = carry
        state, logits = step(state, token)
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        vocab = logp.shape[-1]
        logp = logp.reshape(batch, width, vocab)
        # A finished beam continues only with ``end``, at no cost.
        finished = jnp.full((vocab,), -jnp.inf).at[end].set(0.0)
        logp = jnp.where(done[..., None], finished, logp)
        total = (scores[..., None] + logp).reshape(batch, width * vocab)
        scores, flat = jax.lax.top_k(total, width)
        beam, token = flat // vocab, (flat % vocab).astype(jnp.int32)
        rows = (jnp.arange(batch)[:, None] * width + beam).reshape(-1)
        state = jax.tree.map(lambda x: x[rows], state)
        tokens = jnp.take_along_axis(tokens, beam[..., None], axis=1).at[:, :, t].set(token)
        done = jnp.take_along_axis(done, beam, axis=1) | (token == end)
        return (state, token.reshape(-1), scores, tokens, done), None

    (_, _, scores, tokens, _), _ = jax.lax.scan(body, carry, jnp.arange(length))
    final = scores
    if length_penalty:
        ended = jnp.cumsum((tokens == end).astype(jnp.int32), axis=-1)
        emitted = jnp.sum(ended <= 1, axis=-1).astype(jnp.float32)  # up to the first end
        final = scores / jnp.maximum(emitted, 1.0) ** length_penalty
    best = jnp.argmax(final, axis=-1)
    rows = jnp.arange(batch)
    return tokens[rows, best], scores[rows, best]


def to_text(tokens, vocab: Sequence[str], stop: Collection[int], sep: str = " ") -> str:
    """One generated row of ids as text: ``vocab``'s entries joined by ``sep``, up to (not
    including) the first id in ``stop`` (the end id, and padding)."""
    out = []
    for t in np.asarray(tokens).tolist():
        if t in stop:
            break
        out.append(vocab[t])
    return sep.join(out)
