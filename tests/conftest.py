"""Test setup: CPU only, strict numerics, shared fixtures."""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Two CPU devices for the data-parallel tests; one-device code runs on the first.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import toy_cell  # noqa: E402, F401  (registers a cell the library does not know)

from rnn_jax.training import train  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    return jax.random.key(0)


class Tiny:
    """Small shapes shared by the unit tests."""

    B, T, D, H = 2, 5, 3, 4


@pytest.fixture
def tiny():
    return Tiny


class Linear:
    """``y = x @ [1, -2, 0.5]``: a regression that any optimizer fits in a few steps."""

    @staticmethod
    def data(n=64, d=3, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, d)).astype(np.float32)
        return {"x": x, "y": (x @ np.array([1.0, -2.0, 0.5], np.float32)).astype(np.float32)}

    @staticmethod
    def loss_fn(params, batch, key):
        pred = batch["x"] @ params["w"]
        loss = jnp.mean((pred - batch["y"]) ** 2)
        return loss, {"mae": jnp.mean(jnp.abs(pred - batch["y"]))}

    @staticmethod
    def fresh_state(tx, seed=0):
        return train.init_state({"w": jnp.zeros((3,))}, tx, seed)


@pytest.fixture
def linear():
    return Linear


SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _data_folder(variable: str, default: Path) -> Path:
    """The folder ``$variable`` names, else ``default``; the test is skipped if it is missing."""
    folder = Path(os.environ.get(variable) or default)
    if not folder.is_dir():
        pytest.skip(f"no data at {folder} (set {variable})")
    return folder


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The four MNIST files: ``$RNN_JAX_TEST_MNIST``, else ``../shared/datasets/mnist``."""
    return _data_folder("RNN_JAX_TEST_MNIST", SHARED / "mnist")


@pytest.fixture(scope="session")
def vibration_dir() -> Path:
    """Vibration recordings: ``$RNN_JAX_TEST_VIBRATION``, else ``../shared/datasets/vibration``."""
    return _data_folder("RNN_JAX_TEST_VIBRATION", SHARED / "vibration")


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
    """One TFDS data directory per test session, so MNIST is prepared once."""
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture
def run_cli(request):
    """Run the experiment a test file mirrors (``test_X.py`` -> ``python -m experiments.X``)
    in a subprocess from the repository root; ``env`` adds environment variables."""
    module = "experiments." + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
            timeout=600,
        )

    return run
