"""File > Past runs: the runs stored in the runs folder, to reopen (results into the tabs) or
resume (the songs a cancelled or interrupted run did not finish, or a batch job still running
at Bedrock: resume follows it, and Cancel stops it)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Run", "Started", "Folder", "Model", "Songs", "State")


def _state(run: Any) -> str:
    batch = getattr(run, "batch_status", "")
    if batch:  # resume follows the job (polls it, joins its answers; Cancel stops it)
        return f"batch job {batch}: resume follows it"
    return "complete" if run.complete else "can resume"


class PastRunsDialog(QDialog):
    """Lists `core.runs.past_runs()`; `chosen` and `resume` say what the user picked."""

    def __init__(self, runs: list[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Past runs")
        self.setObjectName("pastRunsDialog")
        self.resize(820, 360)
        self.runs = runs
        self.chosen: Any = None
        self.resume = False
        self.table = QTableWidget(len(runs), len(COLUMNS))
        self.table.setObjectName("pastRunsTable")
        self.table.setAccessibleName("Past runs")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the buttons
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        for row, run in enumerate(runs):
            when = datetime.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
            cells = (run.run_id, when, run.folder, run.model or run.backend,
                     f"{run.finished}/{run.planned}",
                     _state(run))
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        if runs:
            self.table.selectRow(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = QPushButton("&Open")
        self.open_button.setToolTip("Show this run's results (opens its folder)")
        self.resume_button = QPushButton("&Resume")
        self.resume_button.setToolTip("Open it and classify the songs it has not finished")
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.resume_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(lambda: self._pick(resume=False))
        self.resume_button.clicked.connect(lambda: self._pick(resume=True))
        buttons.rejected.connect(self.reject)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self._pick(resume=False))
        layout = QVBoxLayout(self)
        if not runs:
            layout.addWidget(QLabel("No runs yet: classify some songs first."))
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self._selection_changed()

    def selected(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        run = self.selected()
        self.open_button.setEnabled(run is not None)
        self.resume_button.setEnabled(run is not None and not run.complete)

    def _pick(self, *, resume: bool) -> None:
        run = self.selected()
        if run is None or (resume and run.complete):
            return
        self.chosen, self.resume = run, resume
        self.accept()


def show_past_runs(window: Any) -> None:
    """File > Past runs: list the stored runs (read on a pool thread), then reopen one."""
    from genre_desktop.app import core_calls
    from genre_desktop.app.workers import run_task

    def chosen(runs: list[Any]) -> None:
        dialog = PastRunsDialog(runs, window)
        if dialog.exec() and dialog.chosen is not None:
            reopen_run(window, dialog.chosen, resume=dialog.resume)

    run_task(core_calls.past_runs, chosen,
             lambda text: window.statusBar().showMessage(f"Cannot list the runs: {text}"))


def reopen_run(window: Any, run: Any, *, resume: bool = False) -> None:
    """Open the run's folder, show its stored results, and with `resume` classify the songs
    it has not finished (the same run goes on: core RunSession.resume in the run process)."""
    from genre_desktop.app import core_calls
    from genre_desktop.app.workers import run_task

    def loaded(stored: tuple[list[str], list[Any]]) -> None:
        planned, results = stored
        if run.folder and Path(run.folder).is_dir() and window.folder != run.folder:
            window.open_folder(run.folder)
        _when_rows_exist(window, planned, lambda: _show(window, run, planned, results, resume))

    run_task(lambda: core_calls.stored_run(run.run_id), loaded,
             lambda text: window.statusBar().showMessage(f"Cannot open run {run.run_id}: {text}"))


def _when_rows_exist(window: Any, planned: list[str], then: Any, tries: int = 300) -> None:
    """The folder scan is asynchronous: wait (polling, at most 30 s) for its rows."""
    if not planned or window.browser.model.row_for(planned[0]) is not None or tries <= 0:
        then()
        return
    QTimer.singleShot(100, lambda: _when_rows_exist(window, planned, then, tries - 1))


def _show(window: Any, run: Any, planned: list[str], results: list[Any], resume: bool) -> None:
    changes = {}
    for r in results:
        p = r.prediction or r.last_good
        changes[r.path] = {"status": "done" if r.prediction else "error",
                           "prediction": p.predicted_genre if p else "",
                           "confidence": p.confidence if p else None,
                           "error": f"{r.error.reason}: {r.error.message}" if r.error else ""}
    window.browser.model.update_rows(changes)
    window.results.add_results(results)
    window.tag_writer.use_run(run.path, results)  # its Review tab, decisions and Edit > Undo
    window.results.songs_asked = len(planned)
    window.results.schedule_metrics(now=True)
    window.statusBar().showMessage(
        f"Run {run.run_id}: {len(results)} of {len(planned)} songs stored")
    if resume:
        finished = {r.path for r in results}
        rest = [p for p in planned if p not in finished]
        if rest:
            window.classify_paths(rest, force=True, resume=run.run_id)
