"""What a serving process changes in its defaults: BLAS runs on one thread, and the memory of a
model call's freed arrays is kept for the next call instead of being handed back to the kernel
and faulted in again, page by page."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# In the main thread and in a worker thread (which has a heap of its own): fill 48 MB of 64 KB
# arrays, free them all, and count the page faults of filling them again: none when the freed
# memory was kept, one per page (~12,000) when glibc trimmed it off the heap, as it does by
# default once more than twice its mmap threshold lies free at the heap's top.
PROGRAM = """
import resource, threading
import numpy as np
from threadpoolctl import threadpool_info
from mlengine.serving.server import prepare_process

prepare_process()
print(max(pool["num_threads"] for pool in threadpool_info()))

def refill_faults():
    arrays = [np.ones(16 << 10, np.float32) for _ in range(768)]
    del arrays
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(16 << 10, np.float32) for _ in range(768)]
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

refill_faults()
thread = threading.Thread(target=refill_faults)
thread.start()
thread.join()
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_prepared_process_keeps_freed_memory_and_runs_blas_on_one_thread() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    threads, main_faults, worker_faults = map(int, done.stdout.split())
    assert threads == 1
    assert main_faults < 500 and worker_faults < 500  # 12,288 pages were reused
