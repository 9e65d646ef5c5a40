"""Ctrl+C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all stop a command the same way.

The first signal sets the run's cancel flag: no new song starts, finished songs are kept and
reported. A second one raises KeyboardInterrupt to stop at once (still keeping what is stored).
The exit status follows the shell's convention, 128 + the signal number: 130 for SIGINT,
143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import TracebackType
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))


class StopSignals:
    """A context manager: while inside, SIGINT/SIGTERM/SIGHUP set `cancel` (twice: interrupt)."""

    def __init__(self, cancel: threading.Event, message: str) -> None:
        self.cancel = cancel
        self.message = message
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt
        self.signum = signum
        self.cancel.set()
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone already
            print(f"\n{self.message}", file=sys.stderr, flush=True)

    @property
    def exit_status(self) -> int:
        """128 + the signal that stopped the run (130 when none was seen, as for Ctrl+C)."""
        return 128 + int(self.signum or signal.SIGINT)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
