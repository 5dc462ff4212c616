"""A small convolutional encoder as pure functions: images in, a feature map out.

Each layer is a 3x3 ``same`` convolution (``jax.lax.conv_general_dilated``,
NHWC), a ReLU and a max pool. CRNN reads the map column by column as a
sequence; the captioner attends over its cells.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.errors import ConfigError
from rnn_jax.typing import Params, PRNGKey

_DIMS = ("NHWC", "HWIO", "NHWC")


@dataclass(frozen=True)
class ConvEncoder:
    """Conv -> ReLU -> max pool per layer.

    Attributes:
      channels: output channels of each layer.
      pools: each layer's pool window and stride ``(height, width)``; ``(1, 1)``: none.
      in_channels: channels of the input images.
      kernel: the square convolution kernel's size.
    """

    channels: tuple[int, ...] = (32, 64, 128)
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 2))
    in_channels: int = 1
    kernel: int = 3

    def __post_init__(self):
        if len(self.channels) != len(self.pools):
            raise ConfigError(
                f"{len(self.channels)} conv layers but {len(self.pools)} pools; give one pool "
                "(height, width) per layer"
            )

    def init(self, key: PRNGKey) -> list[Params]:
        """He-normal kernels ``[k, k, in, out]`` and zero biases, one dict per layer."""
        params, cin = [], self.in_channels
        for sub, cout in zip(jax.random.split(key, len(self.channels)), self.channels):
            fan_in = self.kernel * self.kernel * cin
            w = jax.random.normal(sub, (self.kernel, self.kernel, cin, cout)) * jnp.sqrt(
                2.0 / fan_in
            )
            params.append({"w": w, "b": jnp.zeros((cout,))})
            cin = cout
        return params

    def apply(self, params: list[Params], images: jax.Array) -> jax.Array:
        """``images [B, H, W, C]`` -> feature map ``[B, H', W', channels[-1]]``."""
        if images.ndim != 4 or images.shape[-1] != self.in_channels:
            raise ValueError(
                f"expected images [B, H, W, {self.in_channels}], got shape {images.shape}"
            )
        x = images
        for p, (ph, pw) in zip(params, self.pools):
            x = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "SAME", dimension_numbers=_DIMS)
            x = jax.nn.relu(x + jnp.broadcast_to(p["b"], x.shape))
            if (ph, pw) != (1, 1):
                x = jax.lax.reduce_window(
                    x, -jnp.inf, jax.lax.max, (1, ph, pw, 1), (1, ph, pw, 1), "VALID"
                )
        return x

    def out_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(H', W', C')`` of the feature map for ``height x width`` images."""
        for ph, pw in self.pools:
            height, width = height // ph, width // pw
        return height, width, self.channels[-1]
