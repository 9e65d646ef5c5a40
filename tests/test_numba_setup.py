"""librosa's numba kernels are compiled by one process at a time (numba issue #10128)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from genre_desktop.core import numba_setup

CHILD = (
    "from genre_desktop.core.numba_setup import ensure_librosa\n"
    "import numpy as np\n"
    "librosa = ensure_librosa()\n"
    "print(int(librosa.util.localmax(np.arange(8, dtype=np.float32)).sum()))\n"
)


def test_a_second_process_waits_for_the_compile_lock(tmp_path: Path) -> None:
    # Start from this session's compiled kernels (fast to load) but without the marker, as a
    # process would find a cache that another one is still writing.
    source = numba_setup.numba_cache_dir()
    cache = tmp_path / "numba"
    shutil.copytree(source, cache, ignore=shutil.ignore_patterns(".kernels-ready-*", "*.lock"))
    marker = cache / numba_setup._marker_name()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}

    with open(cache / ".compile.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True
        )
        time.sleep(3.0)
        blocked = child.poll() is None and not marker.exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
        out, _ = child.communicate(timeout=300)

    assert blocked, "the child did not wait for the compile lock"
    assert child.returncode == 0
    assert out.strip() == "1"  # one local maximum, at the end of a rising ramp
    assert marker.exists()


def test_with_the_marker_no_lock_is_taken(tmp_path: Path) -> None:
    source = numba_setup.numba_cache_dir()
    cache = tmp_path / "numba"
    shutil.copytree(source, cache, ignore=shutil.ignore_patterns("*.lock"))
    (cache / numba_setup._marker_name()).touch()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    with open(cache / ".compile.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            out = subprocess.run(
                [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                timeout=300,
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
