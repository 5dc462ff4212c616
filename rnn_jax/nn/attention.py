"""Attention over an encoder's outputs, as pure functions: additive and dot-product.

A decoder state (the query) scores every encoder output (the keys), a softmax
over the valid ones turns the scores into weights, and the context is the
weighted sum of the outputs. The keys' projection does not depend on the
query, so it is computed once per sequence (:meth:`Attention.keys`) and reused
at every decoding step.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.errors import ConfigError
from rnn_jax.nn.dense import linear_apply, linear_init
from rnn_jax.typing import Params, PRNGKey

KINDS = ("additive", "dot")


@dataclass(frozen=True)
class Attention:
    """``additive`` (Bahdanau et al. 2015): ``v . tanh(W_q q + W_k k)``; ``dot`` (Luong et
    al. 2015, scaled): ``(W_q q) . k / sqrt(d_k)``.

    Attributes:
      kind: ``"additive"`` or ``"dot"``.
      query_dim: size of the decoder state.
      key_dim: size of each encoder output.
      hidden: width of the additive score's hidden layer.
    """

    kind: str
    query_dim: int
    key_dim: int
    hidden: int = 64

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"unknown attention {self.kind!r}; choose one of {KINDS}")

    def init(self, key: PRNGKey) -> Params:
        kq, kk, kv = jax.random.split(key, 3)
        if self.kind == "dot":
            return {"q": linear_init(kq, self.query_dim, self.key_dim)}
        return {
            "q": linear_init(kq, self.query_dim, self.hidden),
            "k": linear_init(kk, self.key_dim, self.hidden),
            "v": jax.random.normal(kv, (self.hidden,)) / jnp.sqrt(self.hidden),
        }

    def keys(self, params: Params, memory: jax.Array) -> jax.Array:
        """The query-independent part of the scores for ``memory [B, N, key_dim]``."""
        if self.kind == "dot":
            return memory
        return linear_apply(params["k"], memory)

    def apply(
        self,
        params: Params,
        keys: jax.Array,
        memory: jax.Array,
        query: jax.Array,
        mask: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """``(context [B, key_dim], weights [B, N])`` for ``query [B, query_dim]``.

        ``keys`` come from :meth:`keys`; ``mask [B, N]`` (True: valid) keeps padded
        outputs at weight zero.
        """
        q = linear_apply(params["q"], query)
        if self.kind == "dot":
            scores = jnp.einsum("bd,bnd->bn", q, keys) / jnp.sqrt(jnp.float32(self.key_dim))
        else:
            scores = jnp.tanh(keys + q[:, None, :]) @ params["v"]
        if mask is not None:
            scores = jnp.where(mask, scores, -jnp.inf)
        weights = jax.nn.softmax(scores, axis=-1)
        return jnp.einsum("bn,bnd->bd", weights, memory), weights
