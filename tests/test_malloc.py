"""keep_freed_memory: a large buffer freed and allocated again is not page-faulted in again."""

import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import numpy as np
from rnn_jax.malloc import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
np.ones(1 << 24)  # 128 MiB: far above glibc's largest mmap threshold (32 MiB)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    np.ones(1 << 24)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_memory_is_reused_without_page_faults():
    # Each 128 MiB buffer is at least 64 faults if mapped anew, even in 2 MiB huge pages.
    assert faults("default") >= 5 * 64  # glibc maps each buffer anew
    assert faults("keep") < 64  # reused: not even one buffer's worth
