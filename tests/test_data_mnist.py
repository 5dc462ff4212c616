"""MNIST loading: clear errors offline, the validation split, and real files (slow)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn_jax.data import mnist
from rnn_jax.errors import ConfigError


@pytest.mark.slow
def test_offline_without_files_says_how_to_pass_them(tmp_path, monkeypatch):
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    monkeypatch.setattr(mnist, "_online", lambda: False)
    with pytest.raises(mnist.DataUnavailableError) as err:
        mnist.load(tfds_dir=str(tmp_path))
    msg = str(err.value)
    assert "--data-dir" in msg and mnist.ENV_VAR in msg
    assert all(name in msg for name in mnist.FILES)


def test_env_var_folder_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv(mnist.ENV_VAR, str(tmp_path))
    with pytest.raises(mnist.DataUnavailableError, match="lacks train-images-idx3-ubyte.gz"):
        mnist.load(tfds_dir=str(tmp_path / "tfds"))


@pytest.mark.slow
def test_damaged_files_name_each_bad_file(tmp_path, monkeypatch):
    """Truncated or altered copies stop before TFDS, whose checksum error names no file."""
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, (size, _) in mnist.CHECKSUMS.items():
        (folder / name).write_bytes(b"\x1f\x8b" + bytes(min(size, 4096) - 2))  # cut short
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(4542))  # right size, wrong bytes
    with pytest.raises(mnist.DataUnavailableError) as err:
        mnist.load(str(folder), tfds_dir=str(tmp_path / "tfds"))
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz (4096 bytes, expected 9912422: truncated?)" in msg
    assert "t10k-labels-idx1-ubyte.gz (its SHA-256 is not the official file's)" in msg
    assert "download the official files again" in msg


def test_pixels_of_uint8_and_floats():
    out = mnist.pixels(np.array([[0, 255]], np.uint8))
    assert out.dtype == np.float32 and out.tolist() == [[0.0, 1.0]]
    assert mnist.pixels(np.array([0.5], np.float64)).dtype == np.float32


def test_validation_split_is_fixed_and_disjoint():
    images, labels = mnist.synthetic(100)
    (tr_x, tr_y), (va_x, va_y) = mnist.split_validation(images, labels, 20, seed=0)
    (tr_x2, _), (va_x2, _) = mnist.split_validation(images, labels, 20, seed=0)
    np.testing.assert_array_equal(va_x, va_x2)
    assert len(tr_x) == 80 and len(va_x) == 20
    seen = {x.tobytes() for x in tr_x}
    assert not any(x.tobytes() in seen for x in va_x)
    with pytest.raises(ValueError, match="val_size must be in"):
        mnist.split_validation(images, labels, 100, seed=0)


@pytest.mark.slow
def test_real_files_through_tfds_manual_dir(tfds_dir, mnist_dir):
    data = mnist.load(str(mnist_dir), tfds_dir=str(tfds_dir))
    assert data["train_images"].shape == (60000, 28, 28)
    assert data["test_images"].shape == (10000, 28, 28)
    assert data["train_images"].dtype == np.uint8 and data["test_labels"].dtype == np.int32
    assert np.bincount(data["test_labels"]).tolist()[:3] == [980, 1135, 1032]


@pytest.mark.slow
def test_preparing_says_one_line_of_its_own(tmp_path, mnist_dir):
    """A fresh process shows neither TensorFlow's start-up logs nor TFDS's download lines."""
    load = f"mnist.load({str(mnist_dir)!r}, tfds_dir={str(tmp_path)!r})"
    code = f"from rnn_jax.data import mnist; {load}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={
        **os.environ, "JAX_PLATFORMS": "cpu"}, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == f"preparing MNIST from {mnist_dir}, once (into {tmp_path}/mnist/3.0.1)\n"


def test_a_validation_split_over_a_fifth_of_real_data_is_refused(monkeypatch):
    images, labels = mnist.synthetic(1000)
    fake = {"train_images": images, "train_labels": labels}
    monkeypatch.setattr(mnist, "load", lambda data_dir: {**fake, "test_images": images[:10],
                                                         "test_labels": labels[:10]})  # fmt: skip
    assert len(mnist.splits("dir", val_size=200, seed=0)["val"]["label"]) == 200
    with pytest.raises(ConfigError, match="more than a fifth of the 1000 training images"):
        mnist.splits("dir", val_size=201, seed=0)
