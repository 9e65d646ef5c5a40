"""First start without `make venv` (the frozen app): compile the audio kernels in the background.

`make venv` compiles librosa's numba kernels at install; a frozen build (installer.spec) ships
none, and its first song waited ~30-70 s in "Compiling the audio kernels". So a window that finds
no compiled kernels starts one low-priority child process that compiles them
(core.numba_setup.warm_kernels, under the compile lock a run's workers also take) while the user
browses and listens, and says so in the status bar. A run started meanwhile shows the same
phase and waits for the lock. Closing the window ends the child (the cache marker is written
only when the compile is complete, so a cut-short compile is redone next time).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from genre_desktop.app.run_process import child_context

BACKGROUND_NICE = 10
POLL_MS = 500



def app_gone(pid: int) -> bool:
    """True when process `pid` has ended (a zombie counts: its parent has not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (macOS, Windows): ask the process table
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False


def _exit_when_orphaned(app_pid: int) -> None:
    # The app's pid comes from the app: a child that starts after the app died (a spawn child
    # can take seconds to boot, and the frozen app's test ends it a second after its window
    # shows) would otherwise take its own orphaned parent for the app and compile for minutes,
    # holding the app's stdout open.
    if app_gone(app_pid):
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if app_gone(app_pid):  # the app is gone: nobody waits for the kernels
                os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _warm_child(environ: dict[str, str], app_pid: int) -> None:
    _exit_when_orphaned(app_pid)
    # A forkserver child starts with the server's environment: use the window's (cache folder).
    os.environ.clear()
    os.environ.update(environ)
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(BACKGROUND_NICE)
    from genre_desktop.core.numba_setup import warm_kernels

    warm_kernels()


class KernelWarmup(QObject):
    """The background compile and its status-bar label; `stop()` when the window closes."""

    finished = Signal(bool)  # True when the kernels are compiled

    def __init__(self, bar: QStatusBar, run_progress: QWidget | None = None) -> None:
        super().__init__(bar)
        from genre_desktop.core.pipeline import PHASES

        self.label = QLabel(f"{PHASES['compiling']}…")
        self.label.setObjectName("kernelWarmup")
        self.label.setToolTip("Once only: songs are analysed faster from then on. You can "
                              "browse, listen and start a run meanwhile.")
        self.label.hide()
        bar.addPermanentWidget(self.label)
        self.process: Any = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        # A run's own progress line says "Compiling ..." then: one line, not two.
        self._run_progress = run_progress
        if run_progress is not None:
            run_progress.installEventFilter(self)

    def eventFilter(self, watched: Any, event: Any) -> bool:
        if watched is self._run_progress and event.type() in (QEvent.Type.Show,
                                                              QEvent.Type.Hide):
            self._show_label()
        return super().eventFilter(watched, event)

    def _show_label(self) -> None:
        run_shown = self._run_progress is not None and self._run_progress.isVisible()
        self.label.setVisible(self.running() and not run_shown)

    def start(self) -> bool:
        """Start compiling unless the kernels are already compiled; True when it started."""
        from genre_desktop.core.numba_setup import kernels_cached

        if kernels_cached():
            return False
        self.process = child_context().Process(target=_warm_child, name="genre-desktop-kernels",
                                          args=(dict(os.environ), os.getpid()), daemon=True)
        self.process.start()
        self._show_label()
        self._timer.start()
        return True

    def running(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def _poll(self) -> None:
        if self.running():
            return
        self._timer.stop()
        self.label.hide()
        ok = self.process is not None and self.process.exitcode == 0
        self.process = None
        self.finished.emit(ok)

    def stop(self) -> None:
        """End the compile now (the window is closing); nothing is left running."""
        self._timer.stop()
        process, self.process = self.process, None
        if process is not None and process.is_alive():
            process.terminate()
            process.join(3)
            if process.is_alive():
                process.kill()
                process.join(3)
        self.label.hide()
