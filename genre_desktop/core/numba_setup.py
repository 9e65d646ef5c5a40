"""Load librosa so that numba compiles its kernels in one process at a time.

librosa's `guvectorize(cache=True)` kernels compile when their modules are imported. When two
processes compile them at once (the extraction pool's workers on a first run, tests starting
subprocesses), numba can write cache files that disagree with each other; every later process
that loads them then crashes with a segmentation fault (numba issue #10128). So the first
import happens under an exclusive file lock, and a marker says when the cache is complete;
after that, processes only read it and need no lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

from genre_desktop.core.resources import cache_dir

# Modules holding librosa's guvectorize kernels (compiled at import time).
_KERNEL_MODULES = ("librosa.util.utils", "librosa.core.audio", "librosa.core.pitch", "librosa.beat")
_ready = False


def numba_cache_dir() -> Path:
    """Where numba keeps compiled kernels: NUMBA_CACHE_DIR, set to our cache folder if unset.

    Only effective before numba is imported; later processes (pool workers) inherit it.
    """
    if "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
    path = Path(os.environ.get("NUMBA_CACHE_DIR") or cache_dir() / "numba")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _marker_name() -> str:
    parts = []
    for dist in ("numba", "librosa"):
        try:
            parts.append(f"{dist}-{version(dist)}")
        except PackageNotFoundError:  # frozen builds may lack the metadata
            parts.append(f"{dist}-unknown")
    parts.append(f"py{sys.version_info.major}{sys.version_info.minor}")
    return ".kernels-ready-" + "-".join(parts)


def _import_kernels() -> None:
    import importlib

    for name in _KERNEL_MODULES:
        importlib.import_module(name)


def ensure_librosa() -> ModuleType:
    """Import librosa with its numba kernels loaded safely; cheap after the first call."""
    global _ready
    if not _ready:
        folder = numba_cache_dir()
        marker = folder / _marker_name()
        if marker.exists():
            _import_kernels()
        else:
            _import_kernels_locked(folder / ".compile.lock", marker)
        _ready = True
    import librosa

    return librosa


@contextlib.contextmanager
def _compile_lock(lock_path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): numba's race is rarer there; go on
        yield
        return
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another process compiles
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _import_kernels_locked(lock_path: Path, marker: Path) -> None:
    with _compile_lock(lock_path):
        _import_kernels()
        marker.touch()


def warm_kernels() -> bool:
    """Compile every kernel the feature code uses, as `make venv` does: librosa's import-time
    kernels and the ones compiled on first call (one tiny signal through the features), all
    under the compile lock, so a run started meanwhile waits instead of compiling alongside.
    For a first start without `make venv` (the frozen app). False when already compiled."""
    global _ready
    folder = numba_cache_dir()
    marker = folder / _marker_name()
    if marker.exists():
        return False
    with _compile_lock(folder / ".compile.lock"):
        if marker.exists():  # another process finished while we waited
            return False
        _import_kernels()
        _ready = True  # ensure_librosa() must not take the lock again (it is ours)
        import numpy as np

        from genre_desktop.core.features import features_from_signal

        features_from_signal(np.zeros(22050, dtype=np.float32))
        marker.touch()
    return True


def kernels_cached() -> bool:
    """True when the cache folder holds compiled kernels (whatever this process has loaded)."""
    return (numba_cache_dir() / _marker_name()).exists()


def kernels_ready() -> bool:
    """True once librosa's kernels are compiled into the cache (no long first-use wait)."""
    return _ready or kernels_cached()
