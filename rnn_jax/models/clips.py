"""A clip reader: the same CNN on every frame of a clip, then a way over the frames (an
LSTM, an average, or the first frame alone), then heads for the digits in the clip, each
digit's direction of motion and the digit seen first (:mod:`experiments.video`)."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.nn import dense
from rnn_jax.nn.conv import ConvEncoder
from rnn_jax.recurrent import cells, stack
from rnn_jax.typing import Params, PRNGKey

KINDS = ("lstm", "average", "frame")


@dataclass(frozen=True)
class ClipModel:
    """Per-frame CNN, then the kind's way over frames, then the three heads.

    Attributes:
      kind: ``lstm`` (an LSTM over the frames' features and their change since the last
        frame), ``average`` (the heads averaged over the frames: order-free) or ``frame``
        (the first frame alone).
      channels: conv layers (3x3, ReLU; a 2x2 max pool after each but the last, which keeps
        its map fine for the positions).
      hidden: LSTM units.
      size: side of the square frames, in pixels.
      directions: directions of motion a digit may take.
    """

    kind: str
    channels: tuple[int, ...]
    hidden: int
    size: int = 40
    directions: int = 8

    @property
    def encoder(self) -> ConvEncoder:
        pools = ((2, 2),) * (len(self.channels) - 1) + ((1, 1),)  # keep the last map fine
        return ConvEncoder(self.channels, pools)

    def init(self, key: PRNGKey) -> Params:
        kc, kr, kd, ko, kv, ks = jax.random.split(key, 6)
        width = 3 * self.channels[-1]  # each channel's (x, y) and its peak
        top = self.hidden if self.kind == "lstm" else width
        params = {
            "conv": self.encoder.init(kc),
            "digits": dense.linear_init(kd, top, 10),
            "directions": dense.linear_init(ko, top, 10 * self.directions),
            "first": dense.linear_init(kv, top, 10),
            "seen": dense.linear_init(ks, self.channels[-1], 10),
        }
        if self.kind == "lstm":
            params["rnn"] = cells.get_cell("lstm").init(kr, 2 * width, self.hidden)
        return params

    def frame_features(self, params: Params, frames: jax.Array) -> jax.Array:
        """``[B, T, S, S]`` in [0, 1] -> ``[B, T, 3C]``, every frame by the same CNN: where
        each channel of its map fires, as the centre of its activation's mass (finer than
        the map's cells; in units of 5 px from the canvas's centre, so that a move of 2-3 px
        a frame is a step a model can see), beside the channel's peak (what is there,
        wherever it is)."""
        b, t = frames.shape[:2]
        fmap = self.encoder.apply(params["conv"], frames.reshape(b * t, self.size, self.size, 1))
        h, w, c = fmap.shape[1:]
        mass = fmap.reshape(b * t, h * w, c)
        mass = mass - jnp.min(mass, axis=1, keepdims=True)  # a bias lights no background
        attend = mass / (jnp.sum(mass, axis=1, keepdims=True) + 1e-3)
        half = self.size / 2 / 5.0
        grid = jnp.linspace(-half, half, h), jnp.linspace(-half, half, w)
        ys, xs = jnp.meshgrid(*grid, indexing="ij")
        where = jnp.einsum("npc,pk->nck", attend, jnp.stack([xs.ravel(), ys.ravel()], axis=1))
        what = jnp.max(fmap, axis=(1, 2))
        return jnp.concatenate([where.reshape(b * t, 2 * c), what], axis=-1).reshape(b, t, -1)

    def heads(self, params: Params, h: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        d = dense.linear_apply(params["directions"], h)
        return (
            dense.linear_apply(params["digits"], h),
            d.reshape(*d.shape[:-1], 10, self.directions),
            dense.linear_apply(params["first"], h),
        )

    def apply(self, params: Params, frames: jax.Array, lengths: jax.Array):
        """Digit logits ``[B, 10]``, direction logits ``[B, 10, D]`` and which-digit-first
        logits ``[B, 10]`` of each clip (frames ``[B, T, S, S]`` in [0, 1], ``lengths [B]``),
        and the logits of the digits visible in each frame read ``[B, T', 10]`` (an
        auxiliary target that teaches the CNN digits, frame by frame, and says nothing
        about order)."""
        feats = self.frame_features(params, frames[:, :1] if self.kind == "frame" else frames)
        seen = dense.linear_apply(params["seen"], feats[..., -self.channels[-1] :])
        if self.kind == "frame":
            return (*self.heads(params, feats[:, 0]), seen)
        if self.kind == "lstm":  # each frame's features and their change since the last
            change = jnp.diff(feats, axis=1, prepend=feats[:, :1])
            cell, steps = cells.get_cell("lstm"), jnp.concatenate([feats, change], axis=-1)
            _, ys = stack.stack_apply(cell, [params["rnn"]], steps, seq_lengths=lengths)
            return (*self.heads(params, stack.last_valid(ys, lengths)), seen)
        valid = (jnp.arange(frames.shape[1])[None, :] < lengths[:, None]).astype(jnp.float32)
        weights = valid / jnp.sum(valid, axis=1, keepdims=True)
        heads = self.heads(params, feats)
        return (*(jnp.einsum("bt,bt...->b...", weights, y) for y in heads), seen)
