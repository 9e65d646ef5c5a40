"""A classification run in a child process (Qt-free), its events streamed back over a queue.

Measured on the shared 2-core machine: with the pipeline's threads in the window's process,
the offline model's training (a new model per song set, so GTZAN songs never train on
themselves), scikit-learn and the per-song work held the GIL in 100-500 ms bursts and the
window's timer stalled that long. In a child process (at lower priority, with its own
extraction pool) they cannot touch the window's GIL; workers.py relays the events.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from genre_desktop.app.settings_data import BackendChoice

BACKGROUND_NICE = 10


def child_context() -> mp.context.BaseContext:
    """How the app starts its helper processes (runs, plots, the first-start compile)."""
    # Never plain fork: the app has Qt and worker threads running.
    if sys.platform.startswith("linux") and not getattr(sys, "frozen", False):
        return mp.get_context("forkserver")
    return mp.get_context("spawn")


def _cancel_when_orphaned(cancel: Any) -> None:
    """If the app dies, its forkserver goes too and we are re-parented: stop the run then
    (every finished song is already in the run store)."""
    parent = os.getppid()

    def watch() -> None:
        while not cancel.is_set():
            time.sleep(1.0)
            if os.getppid() != parent:
                cancel.set()
                return

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _child(paths: list[str], choice: dict[str, Any], workers: int | None, use_cache: bool,
           events: Any, cancel: Any, environ: dict[str, str], where: dict[str, Any]) -> None:
    """Child process entry: run the pipeline, put ("event", e) ... then ("done", summary)."""
    # A forkserver child starts with the server's old environment; use the window's current
    # one (user folders, keyring D-Bus address, AWS endpoint settings).
    os.environ.clear()
    os.environ.update(environ)
    if hasattr(os, "setpgid"):
        # Its own process group: the extraction pool and its forkserver join it, so the
        # window can end the whole run at once (closing during a run, a cancel that hangs).
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICE)
    _cancel_when_orphaned(cancel)
    from genre_desktop.app.core_calls import make_run_function

    try:
        fn = make_run_function(paths, BackendChoice(**choice), workers=workers,
                               use_cache=use_cache, **where)
        summary = fn(lambda event: events.put(("event", event)), cancel)
        summary.results = []  # every result already went out as an event
        events.put(("done", summary))
    except BaseException as exc:  # reported to the window as one message
        traceback.print_exc()
        events.put(("failed", f"{type(exc).__name__}: {exc}"))


# A cancel the pipeline has not honoured by then ends the run's processes (finished songs are
# already out as events): the user asked for it to stop, and the issue asks for < 2 s.
CANCEL_GRACE_S = 1.5


class ProcessRun:
    """Start a run in a child; `run()` relays its messages (on a worker thread)."""

    def __init__(self, paths: Sequence[str], choice: BackendChoice, *,
                 workers: int | None = None, use_cache: bool = True, folder: str | None = None,
                 resume: str | None = None) -> None:
        ctx = child_context()
        self._events = ctx.Queue()
        self._cancel = ctx.Event()
        where = {"folder": folder, "resume": resume}
        self._process = ctx.Process(
            target=_child, name="genre-desktop-run",
            args=(list(paths), asdict(choice), workers, use_cache, self._events, self._cancel,
                  dict(os.environ), where),
        )
        self._group: int | None = None  # the child's process group, once it has made one
        self._killed = False
        self._done = False
        self.grace_s = CANCEL_GRACE_S
        self.finished = False

    def start(self) -> None:
        self._process.start()

    def cancel(self) -> None:
        self._cancel.set()

    def _note_group(self) -> None:
        pid = self._process.pid
        if self._group is None and pid is not None and hasattr(os, "getpgid"):
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:
                    self._group = pid

    def kill(self) -> None:
        """End the child and every process it started (its pools), now. Called by run()'s
        thread only: it never reads the queue again after this (a message the child was
        killed in the middle of writing would block the read)."""
        self._killed = True
        self._note_group()
        if self._group is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._group, signal.SIGKILL)
        elif self._process.is_alive():
            self._process.kill()

    def _sweep(self) -> None:
        # Pool workers the child left behind die with their group.
        if self._group is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._group, signal.SIGKILL)

    def run(self, on_event: Callable[[Any], None], cancel_flag: Any) -> Any:
        """Blocking (a worker thread): relay events until the child ends; returns its summary.

        `cancel_flag` is the caller's CancelFlag; setting it cancels the child cooperatively,
        and CANCEL_GRACE_S later ends it (returning a cancelled summary of what arrived).
        """
        self.start()
        started = time.monotonic()
        cancelled_at: float | None = None
        last: Any = None
        try:
            while True:
                self._note_group()
                if cancel_flag.is_set() and cancelled_at is None:
                    self._cancel.set()
                    cancelled_at = time.monotonic()
                if cancelled_at is not None and time.monotonic() - cancelled_at > self.grace_s:
                    self.kill()
                    return _cut_short(last, time.monotonic() - started)
                try:
                    kind, payload = self._events.get(timeout=0.1)
                except queue.Empty:
                    if not self._process.is_alive():
                        if self._killed:
                            return _cut_short(last, time.monotonic() - started)
                        code = self._process.exitcode
                        raise RuntimeError(
                            f"The classification process stopped unexpectedly (exit code {code})."
                        ) from None
                    continue
                if kind == "event":
                    if hasattr(payload, "done"):  # progress, not a RunNotice
                        last = payload
                    on_event(payload)
                elif kind == "done":
                    self._done = True
                    return payload
                else:
                    raise RuntimeError(str(payload))
        finally:
            self.finished = True
            # After its summary the child has nothing left to save (its store is closed): a
            # slow exit (pools winding down) must not hold the window at 100 % for seconds.
            self._process.join(timeout=0.5 if self._killed else 0.3 if self._done else 10)
            if self._process.is_alive():
                self.kill()
                self._process.join(timeout=5)
            self._sweep()


def _cut_short(last: Any, elapsed_s: float) -> Any:
    """The summary of a run that was ended before it could send its own."""
    from genre_desktop.core.pipeline import PipelineSummary

    if last is None:
        return PipelineSummary("", 0, 0, 0, True, elapsed_s, skipped=0)
    return PipelineSummary("", last.total, last.done, last.errors, True, elapsed_s,
                           skipped=0, last=last)


class ChildRun:
    """A RunFunction (progress, cancel) for workers.RunController, backed by a child process;
    `hurry()` makes a cancel end it at once (closing the window during a run)."""

    def __init__(self, paths: Sequence[str], choice: BackendChoice, *,
                 workers: int | None = None, use_cache: bool = True, folder: str | None = None,
                 resume: str | None = None) -> None:
        self._args = (list(paths), choice)
        self._kwargs = {"workers": workers, "use_cache": use_cache, "folder": folder,
                        "resume": resume}
        self.process: ProcessRun | None = None

    def __call__(self, progress: Callable[[Any], None], cancel: Any) -> Any:
        self.process = ProcessRun(*self._args, **self._kwargs)  # type: ignore[arg-type]
        return self.process.run(progress, cancel)

    def hurry(self) -> None:
        """After a cancel, end the run's processes at once instead of after the grace time."""
        if self.process is not None:
            self.process.grace_s = 0.3


def run_in_child(paths: Sequence[str], choice: BackendChoice, *, workers: int | None = None,
                 use_cache: bool = True, folder: str | None = None,
                 resume: str | None = None) -> ChildRun:
    """A RunFunction (progress, cancel) for workers.RunController, backed by a child process:
    a new run of `folder` for `paths`, or (`resume`) a stored run carried on."""
    return ChildRun(paths, choice, workers=workers, use_cache=use_cache, folder=folder,
                    resume=resume)
