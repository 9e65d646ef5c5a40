"""A first start without `make venv` (the frozen app): the window compiles the audio kernels in a
background process and says so; with compiled kernels it starts nothing; closing it during the
compile leaves no process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from app_fixtures import *  # noqa: F403

from genre_desktop.core import numba_setup

pytestmark = pytest.mark.gui


@pytest.fixture
def uncompiled_cache(tmp_path: Path, monkeypatch) -> Path:
    """This session's compiled kernels without the marker, as a first start finds a cache
    (loading them is quick; a cache with nothing in it compiles for ~30-70 s, the same path)."""
    numba_setup.warm_kernels()  # the session's own cache is complete (a no-op when it is)
    cache = tmp_path / "numba"
    shutil.copytree(numba_setup.numba_cache_dir(), cache,
                    ignore=shutil.ignore_patterns(".kernels-ready-*", "*.lock"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    assert not numba_setup.kernels_cached()
    return cache


def test_first_start_compiles_the_kernels_in_the_background(qtbot, uncompiled_cache, request):
    window = request.getfixturevalue("main_window")
    warmup = window.kernel_warmup
    assert warmup.running()  # started by the window itself
    pid = warmup.process.pid
    assert pid != os.getpid()
    assert warmup.label.isVisible()
    assert warmup.label.text().startswith("Compiling the audio kernels")
    assert window.isEnabled() and window.browser.isEnabled()  # the window goes on meanwhile
    window.progress.show()  # a run started meanwhile says "Compiling ..." on its own line
    assert not warmup.label.isVisible()
    window.progress.hide()
    assert warmup.label.isVisible()

    with qtbot.waitSignal(warmup.finished, timeout=240000) as outcome:
        pass
    assert outcome.args == [True]
    assert (uncompiled_cache / numba_setup._marker_name()).exists()
    assert not warmup.label.isVisible()
    assert not _alive(pid)


def test_compiled_kernels_start_nothing(qtbot, main_window):
    assert numba_setup.kernels_cached()
    assert main_window.kernel_warmup.process is None
    assert not main_window.kernel_warmup.label.isVisible()


def test_closing_during_the_compile_leaves_no_process(qtbot, uncompiled_cache, request):
    window = request.getfixturevalue("main_window")
    warmup = window.kernel_warmup
    assert warmup.running()
    pid = warmup.process.pid
    window.close()  # at once: loading even cached kernels takes seconds
    assert not _alive(pid)
    assert not (uncompiled_cache / numba_setup._marker_name()).exists()  # redone next time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for good but still answers until reaped.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


def test_a_compile_child_whose_app_has_ended_stops_at_once(uncompiled_cache):
    # A spawn child can boot after its app is gone (the frozen app's CI test ends the app a
    # second after its window shows): it must not take its orphaned state for normal and
    # compile for minutes, holding the app's stdout open.
    import subprocess

    from genre_desktop.app.first_use import _warm_child, app_gone
    from genre_desktop.app.run_process import child_context

    ended = subprocess.Popen(["true"])
    while not app_gone(ended.pid):  # ended, not yet reaped: a zombie counts as gone
        pass
    child = child_context().Process(target=_warm_child, args=(dict(os.environ), ended.pid))
    child.start()
    child.join(60)
    ended.wait()
    assert child.exitcode == 0
    assert not (uncompiled_cache / numba_setup._marker_name()).exists()  # it compiled nothing
