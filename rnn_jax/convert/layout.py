"""What every converter shares: a classic cell's weights cut into gate blocks, in another
library's gate order, and put back together as our params.

Our cells fuse their gates: ``wx`` [D, G*H], ``wh`` [H, G*H], ``b`` [G*H] (and the
reset-after GRU's ``bhn`` [H], the bias inside its reset). Other libraries keep an input
and a recurrent bias per gate, order the GRU's gates differently, and let its update gate
``z`` keep the old state (``h' = (1 - z) n + z h``) where ours takes the new one, so our
``z`` block is theirs, negated.
"""

from dataclasses import dataclass

import numpy as np

from rnn_jax.errors import ConfigError
from rnn_jax.typing import Params

GATES = {"lstm": 4, "gru": 3, "gru_reset_after": 3, "rnn": 1, "rnn_relu": 1, "irnn": 1}


@dataclass(frozen=True)
class Blocks:
    """One layer's weights per gate, in a library's gate order: input kernels ``wx``
    [D, H], recurrent kernels ``wh`` [H, H], input biases ``bx`` and recurrent biases
    ``bh`` [H] (the reset-after GRU's candidate recurrent bias stays inside its reset)."""

    wx: list[np.ndarray]
    wh: list[np.ndarray]
    bx: list[np.ndarray]
    bh: list[np.ndarray]


def gate_count(cell: str, library: str, cells: tuple[str, ...]) -> int:
    """The gates of ``cell``, which ``library``'s converter serves if it is one of ``cells``.

    Raises:
      ConfigError: for a cell that library has no counterpart of, naming the ones it has.
    """
    if cell not in cells:
        hint = ""
        if cell == "gru" and "gru_reset_after" in cells:
            hint = f" ({library}'s GRU resets after the recurrent matmul: use 'gru_reset_after')"
        raise ConfigError(f"no {library} layout for cell {cell!r}; choose one of {cells}{hint}")
    return GATES[cell]


def split(array: np.ndarray, gates: int, axis: int) -> list[np.ndarray]:
    """``array`` (float32) cut into ``gates`` equal blocks along ``axis``.

    Raises:
      ConfigError: if that axis does not hold ``gates`` equal blocks.
    """
    array = np.asarray(array, np.float32)
    if array.shape[axis] % gates:
        raise ConfigError(
            f"weights shaped {list(array.shape)} do not split into {gates} gate blocks along "
            f"axis {axis}: are they another kind of layer?"
        )
    return np.split(array, gates, axis=axis)


def _keeps_old(cell: str) -> bool:
    return cell in ("gru", "gru_reset_after")


def to_ours(blocks: Blocks, cell: str, order: tuple[int, ...], where: str) -> Params:
    """Our params from a library's blocks; our gate ``k`` is their block ``order[k]``.

    Raises:
      ConfigError: if the blocks' shapes disagree, naming them and ``where`` they came from.
    """
    d, hid = blocks.wx[0].shape
    shapes = {
        "input kernels": ([b.shape for b in blocks.wx], (d, hid)),
        "recurrent kernels": ([b.shape for b in blocks.wh], (hid, hid)),
        "biases": ([b.shape for b in blocks.bx + blocks.bh], (hid,)),
    }
    for what, (got, want) in shapes.items():
        if any(shape != want for shape in got):
            raise ConfigError(
                f"{where}: {what} per gate are {got}, expected {want} for a {cell} layer of "
                f"{hid} units with {d} inputs"
            )

    def ours(parts, axis=-1):
        return np.concatenate([parts[i] for i in order], axis=axis)

    params = {"wx": ours(blocks.wx), "wh": ours(blocks.wh)}
    if cell == "gru_reset_after":
        params["b"] = ours(
            [bx + bh for bx, bh in zip(blocks.bx[:2], blocks.bh[:2])] + blocks.bx[2:]
        )
        params["bhn"] = blocks.bh[2]
    else:
        params["b"] = ours([bx + bh for bx, bh in zip(blocks.bx, blocks.bh)])
    return flip_update_gate(params, hid) if _keeps_old(cell) else params


def from_ours(params: Params, cell: str, order: tuple[int, ...]) -> Blocks:
    """A library's blocks from our params (:func:`to_ours`' inverse): each gate's bias is
    its input bias; the recurrent biases are zero but for the reset-after GRU's ``bhn``."""
    hid = np.shape(params["wh"])[0]
    gates = GATES[cell]
    if _keeps_old(cell):
        params = flip_update_gate(params, hid)
    inverse = np.argsort(order)

    def theirs(array, axis=-1):
        parts = split(array, gates, axis)
        return [parts[i] for i in inverse]

    bh = [np.zeros((hid,), np.float32) for _ in range(gates)]
    if cell == "gru_reset_after":
        bh[2] = np.asarray(params["bhn"], np.float32)
    return Blocks(wx=theirs(params["wx"]), wh=theirs(params["wh"]), bx=theirs(params["b"]), bh=bh)


def flip_update_gate(params: Params, hid: int) -> Params:
    """A GRU's update gate ``z`` (our first block) as ``1 - z``: its weights and bias negated."""
    flipped = dict(params)
    for name in ("wx", "wh", "b"):
        array = np.array(params[name], np.float32)
        array[..., :hid] *= -1
        flipped[name] = array
    return flipped
