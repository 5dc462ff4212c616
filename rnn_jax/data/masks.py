"""Which pixels of an image are given and which are to be drawn: the masks of the
inpainting protocols (:mod:`experiments.mnist_inpaint`).

A mask is boolean ``[H, W]``, ``True`` where the pixel is given. Pyro's CVAE tutorial
(``examples/cvae``, ``MaskImages``) always gives the bottom-left quadrant: with 1 quadrant
given that is all, with 2 the whole left half, with 3 everything but the bottom-right.
"""

import numpy as np

MASKS = ("q1", "q2", "q3", "top")
"""``q1`` .. ``q3``: Pyro's 1, 2 or 3 quadrants given; ``top``: the top half (mnist_gen's)."""


def named(name: str, height: int = 28, width: int = 28) -> np.ndarray:
    """The mask called ``name`` (one of :data:`MASKS`): ``[height, width]``, True = given."""
    if name not in MASKS:
        raise ValueError(f"unknown mask {name!r}; choose one of {MASKS}")
    mask = np.zeros((height, width), bool)
    bottom, left = slice(height // 2, None), slice(None, width // 2)
    if name == "top":
        mask[: height // 2] = True
    elif name == "q3":
        mask[:] = True
        mask[bottom, width // 2 :] = False
    else:
        mask[:, left] = True
        if name == "q1":
            mask[: height // 2] = False
    return mask


def stacked(names: tuple[str, ...], height: int = 28, width: int = 28) -> np.ndarray:
    """The masks called ``names``, ``[len(names), height, width]``."""
    return np.stack([named(n, height, width) for n in names])


def per_image(given: "str | np.ndarray | None", shape: tuple[int, int, int]) -> np.ndarray:
    """``given`` for each of a batch of ``shape [N, H, W]`` images, ``[N, H, W]`` booleans:
    a mask's name, booleans ``[H, W]`` (one for all) or ``[N, H, W]``, or ``None`` (nothing
    given).

    Raises:
      ValueError: an unknown name, or a mask of another shape.
    """
    if given is None:
        return np.zeros(shape, bool)
    given = named(given, *shape[1:]) if isinstance(given, str) else np.asarray(given)
    if given.shape not in (shape[1:], shape):
        raise ValueError(
            f"expected a mask name, or given [{shape[1]}, {shape[2]}] or [N, {shape[1]}, "
            f"{shape[2]}] booleans, got shape {given.shape}"
        )
    return np.broadcast_to(given.astype(bool), shape)
