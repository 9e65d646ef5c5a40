"""Feature extraction on a Dask distributed cluster (`--cluster tcp://host:8786`).

An executor for `extract_many` (see `_feature_batch.ExtractExecutor`): the parent keeps the
cache, progress, cancel and error values; the workers only compute. Each task carries the file's
bytes, so the workers need no shared folder, just this package's core (genre_desktop.core with
librosa): a worker writes the bytes to a private temporary folder under the song's own file
name, so its features and error messages are exactly what the local pool gives.

Dask is optional (`pip install 'genre-desktop[cluster]'`); without it a clear error says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from genre_desktop.core.types import SongError, SongFeatures

Result = SongFeatures | SongError


class ClusterError(RuntimeError):
    """The cluster cannot be reached or used (not installed, wrong address, no workers)."""


def _extract_bytes(name: str, data: bytes, digest: str, max_seconds: float | None,
                   window_s: float) -> Result:
    """Runs on a Dask worker: the song's bytes in, its features or error value out."""
    from genre_desktop.core._feature_batch import _warm_worker_once
    from genre_desktop.core.features import extract_song

    _warm_worker_once()
    folder = tempfile.mkdtemp(prefix="genre-desktop-")
    try:
        local = os.path.join(folder, name)
        with open(local, "wb") as fh:
            fh.write(data)
        return extract_song(local, max_seconds=max_seconds, window_s=window_s,
                            use_cache=False, content_hash=digest)
    finally:
        shutil.rmtree(folder, ignore_errors=True)




class DaskCluster:
    """An `ExtractExecutor` over `dask.distributed.Client(address)`; close() when done."""

    def __init__(self, address: str, *, timeout_s: float = 30.0,
                 lost_after_s: float = 120.0) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ClusterError(
                "A Dask cluster needs dask.distributed: pip install 'genre-desktop[cluster]'."
            ) from exc
        self.address = address
        try:
            self.client: Any = Client(address, timeout=timeout_s)
        except Exception as exc:  # OSError, TimeoutError, a bad address, ...
            raise ClusterError(f"Cannot connect to the Dask cluster at {address}: "
                               f"{type(exc).__name__}: {exc}") from exc
        self._executor = self.client.get_executor(pure=False)
        # Workers that die are restarted by their nanny within seconds; a cluster without any
        # for this long (workers started with --no-nanny, all gone) will run nothing more.
        self.lost_after_s = lost_after_s
        self._checked_at = 0.0
        self._empty_since: float | None = None
        self._threads = self._count_threads()
        if self._threads < 1:
            self.close()
            raise ClusterError(f"The Dask cluster at {address} has no workers.")

    def _count_threads(self) -> int:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return sum(int(w.get("nthreads", 1)) for w in workers.values())

    @property
    def slots(self) -> int:
        return 2 * self._threads

    def lost(self) -> str | None:
        """A sentence once the cluster has had no worker for `lost_after_s` (checked every 2 s
        while songs wait), else None."""
        now = time.monotonic()
        if now - self._checked_at < 2.0:
            return None
        self._checked_at = now
        try:
            workers = self._count_threads()
        except Exception:  # the scheduler itself is gone: as good as no workers
            workers = 0
        if workers:
            self._empty_since = None
            return None
        if self._empty_since is None:
            self._empty_since = now
        if now - self._empty_since < self.lost_after_s:
            return None
        return (f"The Dask cluster at {self.address} has had no workers for "
                f"{self.lost_after_s:.0f} s; this song was not analysed. Start workers and "
                f"run again (finished songs are kept).")

    def submit(self, path: str, digest: str, max_seconds: float | None,
               window_s: float) -> Future[Result]:
        try:
            data = Path(path).read_bytes()
        except OSError:
            # Missing, a folder, unreadable: answered here, in load_audio's own words.
            from genre_desktop.core.features import extract_song

            done: Future[Result] = Future()
            done.set_result(extract_song(path, max_seconds=max_seconds, window_s=window_s,
                                         use_cache=False, content_hash=digest))
            return done
        # The worker sees a temporary copy; extract_many puts the real path back.
        return self._executor.submit(
            _extract_bytes, Path(path).name, data, digest, max_seconds, window_s)

    def close(self) -> None:
        try:
            self._executor.shutdown(wait=False)
        finally:
            self.client.close()

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_executor(cluster: str | None) -> DaskCluster | None:
    """The executor a `cluster` setting names: None for the local pool."""
    return DaskCluster(cluster) if cluster else None
