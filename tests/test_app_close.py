"""Closing the app, during a run and after one: it asks first, goes quickly, and no process it
started (the run's child and its pools, the plot helper, forkservers) outlives it.

The app runs in its own interpreter (tests/app_session.py), as `genre-desktop` does, so the
processes it leaves can be told from pytest's own: each one carries a tag in its environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import small_folder

pytestmark = [pytest.mark.gui, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
TAG = "GENRE_DESKTOP_TEST_SESSION"


def tagged_processes(tag: str) -> list[str]:
    """'pid command' of every live process whose environment holds TAG=tag."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            status = (entry / "status").read_text()
            if "\nState:\tZ" in status:
                continue  # a zombie holds no memory; its parent is gone anyway
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]
        except OSError:
            continue  # ended meanwhile, or not ours to read
        found.append(f"{entry.name} {command}")
    return found


def run_session(folder: Path, mode: str, cache: Path) -> tuple[dict, list[str], str]:
    tag = uuid.uuid4().hex
    env = dict(os.environ, **{TAG: tag, "GENRE_DESKTOP_CACHE_DIR": str(cache)})
    done = subprocess.run([sys.executable, str(HERE / "app_session.py"), str(folder), mode],
                          capture_output=True, text=True, env=env, timeout=600, cwd=HERE.parent)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # Processes that end on their own when the app is gone (a forkserver reading EOF) get a
    # moment; anything still there after it was left behind.
    deadline = time.monotonic() + 5
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen, left, done.stderr


def test_close_during_a_run_asks_then_stops_everything(xvfb_display, secret_service, manifest,
                                                      tmp_path, shared_cache):
    folder = small_folder(tmp_path, manifest, per_genre=3)
    seen, left, stderr = run_session(folder, "close-during-run", shared_cache)
    print(f"closed in {seen['close_s']} s with {seen['results']}/{seen['songs']} songs done")
    assert seen["running_at_close"]
    assert seen["no_keeps_it_open"]  # "No" in the dialog: the window and the run go on
    assert seen["dialogs"] == ["A classification run is still going. Stop it and close "
                               "Genre Desktop?"] * 2
    assert not seen["visible_after_close"]
    assert seen["cancelled"] is True and seen["results"] < seen["songs"]
    assert "cannot schedule new futures" not in stderr
    assert "Traceback" not in stderr, stderr[-3000:]
    assert left == [], f"processes outlived the app: {left}"


def test_close_after_a_run_ends_every_helper(xvfb_display, secret_service, manifest, tmp_path,
                                             shared_cache):
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("blues", "jazz"))
    seen, left, stderr = run_session(folder, "close-after-run", shared_cache)
    assert seen["done"] == 2 and "dialogs" not in seen
    assert "Traceback" not in stderr, stderr[-3000:]
    assert left == [], f"processes outlived the app: {left}"
