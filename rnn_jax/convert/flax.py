"""Weights from and to Flax's own cells, linen and NNX.

Flax's layouts, per cell (``D`` inputs, ``H`` units; kernels ``[in, out]`` like ours):

- NNX ``OptimizedLSTMCell``: ``dense_i.kernel`` [D, 4H], ``dense_h.kernel`` [H, 4H] and
  ``dense_h.bias``, gates ``i, f, g, o`` as ours. Linen's ``LSTMCell`` and
  ``OptimizedLSTMCell`` and NNX's ``LSTMCell``: one dense per gate, ``ii, if, ig, io`` (NNX:
  ``if_``) with kernels only, ``hi, hf, hg, ho`` with kernels and biases.
- NNX ``GRUCell``: ``dense_i`` [D, 3H] with a bias, ``dense_h`` [H, 3H] without, gates
  ``r, z, n``. Linen's: ``ir, iz, in`` with biases, ``hr, hz`` without, ``hn`` with the bias
  inside the reset (our ``bhn``). Both are our ``gru_reset_after`` with ``z`` negated
  (:mod:`.layout`).
- ``SimpleCell``: ``dense_i`` (linen ``i``) with a bias, ``dense_h`` (``h``) without: our
  ``rnn`` (``rnn_relu`` or ``irnn`` for ``activation_fn=relu``).

    params = from_flax(flax_cell, "lstm")                  # an NNX cell, or a params dict
    nnx.update(flax_cell, to_flax_state(flax_cell, params, "lstm"))
    linen_params = {"params": to_flax(params, "lstm", api="linen")}
"""

from collections.abc import Mapping

import numpy as np
from flax import nnx

from rnn_jax.convert import layout
from rnn_jax.errors import ConfigError
from rnn_jax.typing import Params

CELLS = ("lstm", "gru_reset_after", "rnn", "rnn_relu", "irnn")
NAMES = {"lstm": "ifgo", "gru_reset_after": "rzn"}  # Flax's gates, in its order
ORDER = {"lstm": (0, 1, 2, 3), "gru_reset_after": (1, 0, 2)}  # our gate k is Flax's ORDER[k]


def _pure(params: Mapping | nnx.Module | nnx.State) -> Mapping:
    """A cell's params as a plain nested dict: from an NNX module or state, or a linen
    variables dict (``{"params": ...}``, also ``nn.RNN``'s ``{"params": {"cell": ...}}``)."""
    if isinstance(params, nnx.Module):
        params = nnx.state(params, nnx.Param)
    if isinstance(params, nnx.State):
        params = params.to_pure_dict()
    for wrapper in ("params", "cell"):  # linen's variables, then nn.RNN's
        if set(params) == {wrapper}:
            params = params[wrapper]
    return params


def _gate_names(cell: str) -> list[str]:
    """Flax's per-gate dense names' suffixes (``""`` for the simple cell's ``i``, ``h``)."""
    return list(NAMES.get(cell, [""]))


def from_flax(params: Mapping | nnx.Module | nnx.State, cell: str) -> Params:
    """Our ``cell``'s params from a Flax cell's: an NNX cell module, its ``nnx.State``, or a
    (linen or NNX) params dict in any layout above.

    Raises:
      ConfigError: for a cell without a Flax counterpart, or params in no layout of it
        (naming the keys found and the layouts expected).
    """
    gates = layout.gate_count(cell, "Flax", CELLS)
    params = _pure(params)
    if "dense_i" in params and "dense_h" in params:  # NNX's fused gates
        dense_i, dense_h = params["dense_i"], params["dense_h"]
        hid = np.shape(dense_h["kernel"])[0]
        zeros = np.zeros((gates * hid,), np.float32)
        blocks = layout.Blocks(
            wx=layout.split(dense_i["kernel"], gates, 1),
            wh=layout.split(dense_h["kernel"], gates, 1),
            bx=layout.split(dense_i.get("bias", zeros), gates, 0),
            bh=layout.split(dense_h.get("bias", zeros), gates, 0),
        )
    else:  # one dense per gate
        names = _gate_names(cell)
        keys = [f"i{g}" for g in names] + [f"h{g}" for g in names]
        if "if_" in params:  # NNX's LSTMCell
            params = {("if" if k == "if_" else k): v for k, v in params.items()}
        if not all(k in params for k in keys):
            raise ConfigError(
                f"Flax {cell} params have keys {sorted(params)}; expected dense_i and dense_h "
                f"(NNX's fused gates) or {keys} (one dense per gate)"
            )
        hid = np.shape(params[f"h{names[0]}"]["kernel"])[0]
        zeros = np.zeros((hid,), np.float32)

        def dense(name, part):
            return np.asarray(params[name].get(part, zeros), np.float32)

        blocks = layout.Blocks(
            wx=[dense(f"i{g}", "kernel") for g in names],
            wh=[dense(f"h{g}", "kernel") for g in names],
            bx=[dense(f"i{g}", "bias") for g in names],
            bh=[dense(f"h{g}", "bias") for g in names],
        )
    return layout.to_ours(blocks, cell, ORDER.get(cell, (0,)), f"Flax {cell} params")


def to_flax(params: Params, cell: str, *, api: str = "nnx") -> dict:
    """A Flax cell's params dict from ours: ``api="nnx"`` for NNX's ``OptimizedLSTMCell``,
    ``GRUCell`` and ``SimpleCell`` (fused gates); ``"linen"`` for linen's cells (one dense
    per gate; wrap it as ``{"params": ...}``).

    Raises:
      ConfigError: for a cell without a Flax counterpart, an unknown ``api``, or a GRU with a
        nonzero ``bhn`` for NNX's ``GRUCell``, which has no bias inside its reset.
    """
    layout.gate_count(cell, "Flax", CELLS)
    blocks = layout.from_ours(params, cell, ORDER.get(cell, (0,)))
    if api == "linen":
        out = {}
        for k, g in enumerate(_gate_names(cell)):
            out[f"i{g}"] = {"kernel": blocks.wx[k]}
            out[f"h{g}"] = {"kernel": blocks.wh[k]}
            bias_in = "h" if cell == "lstm" else "i"  # where linen keeps each gate's bias
            out[f"{bias_in}{g}"]["bias"] = blocks.bx[k]
        if cell == "gru_reset_after":
            out["hn"]["bias"] = blocks.bh[2]
        return out
    if api != "nnx":
        raise ConfigError(f"api must be 'nnx' or 'linen', got {api!r}")
    if cell == "gru_reset_after" and np.any(blocks.bh[2]):
        raise ConfigError(
            "NNX's GRUCell has no bias inside its reset, and these params' bhn is nonzero: "
            "use api='linen' (linen's GRUCell has it), or train with bhn fixed at zero"
        )
    dense_i = {"kernel": np.concatenate(blocks.wx, axis=1)}
    dense_h = {"kernel": np.concatenate(blocks.wh, axis=1)}
    (dense_h if cell == "lstm" else dense_i)["bias"] = np.concatenate(blocks.bx)
    return {"dense_i": dense_i, "dense_h": dense_h}


def to_flax_state(module: nnx.Module, params: Params, cell: str) -> nnx.State:
    """``module``'s (an NNX ``OptimizedLSTMCell``, ``GRUCell`` or ``SimpleCell``) parameter
    state holding our params, for ``nnx.update(module, state)``."""
    state = nnx.state(module, nnx.Param)
    nnx.replace_by_pure_dict(state, to_flax(params, cell, api="nnx"))
    return state
