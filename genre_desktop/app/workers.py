"""The only place where Qt meets the core: background tasks and the classification run.

Orange's worker pattern: the core exposes plain functions that report progress through a
callback and check a cancel flag; here a QThread runs such a function and relays each event
as a queued signal. The GUI thread never calls the core's blocking functions itself.
"""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, QTimer, Signal, Slot


class CancelEvent:
    """A CancelFlag (core.types) the GUI sets and the core polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


# -- one-shot tasks on the global thread pool ----------------------------------------------------
class _Relay(QObject):
    """One long-lived GUI-thread object that carries every task's messages back (queued)."""

    message = Signal(int, str, object)  # task id, "item" | "done" | "error", payload

    def __init__(self) -> None:
        super().__init__()
        self.callbacks: dict[int, dict[str, Callable[[Any], None] | None]] = {}
        self.next_id = 0
        self.message.connect(self._deliver)

    @Slot(int, str, object)
    def _deliver(self, task_id: int, kind: str, payload: Any) -> None:
        callbacks = self.callbacks.get(task_id)
        if callbacks is None:
            return
        if kind != "item":
            del self.callbacks[task_id]
        callback = callbacks.get(kind)
        if callback is None:
            return
        try:
            callback(payload)
        except RuntimeError as exc:
            # The widget that asked was closed while its task ran: nobody to show it to
            # ("... already deleted" calling it, "Signal source has been deleted" emitting).
            if "already deleted" not in str(exc) and "has been deleted" not in str(exc):
                raise


_relay: _Relay | None = None


def _get_relay() -> _Relay:
    global _relay
    if _relay is None:
        _relay = _Relay()
    return _relay


class _Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], task_id: int, relay: _Relay,
                 streaming: bool) -> None:
        super().__init__()
        self._fn = fn
        self._id = task_id
        self._relay = relay
        self._streaming = streaming
        self.setAutoDelete(True)

    def run(self) -> None:
        relay_emit = self._relay.message.emit

        def emit(task_id: int, kind: str, payload: Any) -> None:
            # At shutdown the relay may be gone before a late task ends: nobody is listening.
            with contextlib.suppress(RuntimeError):
                relay_emit(task_id, kind, payload)

        try:
            if self._streaming:
                result = self._fn(lambda item: emit(self._id, "item", item))
            else:
                result = self._fn()
        except Exception as exc:  # a task failure is shown to the user, never raised into Qt
            if getattr(exc, "quiet", False):  # e.g. the window is closing: nothing to report
                return
            traceback.print_exc()
            emit(self._id, "error", f"{type(exc).__name__}: {exc}")
            return
        emit(self._id, "done", result)


def _start(fn: Callable[..., Any], streaming: bool, on_item: Any, on_done: Any, on_error: Any,
           pool: QThreadPool | None) -> None:
    relay = _get_relay()
    relay.next_id += 1
    relay.callbacks[relay.next_id] = {"item": on_item, "done": on_done, "error": on_error}
    (pool or QThreadPool.globalInstance()).start(_Task(fn, relay.next_id, relay, streaming))


def run_task(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Run `fn()` on a pool thread; `on_done(result)` / `on_error(text)` run on the GUI thread."""
    _start(fn, False, None, on_done, on_error, pool)


def run_streaming_task(
    fn: Callable[[Callable[[Any], None]], Any],
    on_item: Callable[[Any], None],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> None:
    """Like run_task, but `fn(emit)` may emit items along the way; `on_item` gets each one
    on the GUI thread, in order and before `on_done`."""
    _start(fn, True, on_item, on_done, on_error, None)


# -- the classification run ----------------------------------------------------------------------
BACKGROUND_NICE = 10


def _lower_this_thread_priority() -> None:
    """Batch work yields the CPU to the window (and the display server) on a busy machine.

    On Linux the nice value is per thread and inherited by the threads and processes this
    thread starts (the classification pool, the extraction processes via the forkserver).
    """
    if not hasattr(os, "setpriority"):
        return  # Windows: no nice values; the OS boosts the foreground window anyway
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, max(current, BACKGROUND_NICE))
    except OSError:
        pass  # not permitted (containers, policies): run at normal priority


RunFunction = Callable[[Callable[[Any], None], CancelEvent], Any]


class _RunThread(QThread):
    event = Signal(object)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: RunFunction, cancel: CancelEvent, background: bool,
                 parent: QObject) -> None:
        super().__init__(parent)  # Qt owns it: dropping our reference never deletes it early
        self._fn = fn
        self._cancel = cancel
        self._background = background

    def run(self) -> None:
        if self._background:
            _lower_this_thread_priority()
        try:
            result = self._fn(self.event.emit, self._cancel)
        except BaseException as exc:  # could not start or crashed: one message for the GUI
            # BaseException too (a sys.exit deep in a library): escaping run() aborts the app,
            # and without a done/failed signal the controller would say "running" for ever.
            traceback.print_exc()
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self.done.emit(result)


class RunController(QObject):
    """Runs one pipeline call on a QThread and hands its events to the GUI in batches.

    Events arrive as queued signals; they are buffered and delivered every `batch_ms` as one
    list, so the GUI updates its models once per batch however fast songs finish.
    """

    events = Signal(list)  # list of core progress events, in order
    notice = Signal(object)  # a core.types.RunNotice: at once, never batched with progress
    finished = Signal(object)  # the run's return value
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, batch_ms: int = 150) -> None:
        super().__init__(parent)
        self._thread: _RunThread | None = None
        self._cancel = CancelEvent()
        self._pending: list[Any] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(batch_ms)
        self._flush_timer.timeout.connect(self._flush)

    def is_running(self) -> bool:
        # Until its result is handed over, not merely until the thread returns: the thread
        # ends before its queued done/failed signal reaches the GUI thread, and a caller that
        # saw "not running" in that gap would read a run with no result (a flaky app test).
        return self._thread is not None

    def start(self, fn: RunFunction, *, in_process_work: bool = False) -> None:
        """Run `fn(progress, cancel)` on a new thread.

        `in_process_work`: fn does the heavy work itself (not via a child process), so the
        thread runs at lower priority. A relay for a child process stays at normal priority:
        a niced thread holding the GIL would make the window wait for it.
        """
        if self.is_running():
            raise RuntimeError("a run is already going")
        self._cancel = CancelEvent()
        self._pending = []
        thread = _RunThread(fn, self._cancel, in_process_work, self)
        thread.event.connect(self._on_event)
        thread.done.connect(self._on_done)
        thread.failed.connect(self._on_failed)
        self._thread = thread
        self._flush_timer.start()
        thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, ms: int = 30000) -> bool:
        """Block until the thread ends (used at shutdown and in tests, never in a slot)."""
        return True if self._thread is None else bool(self._thread.wait(ms))

    @Slot(object)
    def _on_event(self, event: Any) -> None:
        # A method of this GUI-thread QObject, so the cross-thread signal is queued.
        if type(event).__name__ == "RunNotice":
            self.notice.emit(event)
            return
        self._pending.append(event)

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.events.emit(batch)

    def _finish(self) -> None:
        self._flush_timer.stop()
        self._flush()
        if self._thread is not None:
            self._thread.wait(2000)
            self._thread.deleteLater()
            self._thread = None

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self._finish()
        self.finished.emit(result)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._finish()
        self.failed.emit(text)
