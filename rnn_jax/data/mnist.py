"""MNIST through tensorflow-datasets' standard ``mnist`` builder, as numpy arrays.

With internet access TFDS downloads MNIST as usual. Offline, a folder holding
the four official files is handed to TFDS as its ``manual_dir`` (TFDS looks
there before the network), given by ``data_dir`` (the ``--data-dir`` flag) or
the ``RNN_JAX_MNIST_DIR`` environment variable. Prepared data is cached in the
TFDS data directory (``$TFDS_DATA_DIR``, default ``~/tensorflow_datasets``).
"""

import contextlib
import hashlib
import io
import os
import socket
import sys
from pathlib import Path

import numpy as np

from rnn_jax.errors import ConfigError, UserError

ENV_VAR = "RNN_JAX_MNIST_DIR"
# The official files: size in bytes and SHA-256 (the checksums TFDS verifies).
CHECKSUMS = {
    "train-images-idx3-ubyte.gz": (
        9912422,
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels-idx1-ubyte.gz": (
        28881,
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "t10k-images-idx3-ubyte.gz": (
        1648877,
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        4542,
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}
FILES = tuple(CHECKSUMS)
HOW_TO = (
    "MNIST is not prepared and cannot be downloaded (no internet access?). Put the four "
    f"official files ({', '.join(FILES)}) in a folder and pass it with --data-dir DIR or "
    f"the environment variable {ENV_VAR}=DIR; TFDS then prepares MNIST from them offline."
)


class DataUnavailableError(UserError, RuntimeError):
    """The data set cannot be found locally nor downloaded."""


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """Whether TFDS's MNIST host answers; checked first so offline fails in seconds, not minutes."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _check_manual_dir(folder: Path) -> None:
    if not folder.is_dir():
        raise DataUnavailableError(f"MNIST folder {folder} does not exist. {HOW_TO}")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise DataUnavailableError(f"MNIST folder {folder} lacks {', '.join(missing)}. {HOW_TO}")


def _check_files(folder: Path) -> None:
    """Size and SHA-256 of each file, before TFDS prepares from them (it would stop with a
    checksum traceback that does not say which file is bad)."""
    bad = []
    for name, (size, sha256) in CHECKSUMS.items():
        data = (folder / name).read_bytes()
        if len(data) != size:
            bad.append(f"{name} ({len(data)} bytes, expected {size}: truncated?)")
        elif hashlib.sha256(data).hexdigest() != sha256:
            bad.append(f"{name} (its SHA-256 is not the official file's)")
    if bad:
        raise DataUnavailableError(
            f"MNIST folder {folder} holds damaged files: {'; '.join(bad)}. Copy or download "
            "the official files again (whole) into that folder, then rerun."
        )


def _quiet_tfds():
    """TensorFlow and TFDS, imported without their start-up logs and progress bars."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ info and warnings
    # oneDNN's start-up notice prints at any log level; TensorFlow only decodes uint8 images.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import absl.logging
    import tensorflow as tf
    import tensorflow_datasets as tfds

    absl.logging.set_verbosity(absl.logging.ERROR)  # e.g. "no dataset_info.json"
    tfds.disable_progress_bar()
    return tf, tfds


def load(data_dir: str | None = None, *, tfds_dir: str | None = None) -> dict[str, np.ndarray]:
    """Train and test images ``uint8 [N, 28, 28]`` and labels ``int32 [N]``.

    Args:
      data_dir: folder with the four official files (else ``$RNN_JAX_MNIST_DIR``,
        else download).
      tfds_dir: TFDS data directory where the prepared data set is cached.

    Returns:
      ``{"train_images", "train_labels", "test_images", "test_labels"}``.

    Raises:
      DataUnavailableError: with the files needed and how to pass them.
    """
    manual = data_dir or os.environ.get(ENV_VAR)
    if manual:
        _check_manual_dir(Path(manual).expanduser())
    tf, tfds = _quiet_tfds()
    tf.config.set_visible_devices([], "GPU")  # keep the GPU for JAX
    builder = tfds.builder("mnist", data_dir=tfds_dir)
    if not builder.is_prepared():
        if manual:
            _check_files(Path(manual).expanduser())
            print(f"preparing MNIST from {manual}, once (into {builder.data_dir})", file=sys.stderr)
            config = tfds.download.DownloadConfig(manual_dir=str(Path(manual).expanduser()))
            with contextlib.redirect_stdout(io.StringIO()):  # TFDS's "Downloading ..." line
                builder.download_and_prepare(download_config=config)
        elif not _online():
            raise DataUnavailableError(HOW_TO)
        else:
            print(f"downloading MNIST, once (into {builder.data_dir})", file=sys.stderr)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    builder.download_and_prepare()
            except OSError as err:  # requests' ConnectionError is an OSError
                raise DataUnavailableError(f"{HOW_TO} (download failed: {err})") from None
    out = {}
    for split, name in (("train", "train"), ("test", "test")):
        ds = tfds.as_numpy(builder.as_dataset(split=name, batch_size=-1))
        out[f"{split}_images"] = ds["image"][..., 0]
        out[f"{split}_labels"] = ds["label"].astype(np.int32)
    return out


def pixels(images):
    """uint8 images -> float32 in [0, 1]; float images are taken as already in [0, 1].

    Works on numpy and JAX arrays alike (inside jit too).
    """
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    return images.astype(np.float32)


def binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """uint8 images with each pixel on (255) with its intensity's probability, off (0)
    otherwise: stochastic binarization, fixed by ``seed``."""
    draw = np.random.default_rng(seed).random(images.shape, np.float32)
    return np.where(draw < images / np.float32(255.0), 255, 0).astype(np.uint8)


def split_validation(
    images: np.ndarray, labels: np.ndarray, val_size: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A fixed, seeded hold-out of ``val_size`` training examples: ``(train, val)``."""
    if not 0 < val_size < len(images):
        raise ConfigError(f"val_size must be in (0, {len(images)}), got {val_size}")
    perm = np.random.default_rng(seed).permutation(len(images))
    val, train = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    return (images[train], labels[train]), (images[val], labels[val])


def splits(
    data_dir: str | None, *, val_size: int, seed: int, synthetic_size: int = 0
) -> dict[str, dict[str, np.ndarray]]:
    """``{"train", "val", "test"}`` splits of ``{"image", "label"}`` arrays.

    The validation split is a fixed, seeded hold-out of the training set, at most a
    fifth of it (more is a :class:`ConfigError`). With ``synthetic_size`` the data are
    :func:`synthetic` instead, and the hold-out is cut to a fifth of them.
    """
    if synthetic_size:
        images, labels = synthetic(synthetic_size, seed=seed)
        test_images, test_labels = synthetic(max(synthetic_size // 4, 10), seed=seed + 1)
    else:
        raw = load(data_dir)
        images, labels = raw["train_images"], raw["train_labels"]
        test_images, test_labels = raw["test_images"], raw["test_labels"]
    most = len(images) // 5
    if val_size > most and not synthetic_size:
        raise ConfigError(
            f"a validation split of {val_size} images is more than a fifth of the "
            f"{len(images)} training images; hold out at most {most}"
        )
    val_size = min(val_size, most) or 1  # synthetic smoke-test data are small
    (tr_x, tr_y), (va_x, va_y) = split_validation(images, labels, val_size, seed)
    return {
        "train": {"image": tr_x, "label": tr_y},
        "val": {"image": va_x, "label": va_y},
        "test": {"image": test_images, "label": test_labels},
    }


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tiny learnable stand-in data for tests: each class is a bright horizontal bar
    at its own rows (plus noise), so a row-by-row model can tell them apart."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 + 2 * c : 4 + 2 * c, 4:24] = 255
    return images, labels
