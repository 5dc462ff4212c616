"""rnn_jax.data.masks: the quadrant masks are Pyro's CVAE tutorial's, and masks for a batch
are checked."""

import numpy as np
import pytest

from rnn_jax.data import masks


def pyro_mask_images(image: np.ndarray, num: int, mask_with: float = -1.0):
    """Pyro's ``examples/cvae/util.py`` ``MaskImages.__call__``, transcribed to NumPy:
    ``(input, output)``, each with ``mask_with`` where the pixel belongs to the other."""
    out = image.copy()
    h, w = image.shape
    out[h // 2 :, : w // 2] = mask_with
    if num == 2:
        out[:, : w // 2] = mask_with
    if num == 3:
        out[: h // 2, :] = mask_with
    inp = image.copy()
    inp[out != -1] = mask_with
    return inp, out


@pytest.mark.parametrize("num", [1, 2, 3])
@pytest.mark.parametrize("side", [28, 6])
def test_quadrant_masks_are_pyros(num, side):
    image = np.random.default_rng(num).random((side, side)).astype(np.float32)
    inp, out = pyro_mask_images(image, num)
    given = masks.named(f"q{num}", side, side)
    np.testing.assert_array_equal(given, inp != -1)  # given: Pyro's input pixels
    np.testing.assert_array_equal(~given, out != -1)  # hidden: the pixels it scores
    assert given.sum() == num * side * side // 4


def test_top_gives_the_top_half():
    given = masks.named("top")
    assert given[:14].all() and not given[14:].any()


def test_per_image_takes_names_one_mask_or_one_per_image():
    shape = (3, 28, 28)
    assert masks.per_image("q2", shape).shape == shape
    assert not masks.per_image(None, shape).any()
    each = np.random.default_rng(0).random(shape) > 0.5
    np.testing.assert_array_equal(masks.per_image(each, shape), each)
    with pytest.raises(
        ValueError, match=r"given \[28, 28\] or \[N, 28, 28\].*got shape \(14, 28\)"
    ):
        masks.per_image(np.ones((14, 28), bool), shape)
    with pytest.raises(ValueError, match="unknown mask 'q4'"):
        masks.per_image("q4", shape)
