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
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from genre_desktop.app.settings_data import BackendChoice

BACKGROUND_NICE = 10


def _context() -> mp.context.BaseContext:
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
           events: Any, cancel: Any, environ: dict[str, str]) -> None:
    """Child process entry: run the pipeline, put ("event", e) ... then ("done", summary)."""
    # A forkserver child starts with the server's old environment; use the window's current
    # one (user folders, keyring D-Bus address, AWS endpoint settings).
    os.environ.clear()
    os.environ.update(environ)
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICE)
    _cancel_when_orphaned(cancel)
    from genre_desktop.app.core_calls import make_run_function

    try:
        fn = make_run_function(paths, BackendChoice(**choice), workers=workers,
                               use_cache=use_cache)
        summary = fn(lambda event: events.put(("event", event)), cancel)
        summary.results = []  # every result already went out as an event
        events.put(("done", summary))
    except BaseException as exc:  # reported to the window as one message
        traceback.print_exc()
        events.put(("failed", f"{type(exc).__name__}: {exc}"))


class ProcessRun:
    """Start a run in a child; `pump()` hands its messages to callbacks (call it in a loop)."""

    def __init__(self, paths: Sequence[str], choice: BackendChoice, *,
                 workers: int | None = None, use_cache: bool = True) -> None:
        ctx = _context()
        self._events = ctx.Queue()
        self._cancel = ctx.Event()
        self._process = ctx.Process(
            target=_child, name="genre-desktop-run",
            args=(list(paths), asdict(choice), workers, use_cache, self._events, self._cancel,
                  dict(os.environ)),
        )
        self.finished = False

    def start(self) -> None:
        self._process.start()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self, on_event: Callable[[Any], None], cancel_flag: Any) -> Any:
        """Blocking (a worker thread): relay events until the child ends; returns its summary.

        `cancel_flag` is the caller's CancelFlag; setting it cancels the child cooperatively.
        """
        self.start()
        try:
            while True:
                if cancel_flag.is_set():
                    self._cancel.set()
                try:
                    kind, payload = self._events.get(timeout=0.2)
                except queue.Empty:
                    if not self._process.is_alive():
                        code = self._process.exitcode
                        raise RuntimeError(
                            f"The classification process stopped unexpectedly (exit code {code})."
                        ) from None
                    continue
                if kind == "event":
                    on_event(payload)
                elif kind == "done":
                    return payload
                else:
                    raise RuntimeError(str(payload))
        finally:
            self.finished = True
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)


def run_in_child(paths: Sequence[str], choice: BackendChoice, *, workers: int | None = None,
                 use_cache: bool = True) -> Callable[[Callable[[Any], None], Any], Any]:
    """A RunFunction (progress, cancel) for workers.RunController, backed by a child process."""

    def run(progress: Callable[[Any], None], cancel: Any) -> Any:
        return ProcessRun(paths, choice, workers=workers, use_cache=use_cache).run(progress,
                                                                                  cancel)

    return run

