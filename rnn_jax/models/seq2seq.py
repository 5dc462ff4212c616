"""An LSTM decoder that emits tokens while attending over an encoder's outputs.

Show, Attend and Tell (Xu et al. 2015) for images, Bahdanau et al. (2015) for
text: at each step the decoder reads the previous token and the previous
context, updates its LSTM state, attends over the encoder's outputs (the
``memory``) with that state, and predicts the next token from the state and
the new context. Without attention (``attention=None``) the context is the
memory's mean at every step: the plain encoder-decoder, whose one vector must
carry the whole input.

``step`` has the shape :mod:`rnn_jax.models.decode` runs (greedy and beam search);
``teacher_forced`` scans it over given tokens for training.
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rnn_jax.nn.attention import Attention
from rnn_jax.nn.dense import linear_apply, linear_init
from rnn_jax.recurrent import gated
from rnn_jax.recurrent.lstm import lstm_init, lstm_recur
from rnn_jax.typing import LSTMCarry, Params, PRNGKey


class DecoderState(NamedTuple):
    """Everything one decoding step needs; every leaf has the batch as its leading axis."""

    carry: LSTMCarry
    context: jax.Array  # [B, M] the last context vector
    keys: jax.Array  # [B, N, A] the attention's projection of the memory
    memory: jax.Array  # [B, N, M]
    mask: jax.Array  # [B, N] True where the memory is valid


@dataclass(frozen=True)
class AttentionDecoder:
    """Token decoder over ``memory [B, N, memory_dim]``.

    Attributes:
      vocab: number of tokens (including start, end and padding ids).
      memory_dim: size of each encoder output.
      embed: token embedding size.
      hidden: LSTM units.
      attention: ``"additive"``, ``"dot"`` or ``None`` (the memory's mean).
      attention_hidden: width of the additive score's hidden layer.
    """

    vocab: int
    memory_dim: int
    embed: int = 64
    hidden: int = 256
    attention: str | None = "additive"
    attention_hidden: int = 128

    @property
    def _attention(self) -> Attention | None:
        if self.attention is None:
            return None
        return Attention(self.attention, self.hidden, self.memory_dim, self.attention_hidden)

    def init(self, key: PRNGKey) -> Params:
        ke, ki, kc, ka, ko = jax.random.split(key, 5)
        params = {
            "embed": jax.random.normal(ke, (self.vocab, self.embed)) / jnp.sqrt(self.embed),
            "init": linear_init(ki, self.memory_dim, 2 * self.hidden),
            "cell": lstm_init(kc, self.embed + self.memory_dim, self.hidden),
            "out": linear_init(ko, self.hidden + self.memory_dim, self.vocab),
        }
        if self._attention is not None:
            params["attention"] = self._attention.init(ka)
        return params

    def start(self, params: Params, memory: jax.Array, mask: jax.Array | None = None):
        """The state before the first token: the LSTM starts from the memory's mean."""
        if mask is None:
            mask = jnp.ones(memory.shape[:2], bool)
        weights = _uniform(mask)
        mean = jnp.einsum("bn,bnm->bm", weights, memory)
        h, c = jnp.split(jnp.tanh(linear_apply(params["init"], mean)), 2, axis=-1)
        att = self._attention
        keys = memory[..., :0] if att is None else att.keys(params["attention"], memory)
        return DecoderState(LSTMCarry(h, c), mean, keys, memory, mask)

    def step(
        self, params: Params, state: DecoderState, token: jax.Array
    ) -> tuple[DecoderState, jax.Array, jax.Array]:
        """Read ``token [B]``: ``(state, logits [B, vocab], attention weights [B, N])``."""
        x = jnp.concatenate([params["embed"][token], state.context], axis=-1)
        carry, h = lstm_recur(params["cell"], state.carry, gated.project(params["cell"], x))
        att = self._attention
        if att is None:
            context = state.context
            weights = _uniform(state.mask)
        else:
            context, weights = att.apply(
                params["attention"], state.keys, state.memory, h, state.mask
            )
        logits = linear_apply(params["out"], jnp.concatenate([h, context], axis=-1))
        return state._replace(carry=carry, context=context), logits, weights

    def teacher_forced(
        self,
        params: Params,
        memory: jax.Array,
        tokens: jax.Array,
        mask: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Logits ``[B, T, vocab]`` and attention weights ``[B, T, N]`` after reading
        ``tokens [B, T]`` (the targets shifted right, starting with the start id)."""

        def body(state, token):
            state, logits, weights = self.step(params, state, token)
            return state, (logits, weights)

        _, (logits, weights) = jax.lax.scan(body, self.start(params, memory, mask), tokens.T)
        return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(weights, 0, 1)

    def bound(self, params: Params):
        """``(state, token) -> (state, logits)``, the step :mod:`rnn_jax.models.decode` runs."""
        return lambda state, token: self.step(params, state, token)[:2]


def _uniform(mask: jax.Array) -> jax.Array:
    """Equal weights over the valid positions of ``mask [B, N]``."""
    m = mask.astype(jnp.float32)
    return m / jnp.sum(m, axis=1, keepdims=True)
