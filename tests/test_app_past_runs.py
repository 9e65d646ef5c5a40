"""File > Past runs: a stored run (here one cancelled after its first song) is listed, reopened
with its results in the tabs, and resumed: the same run finishes its other songs."""

from __future__ import annotations

import threading

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import small_folder, wait_for_run

pytestmark = [pytest.mark.gui]


def test_a_cancelled_run_is_listed_reopened_and_resumed(qtbot, main_window, manifest,
                                                          tmp_path):
    from genre_desktop.app.past_runs import PastRunsDialog, reopen_run
    from genre_desktop.core.runs import RunRequest, RunSession, past_runs
    from genre_desktop.core.settings import Settings

    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("blues", "jazz", "rock"))
    cancel = threading.Event()
    request = RunRequest(folder=folder, settings=Settings(workers=1, extract_workers=1))
    with RunSession.start(request) as session:
        summary = session.run(lambda ev: ev.latest is not None and cancel.set(), cancel)
        run_id = session.run_id
    assert summary.cancelled and summary.done == 1

    runs = past_runs()
    dialog = PastRunsDialog(runs, main_window)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 0).text() == run_id
    assert dialog.table.item(0, 4).text() == "1/3" and dialog.resume_button.isEnabled()
    dialog._pick(resume=True)
    assert dialog.chosen.run_id == run_id and dialog.resume

    reopen_run(main_window, dialog.chosen, resume=True)
    qtbot.waitUntil(lambda: main_window.run_controller.is_running()
                    or len(main_window.results.results()) == 3, timeout=60000)
    wait_for_run(qtbot, main_window, timeout=180000)
    assert main_window.folder == str(folder.resolve())
    results = main_window.results.results()
    assert sorted(r.file for r in results) == ["blues.00000.wav", "jazz.00000.wav",
                                               "rock.00000.wav"]
    assert all(r.ok for r in results)
    again = past_runs()
    assert [(r.run_id, r.finished, r.planned) for r in again] == [(run_id, 3, 3)]
