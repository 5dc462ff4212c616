"""The LSTM layer through cuDNN on NVIDIA GPUs (``jax.experimental.rnn``).

XLA runs a scanned step on a GPU as a chain of small kernels; cuDNN runs the whole layer,
forward and backward, as a library call. It takes its weights as one flat float32 array
in PyTorch's layout (:func:`pack`: per layer and direction ``W_ih`` [4H, D] and ``W_hh``
[4H, H], then all the biases; gates ``i, f, g, o`` as ours), and serves float32 on a GPU
where jaxlib has its bindings; elsewhere (bfloat16, float64, CPUs) the LSTM's other paths
run by default. ``RNN_JAX_CUDNN=0`` turns it off. Asked for by name (``unroll(...,
path="cudnn")``) where there is no cuDNN, it runs ``jax.experimental.rnn.lstm_ref`` on the
same packed weights: the path's packing and semantics are tested on any machine.
cuDNN's RNN has no batching rule, so code that ``jax.vmap`` maps over LSTMs (groups of
runs trained together) takes the other paths: trace it through :func:`vmap_without_cudnn`.
"""

import contextvars
import functools
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.experimental import rnn as jax_rnn

from rnn_jax.recurrent.fused.layer import fused_applies, with_lengths
from rnn_jax.recurrent.stack import is_bidirectional
from rnn_jax.typing import LSTMCarry, Params


def pack(layers: Sequence[Params]) -> jax.Array:
    """cuDNN's flat weights for a stack of our LSTM layers (``{"fwd", "bwd"}`` for a
    bidirectional layer): ``W_ih``, ``W_hh`` of every pseudo-layer (a layer's forward
    direction, then its backward), then ``b_ih`` (our ``b``) and ``b_hh`` (zeros) of each."""
    pseudo = [
        p
        for layer in layers
        for p in ([layer["fwd"], layer["bwd"]] if is_bidirectional(layer) else [layer])
    ]
    weights = [w for p in pseudo for w in (p["wx"].T.ravel(), p["wh"].T.ravel())]
    biases = [b for p in pseudo for b in (p["b"], jnp.zeros_like(p["b"]))]
    return jnp.concatenate([*weights, *biases])


def has_cudnn() -> bool:
    """Whether this process runs on a GPU whose jaxlib has cuDNN's RNN."""
    return jax.default_backend() == "gpu" and jax_rnn.gpu_rnn is not None


_UNDER_VMAP = contextvars.ContextVar("rnn_jax_cudnn_under_vmap", default=False)


def vmap_without_cudnn(fn: Callable, **vmap_kw) -> Callable:
    """``jax.vmap(fn, **vmap_kw)``, traced with cuDNN's path left out (it has no batching
    rule): the LSTMs inside take the fused layer's loops instead."""
    batched = jax.vmap(fn, **vmap_kw)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        token = _UNDER_VMAP.set(True)
        try:
            return batched(*args, **kwargs)
        finally:
            _UNDER_VMAP.reset(token)

    return run


def cudnn_applies(params: Params, carry: LSTMCarry, xs: jax.Array) -> bool:
    """The fused layer's operands in float32, where there is cuDNN, unless
    ``RNN_JAX_CUDNN=0`` or under :func:`vmap_without_cudnn`."""
    return (
        fused_applies(params, carry, xs)
        and xs.dtype == jnp.float32
        and xs.shape[0] > 0
        and has_cudnn()
        and os.environ.get("RNN_JAX_CUDNN", "1") != "0"
        and not _UNDER_VMAP.get()
    )


def library_lstm(
    x: jax.Array,
    h0: jax.Array,
    c0: jax.Array,
    weights: jax.Array,
    lengths: jax.Array,
    input_size: int,
    hidden_size: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One layer, one direction of ``jax.experimental.rnn.lstm`` (cuDNN) for float32 where
    there is cuDNN, else of its reference ``lstm_ref`` on the unpacked weights; batch-major
    ``x``, ``lengths`` in ``[1, T]``."""
    dims = (input_size, hidden_size, 1)
    if has_cudnn() and x.dtype == jnp.float32:
        return jax_rnn.lstm(x, h0, c0, weights, lengths, *dims, 0.0, False)
    unpacked = jax_rnn.unpack_lstm_weights(weights, *dims, False)
    return jax_rnn.lstm_ref(x, h0, c0, *unpacked, lengths, *dims, 0.0, False)


def cudnn_lstm_layer(
    params: Params, carry: LSTMCarry, xs_tbd: jax.Array, seq_lengths, unroll: int
) -> tuple[LSTMCarry, jax.Array]:
    """The LSTM's ``LayerPath`` run through cuDNN, with ``unroll``'s semantics: past its
    length a row's carry is frozen and its outputs are zero (``unroll`` is unused)."""
    return with_lengths(_cudnn_core, params, carry, xs_tbd, seq_lengths, unroll)


def _cudnn_core(
    params: Params, carry: LSTMCarry, xs_tbd: jax.Array, lengths: jax.Array, unroll: int
) -> tuple[LSTMCarry, jax.Array]:
    """One cuDNN call over every row's length (zero included: such a row runs one step,
    whose results are dropped, and keeps its carry)."""
    h0, c0 = carry
    y, h_n, c_n = library_lstm(
        jnp.swapaxes(xs_tbd, 0, 1),
        h0[None],
        c0[None],
        pack([params]),
        jnp.maximum(lengths, 1),
        xs_tbd.shape[-1],
        params["wh"].shape[0],
    )
    empty_b1 = (lengths == 0)[:, None]
    final = LSTMCarry(jnp.where(empty_b1, h0, h_n[0]), jnp.where(empty_b1, c0, c_n[0]))
    return final, jnp.swapaxes(y, 0, 1)
