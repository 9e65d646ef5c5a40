"""Many files at once: a process pool, results as they finish, progress, cancel, the cache.

The work goes to an executor: the local process pool (`LocalPool`, the default) or a Dask
cluster (`genre_desktop.core.dask_cluster.DaskCluster`); both hand back concurrent.futures
Futures, so progress, cancel, the cache and error values are the same code for both.

Only the parent process touches the SQLite cache (one writer, no lock contention); workers just
compute. Errors are values: a bad file, or even a crashed worker, becomes a SongError and the
batch goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Protocol

from genre_desktop.core.types import CancelFlag, SongError, SongFeatures

Result = SongFeatures | SongError
Progress = Callable[[int, int], None]
_DEFAULT_MAX = 600.0  # features.DEFAULT_MAX_SECONDS (not imported: avoids an import cycle)


class ExtractExecutor(Protocol):
    """Where extraction runs: `submit` one file, get a Future of its Result."""

    @property
    def slots(self) -> int:  # tasks kept in flight: every worker busy plus one queued each
        ...

    def submit(self, path: str, digest: str, max_seconds: float | None,
               window_s: float) -> Future[Result]: ...

    # Optional: `lost() -> str | None`, a sentence once the executor can no longer run
    # anything (a cluster left without workers); the songs still waiting get it as their error.


def _pool_context() -> mp.context.BaseContext:
    # fork after Qt or other threads have started is unsafe; a forkserver that has already
    # imported the extractor starts workers fast. Frozen builds and other systems use spawn.
    if sys.platform.startswith("linux") and not getattr(sys, "frozen", False):
        ctx = mp.get_context("forkserver")
        # librosa is imported once in the server, so each forked worker starts with it loaded.
        ctx.set_forkserver_preload(["genre_desktop.core.features", "librosa"])
        return ctx
    return mp.get_context("spawn")


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker as soon as the process that made the pool is gone.

    The worker's own parent is the forkserver, and the forkserver (and the resource tracker)
    only exit once every worker has: without this, a killed run leaves them all under PID 1,
    holding its stdout. A pidfd says exactly when the parent ends (no pid reuse); where there is
    none, the parent is polled.
    """
    def watch() -> None:
        try:
            fd = os.pidfd_open(parent_pid)
        except ProcessLookupError:
            os._exit(1)
        except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll instead
            while True:
                try:
                    os.kill(parent_pid, 0)
                except ProcessLookupError:
                    os._exit(1)
                except PermissionError:
                    pass  # the pid exists (another user's process after reuse is unlikely)
                threading.Event().wait(1.0)
        import select

        select.select([fd], [], [])  # readable when the process has ended
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _warm_worker(parent_pid: int | None = None) -> None:
    import numpy as np

    from genre_desktop.core.features import _prepare_numba_cache, features_from_signal

    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    if threading.current_thread() is threading.main_thread():  # (Dask runs tasks in threads)
        # Ctrl+C reaches the whole process group: the run decides what stops, not each worker.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prepare_numba_cache()
    try:  # one BLAS thread per worker: the workers already fill the cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    # Load numba's compiled kernels and the filter banks before the first song arrives.
    features_from_signal(np.zeros(22050, dtype=np.float32), 22050)
    from genre_desktop.core.features import tag_song

    tag_song(np.zeros(22050, dtype=np.float32), 22050)  # reads the tagger weights once


_WARM = False


def _warm_worker_once() -> None:
    """For executors without an initializer (Dask workers): warm up on the first task."""
    global _WARM
    if not _WARM:
        _warm_worker()
        _WARM = True


def _work(path: str, digest: str, max_seconds: float | None, window_s: float) -> Result:
    from genre_desktop.core.features import extract_song

    return extract_song(
        path, max_seconds=max_seconds, window_s=window_s, use_cache=False, content_hash=digest
    )


