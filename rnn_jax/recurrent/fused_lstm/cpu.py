"""The LSTM time loops as a compiled CPU kernel (``lstm_cpu.cc``), built at first use.

XLA:CPU runs a scanned LSTM step as a chain of small operations, mostly on one
core. The kernel runs every step of the forward or backward loop in one call,
with the batch split over XLA's intra-op threads (batch rows never interact, so
the threads run without synchronising). It is compiled once per machine with
the system C++ compiler against the XLA FFI headers that jaxlib ships, and
cached; without a compiler :func:`available` is False and callers keep the
pure-XLA loops. ``RNN_JAX_CPU_KERNEL=0`` turns it off.
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
import jaxlib

_SOURCE = Path(__file__).with_name("lstm_cpu.cc")
_TARGETS = {  # XLA custom-call target -> the handler's symbol in the library
    "rnn_jax_lstm_forward": "RnnJaxLstmForward",
    "rnn_jax_lstm_backward": "RnnJaxLstmBackward",
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
    """Compile the kernel (or reuse a cached build for this source, jaxlib and CPU)."""
    key = hashlib.sha256(
        _SOURCE.read_bytes() + jaxlib.__version__.encode() + _cpu_flags().encode()
    ).hexdigest()[:16]
    lib = _cache_dir() / f"lstm_cpu-{key}.so"
    if lib.exists():
        return lib
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX, or install g++)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        out = Path(tmp) / lib.name
        cmd = [cxx, "-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-Wno-psabi"]
        cmd += ["-isystem", jax.ffi.include_dir(), str(_SOURCE), "-o", str(out)]
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
        warnings.warn(f"rnn_jax: CPU LSTM kernel not built, using XLA's loops ({detail})")
        return False
    for target, symbol in _TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), "cpu")
    return True


def forward(
    xw: jax.Array, wh: jax.Array, b: jax.Array, h0: jax.Array, c0: jax.Array, lengths: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(gates, hs, cs)``: gate activations [T, B, 4H] and h, c [T, B, H] of every step.

    ``xw`` [T, B, 4H] is ``x_t W_x`` for all steps (without the bias ``b``); past a
    row's length (``lengths`` [B] int32) its h and c stay as they were. Under
    ``jax.vmap`` every operand and result gets a leading member axis, which the kernel
    runs as one call (all members' rows split over the threads).
    """
    t_len, batch, g4 = xw.shape
    out = jax.ShapeDtypeStruct
    call = jax.ffi.ffi_call(
        "rnn_jax_lstm_forward",
        (
            out(xw.shape, xw.dtype),
            out((t_len, batch, g4 // 4), xw.dtype),
            out((t_len, batch, g4 // 4), xw.dtype),
        ),
        input_output_aliases={0: 0},  # gates overwrite xw where XLA can spare it
        vmap_method="broadcast_all",  # the kernel takes a leading member axis
    )
    return call(xw, wh, b, h0, c0, lengths)


def backward(
    gates: jax.Array,
    cs: jax.Array,
    c0: jax.Array,
    wh: jax.Array,
    dys: jax.Array,
    dh_last: jax.Array,
    dc_last: jax.Array,
    lengths: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(dz, dh0, dc0)``: gate pre-activation gradients [T, B, 4H] and the initial carry's
    (zero ``dz`` past a row's length, where ``dh`` and ``dc`` pass through)."""
    out = jax.ShapeDtypeStruct
    call = jax.ffi.ffi_call(
        "rnn_jax_lstm_backward",
        (out(gates.shape, gates.dtype), out(c0.shape, c0.dtype), out(c0.shape, c0.dtype)),
        input_output_aliases={0: 0},  # dz overwrites the gates
        vmap_method="broadcast_all",  # the kernel takes a leading member axis
    )
    return call(gates, cs, c0, wh, dys, dh_last, dc_last, lengths)
