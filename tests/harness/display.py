"""Xvfb on a free display number, chosen by the server itself through -displayfd."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .processes import ManagedProcess, read_line_from_fd, wait_until


@dataclass
class XvfbDisplay:
    display: str  # e.g. ":17"
    width: int
    height: int
    process: ManagedProcess

    @property
    def pid(self) -> int:
        return self.process.pid

    def env(self) -> dict[str, str]:
        """What a process needs to draw on this screen with Qt's X11 (xcb) platform plugin."""
        return {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}

    def stop(self) -> None:
        self.process.stop()


def start_xvfb(workdir: Path, *, width: int = 1280, height: int = 800) -> XvfbDisplay:
    workdir.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    try:
        proc = ManagedProcess(
            "Xvfb",
            [
                "Xvfb",
                "-displayfd", str(write_fd),
                "-screen", "0", f"{width}x{height}x24",
                "-nolisten", "tcp",
                "-noreset",
                # GLX lets Qt's xcb plugin use its usual code path instead of a fallback
                "+extension", "GLX",
            ],
            log_path=workdir / "xvfb.log",
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    try:
        number = read_line_from_fd(read_fd, timeout=20, proc=proc, what="showing its display")
    finally:
        os.close(read_fd)
    display = f":{int(number)}"
    socket = Path(f"/tmp/.X11-unix/X{int(number)}")
    wait_until(socket.exists, timeout=10, proc=proc, what=f"listening on {socket}")
    return XvfbDisplay(display=display, width=width, height=height, process=proc)
