"""Start and stop the harness's helper daemons by PID, and wait for them to come up."""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

# Every process the harness starts, so an aborted session still reaps them (see atexit below).
_LIVE: dict[int, ManagedProcess] = {}


def _die_with_parent() -> None:
    """In the child before exec: the kernel SIGTERMs it if pytest is killed (no finalizers run)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


class HarnessError(RuntimeError):
    """A helper daemon failed to start; the message carries its log tail."""


def which(binary: str) -> str | None:
    return shutil.which(binary)


class ManagedProcess:
    """One daemon started in its own session, so stopping it never touches the test process."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            env=dict(env) if env is not None else None,
            stdin=stdin,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            preexec_fn=_die_with_parent,  # only calls prctl(); safe before exec
        )
        self.pid = self.popen.pid
        _LIVE[self.pid] = self

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def fail(self, what: str) -> HarnessError:
        code = self.popen.poll()
        state = "still running" if code is None else f"exited with {code}"
        return HarnessError(
            f"{self.name} (pid {self.pid}, {state}): {what}\n"
            f"command: {' '.join(self.argv)}\nlog {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM this PID, then SIGKILL if it lingers; never signals anything else."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout)
            except ProcessLookupError:
                pass
        _LIVE.pop(self.pid, None)
        self._log.close()


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    proc: ManagedProcess | None = None,
    what: str = "ready",
    interval: float = 0.05,
) -> T:
    """Poll `probe` until it returns something truthy; fail fast if `proc` died meanwhile."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # the probe itself fails until the daemon is up
            last_error = exc
        if proc is not None and not proc.alive():
            raise proc.fail(f"died before it was {what} (last probe error: {last_error})")
        if time.monotonic() > deadline:
            message = f"not {what} after {timeout:.0f} s (last probe error: {last_error})"
            if proc is not None:
                raise proc.fail(message)
            raise HarnessError(message)
        time.sleep(interval)


def read_line_from_fd(fd: int, *, timeout: float, proc: ManagedProcess, what: str) -> str:
    """Read one newline-terminated line a daemon writes to an inherited pipe (-displayfd etc.)."""
    os.set_blocking(fd, False)
    buf = b""

    def probe() -> str | None:
        nonlocal buf
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return None
        if chunk == b"":  # writer closed the pipe without a full line
            if b"\n" in buf or buf:
                return buf.decode().strip() or None
            raise EOFError("pipe closed")
        buf += chunk
        return buf.decode().strip() if b"\n" in buf else None

    return wait_until(probe, timeout=timeout, proc=proc, what=what)


@atexit.register
def _reap_leftovers() -> None:
    for proc in list(_LIVE.values()):
        proc.stop(timeout=2.0)
