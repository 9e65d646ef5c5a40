"""Killing a command-line run (SIGKILL, SIGTERM, SIGHUP) leaves no process behind (issue 11).

A real `genre-desktop features` process with a real worker pool (forkserver, workers, resource
tracker) is signalled mid-run; every process carrying the run's marker in its environment is
counted afterwards, and the caller's `communicate()` must return (nothing holds its pipes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _marked(tag: str) -> list[int]:
    """Live (not zombie) processes whose environment holds FAULT_TAG=tag."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"FAULT_TAG={tag}".encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def _left_behind(tag: str) -> list[int]:
    """The marked processes still alive once their run ended (workers notice their parent's
    end within moments: 30 s is generous)."""
    deadline = time.monotonic() + 30
    while _marked(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _marked(tag)


def _end(proc: subprocess.Popen, tag: str) -> None:
    """Whatever a failed test left: the run and every marked process."""
    for pid in _marked(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("sig, status", [(signal.SIGKILL, -9), (signal.SIGTERM, 143),
                                         (signal.SIGHUP, 129)])
def test_a_killed_features_run_leaves_no_process(gtzan_dir, sig, status):
    files = sorted(str(p) for p in (gtzan_dir / "genres").glob("*/*.wav"))
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "genre_desktop", "features", "--workers", "2", "--no-cache",
         "--quiet", *files],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "FAULT_TAG": tag})
    try:
        # Mid-run: the run, the resource tracker, the forkserver and both workers are up.
        deadline = time.monotonic() + 120
        while len(_marked(tag)) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None and len(_marked(tag)) >= 5, "the pool never started"
        proc.send_signal(sig)
        # Nothing may hold the pipes: before the fix this hung while the orphans lived on.
        _out, err = proc.communicate(timeout=90)
        assert proc.returncode == status, err.decode()
        if sig != signal.SIGKILL:
            assert b"Interrupted; writing what is done." in err
        assert _left_behind(tag) == []
    finally:
        _end(proc, tag)


def test_sigterm_stops_classify_like_ctrl_c(gtzan_dir, tmp_path, bedrock_server):
    import sqlite3

    from genre_desktop.core.resources import data_dir

    bedrock_server.delay_s = 0.4  # slow enough to be mid-run
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "genre_desktop", "classify", str(gtzan_dir / "genres"),
         "--backend", "bedrock", "--workers", "1", "--extract-workers", "2", "--no-cache",
         "--no-progress", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FAULT_TAG": tag})
    runs = data_dir() / "runs"

    def stored() -> int:
        dbs = list(runs.glob("*.sqlite")) if runs.is_dir() else []
        if not dbs:
            return 0
        try:
            con = sqlite3.connect(dbs[0])
            try:
                return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            finally:
                con.close()
        except sqlite3.OperationalError:
            return 0

    try:
        deadline = time.monotonic() + 180
        while stored() < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 143, out + err
        assert "Cancelling" in err and "--resume" in out
        assert 2 <= stored() < 50  # finished songs kept
        assert _left_behind(tag) == []
    finally:
        _end(proc, tag)
