"""The fused layers' time loops as a compiled CPU kernel (``lstm.cc``, ``gru.cc``,
``rnn.cc`` over ``common.h``), built at first use.

XLA:CPU runs a scanned recurrent step as a chain of small operations, mostly on
one core. The kernel runs every step of a forward or backward loop in one call,
with the batch split over XLA's intra-op threads (batch rows never interact, so
the threads run without synchronising). It is compiled once per machine with
the system C++ compiler against the XLA FFI headers that jaxlib ships, and
cached; without a compiler :func:`available` is False and the layers keep
XLA's loops. ``RNN_JAX_CPU_KERNEL=0`` turns it off.
"""

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib

_HERE = Path(__file__).parent
_SOURCES = [_HERE / name for name in ("lstm.cc", "gru.cc", "rnn.cc")]
_HEADERS = [_HERE / "common.h"]
_TARGETS = {  # XLA custom-call target -> the handler's symbol in the library
    "rnn_jax_lstm_forward": "RnnJaxLstmForward",
    "rnn_jax_lstm_backward": "RnnJaxLstmBackward",
    "rnn_jax_lstm_infer": "RnnJaxLstmInfer",
    "rnn_jax_gru_forward": "RnnJaxGruForward",
    "rnn_jax_gru_backward": "RnnJaxGruBackward",
    "rnn_jax_gru_reset_after_forward": "RnnJaxGruResetAfterForward",
    "rnn_jax_gru_reset_after_backward": "RnnJaxGruResetAfterBackward",
    "rnn_jax_rnn_tanh_forward": "RnnJaxRnnTanhForward",
    "rnn_jax_rnn_tanh_backward": "RnnJaxRnnTanhBackward",
    "rnn_jax_rnn_relu_forward": "RnnJaxRnnReluForward",
    "rnn_jax_rnn_relu_backward": "RnnJaxRnnReluBackward",
}


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("RNN_JAX_CACHE", Path(root) / "rnn_jax"))


def _cpu_flags() -> str:
    """The CPU's feature flags: the library is built for this CPU (``-march=native``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _build() -> Path:
    """Compile the kernel (or reuse a cached build for these sources, jaxlib and CPU)."""
    sources = b"".join(path.read_bytes() for path in _SOURCES + _HEADERS)
    key = hashlib.sha256(sources + jaxlib.__version__.encode() + _cpu_flags().encode()).hexdigest()[
        :16
    ]
    lib = _cache_dir() / f"fused_cpu-{key}.so"
    if lib.exists():
        return lib
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX, or install g++)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        out = Path(tmp) / lib.name
        cmd = [cxx, "-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-Wno-psabi"]
        cmd += ["-isystem", jax.ffi.include_dir(), *map(str, _SOURCES), "-o", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        os.replace(out, lib)  # atomic: a concurrent build or a crash leaves no half file
    return lib


@functools.cache
def available() -> bool:
    """Whether the kernel is built and registered with XLA; False (warned once) if not."""
    if os.environ.get("RNN_JAX_CPU_KERNEL", "1") == "0":
        return False
    try:
        lib = ctypes.cdll.LoadLibrary(str(_build()))
    except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
        detail = str(getattr(err, "stderr", "") or err).strip()[-500:]  # the compiler's last words
        warnings.warn(f"rnn_jax: CPU kernel not built, using XLA's loops ({detail})")
        return False
    for target, symbol in _TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), "cpu")
    return True


def use_kernel(xs: jax.Array) -> bool:
    """Whether a fused layer's time loops run in the kernel: float32 on a CPU, when built."""
    return (
        xs.dtype == jnp.float32
        and xs.shape[0] > 0
        and jax.default_backend() == "cpu"
        and available()
    )


def call(
    target: str,
    results: tuple[jax.Array | jax.ShapeDtypeStruct, ...],
    *operands: jax.Array,
    aliases: dict[int, int] | None = None,
) -> tuple[jax.Array, ...]:
    """Run the kernel's handler ``target`` on ``operands``: ``results`` shaped and typed
    like the given arrays or ``jax.ShapeDtypeStruct``\ s.

    ``aliases`` maps an operand to the result it may be overwritten by (XLA copies it
    first where it is still needed). Under ``jax.vmap`` every operand and result gets a
    leading member axis, which the handler runs as one call (all members' rows split
    over the threads).
    """
    shapes = tuple(jax.ShapeDtypeStruct(r.shape, r.dtype) for r in results)
    run = jax.ffi.ffi_call(
        target, shapes, input_output_aliases=aliases or {}, vmap_method="broadcast_all"
    )
    return tuple(run(*operands))
