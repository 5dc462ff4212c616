"""What the classic cells (RNN, LSTM, GRU) share: fused gate weights ``wx`` [D, G*H],
``wh`` [H, G*H] and ``b`` [G*H], their input half ``x @ wx + b``, and the arithmetic
rules (gates accumulate in at least float32; bfloat16 params stay bfloat16 in memory).
"""

import dataclasses
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from rnn_jax.recurrent import deer
from rnn_jax.recurrent.cells import Cell, LayerPath, split_step
from rnn_jax.typing import Carry, Params, PRNGKey


def acc_dtype(dtype) -> jnp.dtype:
    """Accumulation dtype: float32 for low precision, else the dtype itself."""
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def sigmoid(x: jax.Array) -> jax.Array:
    """Logistic sigmoid via tanh: one transcendental, faster on CPU than ``1/(1+e^-x)``."""
    return 0.5 * jnp.tanh(0.5 * x) + 0.5


def init_weights(key: PRNGKey, in_dim: int, hidden: int, gates: int, dtype) -> Params:
    """Lecun-normal ``wx`` [D, G*H], per-gate orthogonal ``wh`` [H, G*H], zero ``b``."""
    kx, kh = jax.random.split(key)
    # Drawn in float32 (LAPACK has no bfloat16 QR), then cast.
    wx = jax.nn.initializers.lecun_normal()(kx, (in_dim, gates * hidden), jnp.float32)
    ortho = jax.nn.initializers.orthogonal()
    wh = jnp.concatenate(
        [ortho(k, (hidden, hidden), jnp.float32) for k in jax.random.split(kh, gates)], axis=1
    )
    return {
        "wx": wx.astype(dtype),
        "wh": wh.astype(dtype),
        "b": jnp.zeros((gates * hidden,), dtype),
    }


def input_size(params: Params) -> int:
    """Input size D (rows of ``wx``)."""
    return params["wx"].shape[0]


def hidden_size(params: Params) -> int:
    """Hidden size H (rows of ``wh``)."""
    return params["wh"].shape[0]


def project(params: Params, x: jax.Array) -> jax.Array:
    """Input half of a step: ``x @ wx + b`` in the accumulation dtype.

    Raises:
      ValueError: if the last axis of ``x`` is not the cell's input size.
    """
    d = input_size(params)
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(
            f"input has shape {tuple(x.shape)} but the cell expects {d} features on the last "
            f"axis; reshape the input to [..., {d}] or build the cell with "
            f"in_dim={x.shape[-1] if x.ndim else 1}"
        )
    acc = acc_dtype(params["wx"].dtype)
    xw = jnp.dot(x, params["wx"], preferred_element_type=acc)
    return xw + jnp.broadcast_to(params["b"].astype(acc), xw.shape)


def recur_matmul(params: Params, h: jax.Array) -> jax.Array:
    """``h @ wh`` in the accumulation dtype."""
    acc = acc_dtype(params["wh"].dtype)
    return jnp.dot(h.astype(params["wh"].dtype), params["wh"], preferred_element_type=acc)


def recurrent_diagonal(params: Params, gate: int, like: jax.Array) -> jax.Array:
    """``wh[i, gate * H + i]`` for each unit ``i`` (how unit ``i``'s own state enters its
    pre-activation of gate number ``gate``), broadcast to ``like`` [..., H] in its dtype."""
    hid = hidden_size(params)
    block = params["wh"][:, gate * hid : (gate + 1) * hid]
    return jnp.broadcast_to(jnp.diagonal(block).astype(like.dtype), like.shape)


def zero_hidden(params: Params, batch_shape: tuple[int, ...]) -> jax.Array:
    """Zero hidden state ``[*batch_shape, H]`` in the params' dtype (RNN and GRU carry)."""
    return jnp.zeros((*batch_shape, hidden_size(params)), params["wh"].dtype)


def gated_cell(
    *,
    name: str,
    about: str,
    init: Callable[..., Params],
    recur: Callable[[Params, Carry, jax.Array], tuple[Carry, jax.Array]],
    init_carry: Callable[[Params, tuple[int, ...]], Carry] = zero_hidden,
    paths: tuple[LayerPath, ...] = (),
    jacobian_diagonal: Callable[[Params, Carry, jax.Array], Carry] | None = None,
) -> Cell:
    """A cell of this layout: its step is ``recur(params, carry, project(params, x_t))``;
    besides ``paths``, it runs in parallel over time by quasi-DEER on request
    (``unroll(..., path="deer")``, :mod:`.deer`; never chosen by default)."""
    cell = Cell(
        name=name,
        about=about,
        init=init,
        init_carry=init_carry,
        step=split_step(project, recur),
        input_size=input_size,
        project=project,
        recur=recur,
        paths=paths,
        jacobian_diagonal=jacobian_diagonal,
    )
    never = lambda params, carry, xs: False  # noqa: E731
    deer_path = LayerPath(name="deer", run=partial(deer.deer_layer, cell), applies=never)
    return dataclasses.replace(cell, paths=(*paths, deer_path))
