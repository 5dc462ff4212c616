"""An exact-likelihood distribution over a row of pixels, given a context vector: a
conditional MADE (Germain et al. 2015). Pixel ``d``'s Bernoulli logit depends on the
context and on pixels ``0 .. d-1`` only (masked weights), so the row's log-likelihood is
one pass and a row is sampled pixel by pixel (:mod:`experiments.mnist_gen`'s
``--model.output bernoulli``).

Each hidden unit ``k`` has a degree ``m_k`` in ``1 .. D-1``; it sees input pixels
``d < m_k`` (0-based ``d``) and feeds outputs ``d >= m_k``, so output ``d`` sees inputs
``< d`` only. Targets may be grayscale in [0, 1]: the log-likelihood is then minus the
binary cross-entropy, as is usual for MNIST read as intensities.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnn_jax.nn import dense
from rnn_jax.typing import Params, PRNGKey

SAMPLINGS = ("sample", "mean", "mode")


@dataclass(frozen=True)
class RowMADE:
    """``D`` Bernoulli pixels given a ``context``-wide vector, through ``hidden`` masked units.

    Attributes:
      width: pixels per row (``D``).
      context: width of the conditioning vector.
      hidden: masked hidden units (relu).
    """

    width: int
    context: int
    hidden: int

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """``[D, hidden]`` (input pixel -> hidden unit) and ``[hidden, D]`` (hidden unit ->
        output pixel) 0/1 masks of the autoregressive order."""
        degrees = np.arange(self.hidden) % max(self.width - 1, 1) + 1  # 1 .. D-1, cycled
        pixels = np.arange(self.width)
        into = (pixels[:, None] < degrees[None, :]).astype(np.float32)
        out = (degrees[:, None] <= pixels[None, :]).astype(np.float32)
        return into, out

    def init(self, key: PRNGKey) -> Params:
        kx, kc, ko, kd = jax.random.split(key, 4)
        return {
            "x": dense.linear_init(kx, self.width, self.hidden),
            "c": dense.linear_init(kc, self.context, self.hidden),
            "out": dense.linear_init(ko, self.hidden, self.width),
            "direct": dense.linear_init(kd, self.context, self.width),
        }

    def logits(self, params: Params, context: jax.Array, x: jax.Array) -> jax.Array:
        """Each pixel's Bernoulli logit ``[..., D]`` given ``context [..., C]`` and the
        pixels before it in ``x [..., D]``."""
        into, out = (jnp.asarray(m, x.dtype) for m in self.masks())
        masked = lambda layer, m: {"w": layer["w"] * m, "b": layer["b"]}  # noqa: E731
        h = dense.linear_apply(masked(params["x"], into), x)
        h = jax.nn.relu(h + dense.linear_apply(params["c"], context))
        logits = dense.linear_apply(masked(params["out"], out), h)
        return logits + dense.linear_apply(params["direct"], context)

    def pixel_log_probs(self, params: Params, context: jax.Array, x: jax.Array) -> jax.Array:
        """``log p(x_d | context, x_<d)`` in nats for each pixel: ``[..., D]``."""
        return -optax.sigmoid_binary_cross_entropy(self.logits(params, context, x), x)

    def log_prob(self, params: Params, context: jax.Array, x: jax.Array) -> jax.Array:
        """``log p(x | context)`` in nats, summed over the row's pixels: ``[...]``."""
        return jnp.sum(self.pixel_log_probs(params, context, x), axis=-1)

    def sample(
        self,
        params: Params,
        context: jax.Array,
        key: PRNGKey | None = None,
        *,
        how: str = "sample",
        temperature: float = 1.0,
        known: tuple[jax.Array, jax.Array] | None = None,
    ) -> jax.Array:
        """A row ``[..., D]`` drawn pixel by pixel (one ``lax.scan`` of ``D`` steps):
        ``sample`` draws each pixel from its Bernoulli (logits / ``temperature``; needs a
        key), ``mean`` takes its probability, ``mode`` the likelier value. ``known`` =
        ``(values, given)``, both ``[..., D]``: the pixels where ``given`` is set are not
        drawn but take their values (what the pixels after them read)."""
        if how not in SAMPLINGS:
            raise ValueError(f"how must be one of {SAMPLINGS}, got {how!r}")
        if how == "sample" and key is None:
            raise ValueError("sampling needs a key")
        keys = jax.random.split(key, self.width) if key is not None else jnp.zeros(self.width)
        x0 = jnp.zeros((*context.shape[:-1], self.width), context.dtype)

        def pixel(x, step):
            d, k = step
            logit = jnp.take(self.logits(params, context, x), d, axis=-1)
            if how == "sample":
                value = jax.random.bernoulli(k, jax.nn.sigmoid(logit / temperature)).astype(x.dtype)
            elif how == "mean":
                value = jax.nn.sigmoid(logit)
            else:
                value = (logit > 0).astype(x.dtype)
            if known is not None:
                value = jnp.where(known[1][..., d], known[0][..., d], value)
            return x.at[..., d].set(value), None

        x, _ = jax.lax.scan(pixel, x0, (jnp.arange(self.width), keys))
        return x
