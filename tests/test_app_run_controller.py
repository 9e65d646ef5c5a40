"""The run controller says "running" until the run's result has reached the window.

CI failed once on this gap: the run's thread had returned, its queued "done" signal was not
yet delivered, and a caller that saw "not running" read a run with no summary.
"""

from __future__ import annotations

from genre_desktop.app.workers import RunController


def test_running_until_the_result_is_delivered(qtbot):
    controller = RunController()
    results: list[object] = []
    controller.finished.connect(results.append)
    controller.start(lambda progress, cancel: "summary")
    thread = controller._thread
    assert thread is not None
    # The thread ends while the GUI thread handles no events: its result is still queued.
    assert thread.wait(10000)
    assert controller.is_running()
    assert results == []
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=10000)
    assert results == ["summary"]


def test_a_run_that_ends_without_a_result_frees_the_controller(qtbot):
    controller = RunController()
    failures: list[str] = []
    controller.failed.connect(failures.append)

    def ends_abruptly(progress, cancel):
        raise SystemExit(3)  # not an Exception: escaping QThread.run would abort the app

    controller.start(ends_abruptly)
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=10000)
    assert failures == ["SystemExit: 3"]
    controller.start(lambda progress, cancel: "next")  # free for the next run
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=10000)
