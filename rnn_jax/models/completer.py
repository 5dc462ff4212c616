"""Complete images row by row: a recurrent network reads the given top rows and draws the
rest one row at a time (:mod:`experiments.mnist_gen`).

A row is either regressed (``sigmoid`` or ``linear`` outputs, trained by MSE) or drawn from
an exact-likelihood distribution (``bernoulli``: the network's output is the context of a
:class:`~rnn_jax.models.made.RowMADE`, trained by the rows' negative log-likelihood).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rnn_jax.models import sample
from rnn_jax.models.made import RowMADE
from rnn_jax.models.sequence import SequenceModel
from rnn_jax.typing import Params, PRNGKey

MODES = ("teacher", "window")
OBJECTIVES = ("next_row", "rollout", "both")
OUTPUTS = ("sigmoid", "linear", "bernoulli")


def take_windows(images: jax.Array, starts: jax.Array, given: int) -> tuple[jax.Array, jax.Array]:
    """The course's (window, next row) pairs: ``x = img[i : i+given]``, ``y = img[i+given]``
    for ``images [B, H, W]`` and ``starts [B]``; ``x [B, given, W]``, ``y [B, W]``."""
    take = jax.vmap(lambda img, i: jax.lax.dynamic_slice_in_dim(img, i, given + 1))
    chunk = take(images, starts)
    return chunk[:, :given], chunk[:, given]


@dataclass(frozen=True)
class RowCompleter:
    """Reads rows of ``width`` pixels and draws the next ones.

    Attributes:
      net: rows in; out the next row (regression) or the row distribution's context.
      mode: ``teacher`` (carry the state, predict every next row) or ``window`` (re-read a
        sliding window of ``given`` rows for every new row; regression only).
      objective: for regression, ``next_row`` (the MSE of each next real row), ``rollout``
        (the MSE of the generated rows, backpropagated through the generation) or ``both``.
      output: ``sigmoid``, ``linear`` or ``bernoulli``.
      made: the row distribution, with ``bernoulli``.
      given: rows a completion starts from.
    """

    net: SequenceModel
    mode: str = "teacher"
    objective: str = "rollout"
    output: str = "sigmoid"
    made: RowMADE | None = None
    given: int = 14

    def init(self, key: PRNGKey) -> Params:
        if self.made is None:
            return self.net.init(key)
        k_net, k_made = jax.random.split(key)
        return {**self.net.init(k_net), "made": self.made.init(k_made)}

    def out(self, z: jax.Array, key: PRNGKey | None = None) -> jax.Array:
        """A regressed row from the network's output."""
        return jax.nn.sigmoid(z) if self.output == "sigmoid" else z

    def pixel_log_probs(self, params: Params, images: jax.Array) -> jax.Array:
        """``log p(pixel | the pixels before it in raster order)`` in nats, ``[B, H, W]``
        for every pixel of ``images [B, H, W]`` (``bernoulli``; teacher-forced: every row at
        once). The network reads a blank row first, so the first row has its distribution
        too and the sum is the whole image's log-likelihood."""
        context = self.net.apply_seq(params, self.after_blank(images[:, :-1]))
        return self.made.pixel_log_probs(params["made"], context, images)

    def rows_log_prob(self, params: Params, images: jax.Array) -> jax.Array:
        """``log p(row_t | rows before it)`` in nats, ``[B, H]`` (:meth:`pixel_log_probs`)."""
        return jnp.sum(self.pixel_log_probs(params, images), axis=-1)

    @staticmethod
    def after_blank(rows: jax.Array) -> jax.Array:
        """``rows [B, T, W]`` after a blank row: ``[B, T + 1, W]``, what a Bernoulli model
        reads (its start symbol)."""
        blank = jnp.zeros((rows.shape[0], 1, rows.shape[2]), rows.dtype)
        return jnp.concatenate([blank, rows], axis=1)

    def loss_fn(self, params: Params, images: jax.Array, key: PRNGKey) -> tuple[jax.Array, dict]:
        """The training loss of ``images [B, H, W]`` in [0, 1]: the negative log-likelihood
        per pixel (``bernoulli``), else the objective's MSE (both parts reported)."""
        if self.made is not None:
            return -jnp.mean(self.rows_log_prob(params, images)) / images.shape[-1], {}
        losses = {}
        if self.objective in ("next_row", "both"):
            losses["next_row"] = self.next_row_loss(params, images, key)
        if self.objective in ("rollout", "both"):
            generated = self.complete(params, images[:, : self.given])
            losses["rollout"] = jnp.mean(
                (generated[:, self.given :] - images[:, self.given :]) ** 2
            )
        return sum(losses.values()), losses if self.objective == "both" else {}

    def next_row_loss(self, params: Params, images: jax.Array, key: PRNGKey) -> jax.Array:
        """MSE of the next real row: every row given rows 1..t (teacher), or a random window's."""
        if self.mode == "teacher":
            pred = self.out(self.net.apply_seq(params, images[:, :-1]))
            return jnp.mean((pred - images[:, 1:]) ** 2)
        # One random window per image and step; over the run every window is drawn.
        starts = jax.random.randint(key, (images.shape[0],), 0, images.shape[1] - self.given)
        xs, ys = take_windows(images, starts, self.given)
        return jnp.mean((self.out(self.net.apply_last(params, xs)) - ys) ** 2)

    def complete(
        self,
        params: Params,
        top: jax.Array,
        key: PRNGKey | None = None,
        *,
        how: str = "mean",
        temperature: float = 1.0,
        rows: int = 28,
    ) -> jax.Array:
        """``top [B, given, W]`` (in [0, 1]) completed to ``[B, rows, W]`` in one scan. With
        ``bernoulli``, each row is drawn pixel by pixel (``how``: ``sample`` with ``key``
        and ``temperature``, ``mean`` or ``mode``; :meth:`RowMADE.sample`), and ``top`` may
        have no rows: the whole image is drawn."""
        steps = rows - top.shape[1]
        if self.mode == "window":
            predict = lambda window: self.net.apply_last(params, window)  # noqa: E731
            drawn = sample.sliding_window(predict, top, steps, feedback=self.out)
            return jnp.concatenate([top, jnp.clip(drawn, 0.0, 1.0)], axis=1)
        feedback, read = self.out, top  # regression: each row fed back as regressed
        if self.made is not None:  # Bernoulli: each row drawn, after a blank start row

            def feedback(context, k):
                return self.made.sample(
                    params["made"], context, k, how=how, temperature=temperature
                )

            read = self.after_blank(top)
        carries, z = self.net.warm_up(params, read)
        step = lambda c, row: self.net.step(params, c, row)  # noqa: E731
        drawn = sample.carry_forward(step, carries, z, steps, feedback=feedback, key=key)
        return jnp.concatenate([top, drawn if self.made else jnp.clip(drawn, 0.0, 1.0)], axis=1)
