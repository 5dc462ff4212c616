"""A CRNN (Shi et al. 2015): a conv encoder, a bidirectional LSTM that reads its feature
map column by column, and a linear map of each column to label logits for CTC
(:mod:`rnn_jax.nn.ctc`; :mod:`experiments.crnn`)."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.nn import dense
from rnn_jax.nn.conv import ConvEncoder
from rnn_jax.recurrent import cells, stack
from rnn_jax.typing import Params, PRNGKey


@dataclass(frozen=True)
class CRNN:
    """Conv encoder (3x3 convolutions, ReLU, max pools of 2x2, 2x2 then 2x1), bidirectional
    LSTM over the map's columns, linear to ``labels`` logits (the CTC blank among them).

    Attributes:
      channels: the conv layers' channels (one to three layers).
      hidden: LSTM units per direction.
      height: image height, in pixels.
      labels: logits per column.
    """

    channels: tuple[int, ...]
    hidden: int
    height: int
    labels: int

    @property
    def encoder(self) -> ConvEncoder:
        return ConvEncoder(self.channels, ((2, 2), (2, 2), (2, 1))[: len(self.channels)])

    def init(self, key: PRNGKey) -> Params:
        kc, kr, ko = jax.random.split(key, 3)
        h, _, c = self.encoder.out_shape(self.height, 8)
        lstm = cells.get_cell("lstm")
        return {
            "conv": self.encoder.init(kc),
            "rnn": stack.bidirectional_init(kr, lstm, h * c, self.hidden),
            "out": dense.linear_init(ko, 2 * self.hidden, self.labels),
        }

    def logits(self, params: Params, images: jax.Array) -> jax.Array:
        """``images [B, H, W]`` in [0, 1] -> per-column logits ``[B, W', labels]``."""
        fmap = self.encoder.apply(params["conv"], images[..., None])
        b, h, w, c = fmap.shape
        columns = jnp.transpose(fmap, (0, 2, 1, 3)).reshape(b, w, h * c)
        _, ys = stack.bidirectional_apply(cells.get_cell("lstm"), params["rnn"], columns)
        return dense.linear_apply(params["out"], ys)
