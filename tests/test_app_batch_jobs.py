"""The app and Bedrock batch jobs, in a real window: after a restart File > Past runs lists a
run whose batch job is still running, Resume follows it (the status bar shows the job's status
while it polls) and Cancel stops the job; a batch run with fewer songs than the model's minimum
offers on demand in a dialog before anything starts, as the CLI does.

Real parts: boto3 clients, moto's S3 in server mode, the batch control plane on the local
Bedrock server (tests/bedrock_batch_server.py), the CLI in a subprocess for the first session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder, small_folder, wait_for_run
from test_bedrock_batch import MODEL, ROLE, batch_args, job_status, make_songs
from test_bedrock_batch import batch as batch

pytestmark = [pytest.mark.gui]


def _click_when_shown(qtbot, name: str, button_text: str) -> list[str]:
    """Answer the modal dialog `name` once it is up (QMessageBox.exec blocks the test)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.objectName() != name:
            QTimer.singleShot(50, answer)
            return
        seen.append(box.text())
        for button in box.buttons():
            if button.text().replace("&", "") == button_text:
                button.click()
                return
        raise AssertionError(f"no {button_text!r} button: {[b.text() for b in box.buttons()]}")

    QTimer.singleShot(50, answer)
    return seen


def test_too_few_songs_for_a_batch_job_offers_on_demand(qtbot, main_window, bedrock_server,
                                                          manifest, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from genre_desktop.app.settings import BackendChoice

    warnings: list[str] = []  # a failed run's message box would wait for a click
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))

    w = main_window
    w.settings.save_backend_choice(BackendChoice(
        backend="bedrock", region="us-east-1", model=MODEL, endpoint_url=bedrock_server.url,
        batch_s3="s3://nowhere/app-runs", batch_role_arn=ROLE))
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("country", "metal", "pop"))
    open_folder(qtbot, w, folder, expected=3)

    seen = _click_when_shown(qtbot, "batchTooFewDialog", "Cancel")
    w.classify_all()
    assert seen and "at least 100 records" in seen[0] and "3 songs" in seen[0]
    assert not w.run_controller.is_running() and w.results.results() == []
    assert "Not classified" in w.statusBar().currentMessage()

    seen = _click_when_shown(qtbot, "batchTooFewDialog", "Classify on demand")
    w.classify_all()
    assert seen
    wait_for_run(qtbot, w, timeout=240000)
    assert warnings == []
    results = w.results.results()
    assert len(results) == 3 and all(r.ok for r in results), [r.error for r in results]
    assert {r.prediction.backend for r in results} == {"bedrock"}
    assert bedrock_server.count("converse") == 3  # on demand, one call per song
    assert bedrock_server.count("unknown") == 0  # no batch job was asked for
    assert w.settings.backend_choice().batch_s3 == "s3://nowhere/app-runs"  # setting kept


def test_resume_after_a_restart_follows_the_running_job_and_cancel_stops_it(
        qtbot, main_window, batch, bedrock_server, tmp_path):
    from genre_desktop.app.past_runs import PastRunsDialog, reopen_run
    from genre_desktop.core.resources import config_dir
    from genre_desktop.core.runs import past_runs

    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "models.toml").write_text(  # a small job: the model's minimum lowered
        f'[models."{MODEL}"]\nbatch_min_records = 10\n')
    batch.min_records = 10
    songs = tmp_path / "songs"
    make_songs(songs, per_genre=1)
    batch.hold.set()  # the job stays InProgress
    cmd = [sys.executable, "-m", "genre_desktop", "classify", "--no-progress", "--out",
           str(tmp_path / "out"), *batch_args(songs, batch)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=os.environ, start_new_session=True)
    data = Path(os.environ["GENRE_DESKTOP_DATA_DIR"])
    try:  # the CLI session ends (killed) once the run file says InProgress
        job = batch.wait_for("InProgress", timeout_s=240)
        end = time.monotonic() + 60
        while time.monotonic() < end and job_status(data) != "InProgress":
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)

    runs = past_runs()
    dialog = PastRunsDialog(runs, main_window)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 5).text() == "batch job InProgress: resume follows it"
    assert dialog.resume_button.isEnabled()
    dialog._pick(resume=True)
    reopen_run(main_window, dialog.chosen, resume=True)
    qtbot.waitUntil(lambda: "Batch job InProgress" in main_window.progress_label.text(),
                    timeout=120000)
    polls = sum(1 for c in bedrock_server.calls if c.method == "GET")
    qtbot.waitUntil(lambda: sum(1 for c in bedrock_server.calls if c.method == "GET")
                    > polls, timeout=30000)  # it keeps polling
    assert len(batch.creates) == 1  # followed, not submitted again

    main_window.cancel_run()
    wait_for_run(qtbot, main_window, timeout=60000)
    batch.wait_for("Stopped", timeout_s=60)
    assert batch.stops == [job.arn]
    assert [r.batch_status for r in past_runs()] == [""]  # the stopped job was joined
