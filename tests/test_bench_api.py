"""The API load test's own measuring: a server's processor time counts its worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from evals.bench_api import processor_seconds

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\nprint('done', flush=True)\ntime.sleep(60)"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_processor_seconds_counts_a_process_and_its_children() -> None:
    before = processor_seconds(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        assert processor_seconds(child.pid) >= 0.5
        assert processor_seconds(os.getpid()) - before >= 0.5  # the child's time is the parent's too
        t = time.process_time()
        while time.process_time() - t < 0.2:
            pass
        assert processor_seconds(child.pid) < processor_seconds(os.getpid()) - before - 0.15  # and the parent's own
    finally:
        child.kill()
        child.wait()
    assert processor_seconds(2**22 + 1) == 0.0  # no such process
