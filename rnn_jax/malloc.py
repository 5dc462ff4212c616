"""Keep freed memory in the process: no page faults for XLA:CPU's per-call scratch buffers.

XLA:CPU allocates each call's scratch space afresh with ``malloc``. Above 32 MB
glibc serves that with a new ``mmap`` and unmaps it on ``free``, so every call
page-faults its scratch space in again, 4 KiB at a time: about 10,000 faults
and 23 ms of kernel time per ``experiments.mnist_gen`` train step (39 MB of
scratch). Told to never ``mmap`` and never trim, glibc reuses the memory.
"""

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` keep freed memory for reuse; ``False`` where it is not glibc.

    Process-wide and for good: memory freed after a peak is not given back to
    the system until the process ends. Entry points call it, never the library.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