def extract_many(
    paths: Iterable[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    cancel: CancelFlag | None = None,
    max_seconds: float | None = _DEFAULT_MAX,
    window_s: float = 30.0,
    use_cache: bool = True,
    executor: ExtractExecutor | None = None,
) -> Iterator[tuple[str, Result]]:
    """Yield (path, SongFeatures | SongError) for each path as results finish.

    `workers` processes (default: the CPU count; 1 runs in this process) unless an `executor`
    (e.g. a Dask cluster) is given; `progress(done, total)` after each result; once
    `cancel.is_set()` no new file starts and the iterator ends.
    A local pool started here (and its forkserver) lives only as long as the iterator: it
    is shut down when the iterator ends or is closed (each worker holds ~0.3 GB).
    """
    from genre_desktop.core.cache import FeatureCache
    from genre_desktop.core.features import (
        EXTRACTOR_VERSION,
        _content_hash,
        _prepare_numba_cache,
        cache_settings,
        tagger_version,
    )

    _prepare_numba_cache()  # before the pool starts, so workers share the compiled kernels
    todo = [os.fspath(p) for p in paths]
    total = len(todo)
    done = 0
    settings = cache_settings(max_seconds, window_s)
    tagger = tagger_version()  # the tagger runs in the same workers, cached in its own rows
    cache = FeatureCache() if use_cache else None

    def finish(path: str, result: Result) -> tuple[str, Result]:
        nonlocal done
        done += 1
        if cache is not None and isinstance(result, SongFeatures) and result.content_hash:
            cache.put(result, EXTRACTOR_VERSION, settings, tagger)
        if progress is not None:
            progress(done, total)
        return path, result

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    try:
        pending: list[tuple[str, str]] = []
        for path in todo:
            if cancelled():
                return
            digest = _content_hash(path)
            hit = (cache.get(digest, EXTRACTOR_VERSION, settings, tagger)
                   if cache and digest else None)
            if hit is not None:
                hit.path = path
                done += 1
                if progress is not None:
                    progress(done, total)
                yield path, hit
            else:
                pending.append((path, digest))

        if not pending:
            return
        if executor is not None:  # the caller's (a Dask cluster): theirs to close
            yield from _run_pool(pending, executor, max_seconds, window_s, finish, cancelled)
            return
        # Never more processes than cores: 512 asked meant 50 processes and 3 GiB, no faster.
        n_workers = min(workers or _cores(), _cores(), len(pending))
        if n_workers <= 1:
            for path, digest in pending:
                if cancelled():
                    return
                yield finish(path, _work(path, digest, max_seconds, window_s))
            return
        complete = False
        try:
            yield from _run_pool(pending, LocalPool(n_workers), max_seconds, window_s, finish,
                                 cancelled)
            complete = not cancelled()
        finally:
            # Cancelled or closed early: stop the workers now rather than wait for their song.
            shutdown_pool(now=not complete)
    finally:
        if cache is not None:
            cache.close()


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the cores this process may use
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0
_FORKSERVER_BEFORE = -1  # the forkserver's pid when our pool started: -1 unknown, 0 none


def shared_pool(n_workers: int) -> ProcessPoolExecutor:
    """The worker pool, started once and kept: starting one costs seconds (imports, kernels)."""
    global _POOL, _POOL_SIZE, _FORKSERVER_BEFORE
    if _POOL is not None and (n_workers != _POOL_SIZE or getattr(_POOL, "_broken", False)):
        shutdown_pool()
    if _POOL is None:
        if _FORKSERVER_BEFORE == -1:  # 0: none yet, so the one the pool starts is ours to stop
            _FORKSERVER_BEFORE = _forkserver_pid() or 0
        _POOL = ProcessPoolExecutor(
            n_workers, mp_context=_pool_context(), initializer=_warm_worker,
            initargs=(os.getpid(),),
        )
        _POOL_SIZE = n_workers
    return _POOL


class LocalPool:
    """The default executor: the shared process pool on this machine."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = max(1, n_workers)

    @property
    def slots(self) -> int:
        return 2 * self.n_workers

    def submit(self, path: str, digest: str, max_seconds: float | None,
               window_s: float) -> Future[Result]:
        # shared_pool() replaces a pool broken by a dead worker, so later files still run.
        return shared_pool(self.n_workers).submit(_work, path, digest, max_seconds, window_s)


def shutdown_pool(*, now: bool = False) -> None:
    """Stop the worker processes and the forkserver that started them, and wait for both.

    `now`: terminate workers busy with a song (cancel) instead of letting them finish it.
    """
    global _POOL, _POOL_SIZE
    pool, _POOL, _POOL_SIZE = _POOL, None, 0
    if pool is not None:
        if now:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):  # already gone
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
    _stop_forkserver()


def _forkserver_pid() -> int | None:
    from multiprocessing import forkserver

    return getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)


def _stop_forkserver() -> None:
    """The forkserver outlives its pools (it would stay until this process exits): stop it,
    but only one our pool started (the app's window has its own for other helpers).

    `_stop` is CPython's own (used by its tests, 3.8+); a later server starts on demand. It
    waits for the server to see EOF; SIGTERM first, so a stray copy of that pipe cannot
    keep it waiting.
    """
    global _FORKSERVER_BEFORE
    from multiprocessing import forkserver

    pid, before = _forkserver_pid(), _FORKSERVER_BEFORE
    _FORKSERVER_BEFORE = -1
    if pid is None or before != 0:  # none running, or it was there before our pool
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(Exception):
        forkserver._forkserver._stop()


def _run_pool(
    pending: list[tuple[str, str]],
    executor: ExtractExecutor,
    max_seconds: float | None,
    window_s: float,
    finish: Callable[[str, Result], tuple[str, Result]],
    cancelled: Callable[[], bool],
) -> Iterator[tuple[str, Result]]:
    queue = list(reversed(pending))
    running: dict[Future[Result], str] = {}
    try:
        while queue or running:
            # Keep every worker busy plus one queued task each; no more, so cancel is quick.
            while queue and len(running) < executor.slots and not cancelled():
                path, digest = queue.pop()
                running[executor.submit(path, digest, max_seconds, window_s)] = path
            if cancelled():
                return
            finished, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
            lost = getattr(executor, "lost", None)
            gone = lost() if not finished and callable(lost) else None
            if gone:  # nothing would ever finish: every song left is this error, no hang
                left = [*running.values(), *(p for p, _ in reversed(queue))]
                running.clear()
                queue.clear()
                for path in left:
                    yield finish(path, SongError(reason="cluster_lost", message=gone,
                                                 path=path))
                return
            for fut in finished:
                path = running.pop(fut)
                try:
                    result = _as_path(fut.result(), path)
                except Exception as exc:
                    result = _failure(path, exc)
                yield finish(path, result)
    finally:
        for fut in running:  # not started yet: drop; already running: finish unseen
            fut.cancel()


def _as_path(result: Result, path: str) -> Result:
    """A remote worker saw its own copy of the file: the result names the song's real path."""
    if isinstance(result, SongFeatures):
        result.path = path
        return result
    return result if result.path == path else dataclasses.replace(result, path=path)


def _failure(path: str, exc: BaseException) -> SongError:
    """A task that raised instead of returning a value: still this file's error value."""
    # A worker died (killed, out of memory, a crashing decoder): BrokenProcessPool locally,
    # KilledWorker from Dask. Which file did it cannot be told, so every file it held gets this.
    if type(exc).__name__ == "KilledWorker":
        # Dask ran it again on other workers first (its allowed-failures): this song was on
        # every worker that died, so it is the one, and the other songs ran on elsewhere.
        return SongError(
            reason="worker_crashed",
            message=f"{Path(path).name} stopped every cluster worker that analysed it (the "
                    f"cluster gave up after several tries): the file may be damaged, or too "
                    f"big for a worker's memory.",
            path=path,
        )
    if isinstance(exc, BrokenProcessPool):
        return SongError(
            reason="worker_crashed",
            message=f"The worker analysing {Path(path).name} stopped unexpectedly.",
            path=path,
        )
    # pickling trouble, a cluster that went away and the like: still a value
    return SongError(
        reason="extraction_failed",
        message=f"Feature extraction failed for {Path(path).name}: {type(exc).__name__}.",
        path=path,
    )
