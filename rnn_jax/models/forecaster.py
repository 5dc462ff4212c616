"""A window forecaster: a recurrent network, optionally on top of a fixed linear
autoregressive model of the whole window (LSTNet's autoregressive highway, Lai et al. 2018)
(:mod:`experiments.signal_forecast`)."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.models.sequence import SequenceModel
from rnn_jax.nn import dense
from rnn_jax.typing import Params, PRNGKey


@dataclass(frozen=True)
class Forecaster:
    """The next ``F`` samples after a window ``[S, F]``.

    With ``highway`` the parameters are ``{"net": ..., "ar": {"w", "b"}}``: the linear AR
    forecast (fitted by least squares, then held fixed) plus the network's; without, the
    network's alone.
    """

    net: SequenceModel  # reads steps of F samples, outputs F
    steps: int  # steps per window
    highway: bool = True

    def init(self, key: PRNGKey, ar: np.ndarray | None = None) -> Params:
        """Fresh parameters; with ``highway``, the AR weights ``ar [S*F + 1, F]`` (bias last;
        zeros if omitted) and a network whose output layer is zero, so that training
        starts from the AR model's forecasts."""
        net = self.net.init(key)
        if not self.highway:
            return net
        net["head"][-1] = jax.tree.map(jnp.zeros_like, net["head"][-1])
        if ar is None:
            ar = np.zeros((self.steps * self.net.in_dim + 1, self.net.out_dim), np.float32)
        w = jnp.asarray(ar, jnp.float32)
        return {"net": net, "ar": {"w": w[:-1], "b": w[-1]}}

    def apply(self, params: Params, x: jax.Array, key: PRNGKey | None = None) -> jax.Array:
        """The next samples ``[B, F]`` after windows ``x [B, S, F]``."""
        if not self.highway:
            return self.net.apply_last(params, x, key=key)
        ar = jax.lax.stop_gradient(params["ar"])  # fitted by least squares, not by Adam
        linear = dense.linear_apply(ar, x.reshape(x.shape[0], -1))
        return linear + self.net.apply_last(params["net"], x, key=key)
