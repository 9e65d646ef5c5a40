"""Load librosa so that numba compiles its kernels in one process at a time.

librosa's `guvectorize(cache=True)` kernels compile when their modules are imported. When two
processes compile them at once (the extraction pool's workers on a first run, tests starting
subprocesses), numba can write cache files that disagree with each other; every later process
that loads them then crashes with a segmentation fault (numba issue #10128). So the first
import happens under an exclusive file lock, and a marker says when the cache is complete;
after that, processes only read it and need no lock.
"""

from __future__ import annotations

import os
import sys
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


def _import_kernels_locked(lock_path: Path, marker: Path) -> None:
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): numba's race is rarer there; go on
        _import_kernels()
        marker.touch()
        return
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another process compiles
        try:
            _import_kernels()
            marker.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def kernels_ready() -> bool:
    """True once librosa's kernels are compiled into the cache (no long first-use wait)."""
    return _ready or (numba_cache_dir() / _marker_name()).exists()
