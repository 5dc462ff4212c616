"""Draw any masked region of an image given the rest, with an exact likelihood
(:mod:`experiments.mnist_inpaint`).

A row-reading autoregressive model gives an exact conditional likelihood only when the
given pixels come before the hidden ones in its order (the top half given, the bottom drawn).
For any other mask, an encoder first reads the masked image both ways over its rows, so
every row's encoding knows every given pixel; the decoder then draws the image in raster
order, row by row and pixel by pixel (a :class:`~rnn_jax.models.made.RowMADE` per row),
reading the given pixels where they are and drawing the others. The likelihood counts the
hidden pixels only: ``log p(hidden | given)`` in nats.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from rnn_jax.models.made import RowMADE
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.recurrent import stack
from rnn_jax.recurrent.cells import get_cell
from rnn_jax.typing import Params, PRNGKey


@dataclass(frozen=True)
class Inpainter:
    """``p(hidden pixels | given pixels)`` of ``[B, H, W]`` images in [0, 1], for any mask.

    Attributes:
      decoder: reads ``[row above, this row's encoding]`` (``W + 2 * encoder`` inputs) at
        each row; out: the context of the row's distribution.
      made: the row's distribution, given ``[decoder context, the row's given values, the
        row's mask]`` (context width ``decoder.out_dim + 2 * W``).
      encoder: hidden units of each direction of the bidirectional encoder, which reads the
        masked rows (hidden pixels zeroed) beside their masks (``2 * W`` inputs).
    """

    decoder: SequenceModel
    made: RowMADE
    encoder: int = 128

    def init(self, key: PRNGKey) -> Params:
        k_enc, k_dec, k_made = jax.random.split(key, 3)
        cell, width = get_cell(self.decoder.cell), self.made.width
        return {
            "encoder": stack.bidirectional_init(k_enc, cell, 2 * width, self.encoder),
            "decoder": self.decoder.init(k_dec),
            "made": self.made.init(k_made),
        }

    def encode(self, params: Params, images: jax.Array, given: jax.Array) -> jax.Array:
        """Each row's encoding ``[B, H, 2 * encoder]`` from the given pixels alone."""
        cell = get_cell(self.decoder.cell)
        given = jnp.broadcast_to(given, images.shape).astype(images.dtype)
        rows = jnp.concatenate([images * given, given], axis=-1)
        return stack.bidirectional_apply(cell, params["encoder"], rows)[1]

    def logits(self, params: Params, images: jax.Array, given: jax.Array) -> jax.Array:
        """Each pixel's Bernoulli logit given the given pixels and the pixels before it in
        raster order, ``[B, H, W]``: teacher-forced, every row at once. ``given`` (bool or
        0/1, ``[H, W]`` or ``[B, H, W]``) marks the given pixels."""
        given = jnp.broadcast_to(given, images.shape).astype(images.dtype)
        above = jnp.concatenate([jnp.zeros_like(images[:, :1]), images[:, :-1]], axis=1)
        reads = jnp.concatenate([above, self.encode(params, images, given)], axis=-1)
        out = self.decoder.apply_seq(params["decoder"], reads)
        return self.made.logits(params["made"], self._made_context(out, images, given), images)

    def log_prob(self, params: Params, images: jax.Array, given: jax.Array) -> jax.Array:
        """``log p(hidden | given)`` in nats per image ``[B]`` (:meth:`logits`), summed over
        the pixels not given; for grayscale targets, minus their binary cross-entropy."""
        hidden = 1.0 - jnp.broadcast_to(given, images.shape).astype(images.dtype)
        bce = optax.sigmoid_binary_cross_entropy(self.logits(params, images, given), images)
        return -jnp.sum(bce * hidden, axis=(1, 2))

    def loss_fn(self, params: Params, images: jax.Array, given: jax.Array) -> jax.Array:
        """The mean negative log-likelihood of the hidden pixels, per pixel of the image."""
        return -jnp.mean(self.log_prob(params, images, given)) / images[0].size

    def sample(
        self,
        params: Params,
        images: jax.Array,
        given: jax.Array,
        key: PRNGKey | None = None,
        *,
        how: str = "sample",
        temperature: float = 1.0,
    ) -> jax.Array:
        """``images`` with their hidden pixels drawn ``[B, H, W]`` (their values there are
        not read), in one scan over the rows: ``how`` = ``sample`` (by ``key``, at
        ``temperature``), ``mean`` or ``mode`` (:meth:`RowMADE.sample`)."""
        given = jnp.broadcast_to(given, images.shape).astype(images.dtype)
        encoded = self.encode(params, images, given)
        height = images.shape[1]
        keys = jnp.zeros(height) if key is None else jax.random.split(key, height)
        carries = self.decoder.init_carries(params["decoder"], images.shape[0])

        def row(state, inputs):
            carries, above = state
            encoding, values, mask, k = inputs
            reads = jnp.concatenate([above, encoding], axis=-1)
            carries, out = self.decoder.step(params["decoder"], carries, reads)
            context = self._made_context(out, values, mask)
            drawn = self.made.sample(
                params["made"], context, None if key is None else k, how=how,
                temperature=temperature, known=(values, mask > 0),
            )  # fmt: skip
            return (carries, drawn), drawn

        time_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
        inputs = (time_major(encoded), time_major(images), time_major(given), keys)
        _, rows = jax.lax.scan(row, (carries, jnp.zeros_like(images[:, 0])), inputs)
        return time_major(rows)

    @staticmethod
    def _made_context(out: jax.Array, values: jax.Array, given: jax.Array) -> jax.Array:
        """What a row's distribution reads: the decoder's output, the row's given values and
        its mask (so a given pixel right of a hidden one is read directly)."""
        return jnp.concatenate([out, values * given, given], axis=-1)
