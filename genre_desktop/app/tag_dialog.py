"""Write tags: the planned changes (file, old, new) first, then the write with progress and cancel.

Planning reads every file's tags and hash, and writing replaces files, so both run on worker
threads (core.tagging does the work); the window only shows what they report. The main
window's tag actions (Edit > Undo, learning from the review) are in app.tag_writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.app.workers import RunController, run_task
from genre_desktop.core.tag_policy import MODES, VOCABULARIES, TagPolicy


def _default_policy() -> TagPolicy:
    from genre_desktop.core.settings import SettingsError, load_settings
    from genre_desktop.core.tag_policy import policy_from_settings

    try:
        return policy_from_settings(load_settings())
    except SettingsError:
        return TagPolicy()


def _genres(values: Any) -> str:
    return "; ".join(values) if values else "—"


class WriteTagsDialog(QDialog):
    written = Signal(object)  # core.tagging.TagSummary

    def __init__(self, parent: QWidget | None, results: list[Any], decisions: dict[str, Any],
                 store_path: Path) -> None:
        super().__init__(parent)
        self.setObjectName("writeTagsDialog")
        self.setWindowTitle("Write genre tags")
        self.resize(760, 540)
        self._results, self._decisions, self.store_path = results, dict(decisions), store_path
        self.plan: list[Any] = []
        self.summary: Any = None
        self.planning = False
        policy = _default_policy()
        self.base_policy = policy
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setCurrentText(policy.mode)
        self.max_genres = QSpinBox()
        self.max_genres.setRange(1, 10)
        self.max_genres.setValue(policy.max_genres)
        self.min_confidence = QDoubleSpinBox()
        self.min_confidence.setRange(0.0, 1.0)
        self.min_confidence.setSingleStep(0.05)
        self.min_confidence.setValue(policy.min_confidence)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(policy.threshold)
        self.threshold.setToolTip("Probability a 2nd..Nth genre needs")
        self.vocabulary = QComboBox()
        self.vocabulary.addItems(list(VOCABULARIES))
        self.vocabulary.setCurrentText(policy.vocabulary)
        self.vocabulary.setToolTip("gtzan: the ten labels; tags: the audio tagger's genre tags")
        self.skip_tagged = QCheckBox("Skip files an earlier write already tagged")
        self.skip_tagged.setChecked(policy.skip_tagged)
        self.only_reviewed = QCheckBox("Only songs I accepted or corrected")
        self.only_reviewed.setChecked(any(d.decision != "rejected" for d in decisions.values()))
        form = QFormLayout()
        form.addRow("Mode", self.mode)
        form.addRow("At most genres", self.max_genres)
        form.addRow("… more genres above", self.threshold)
        form.addRow("Minimum confidence", self.min_confidence)
        form.addRow("Vocabulary", self.vocabulary)
        form.addRow("", self.skip_tagged)
        form.addRow("", self.only_reviewed)
        self.controls = (self.mode, self.max_genres, self.threshold, self.min_confidence,
                         self.vocabulary, self.skip_tagged, self.only_reviewed)
        for widget in self.controls:
            signal = getattr(widget, "currentTextChanged", None) or getattr(
                widget, "valueChanged", None) or widget.toggled
            signal.connect(self.replan)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("tagPlanTable")
        self.table.setHorizontalHeaderLabels(["File", "Old genre", "New genre", "Note"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel("Planning …")
        self.status.setObjectName("tagStatus")
        self.progress = QProgressBar()
        self.progress.setObjectName("tagProgress")
        self.write_button = QPushButton("Write")
        self.write_button.setObjectName("tagWrite")
        self.write_button.setEnabled(False)
        self.write_button.clicked.connect(self.write)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.setObjectName("tagCancel")
        self.cancel_button.clicked.connect(self.cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.write_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.controller = RunController(self, batch_ms=100)
        self.controller.events.connect(self._on_progress)
        self.controller.finished.connect(self._on_written)
        self.controller.failed.connect(self._on_failed)
        self._plan_serial = 0
        self._stopped = ""  # why the last write stopped, shown with the next plan
        self.replan()

    def policy(self) -> TagPolicy:
        import dataclasses

        return dataclasses.replace(
            self.base_policy, mode=self.mode.currentText(), max_genres=self.max_genres.value(),
            threshold=self.threshold.value(), min_confidence=self.min_confidence.value(),
            vocabulary=self.vocabulary.currentText(),
            skip_tagged=self.skip_tagged.isChecked()).validate()

    # -- planning ---------------------------------------------------------------------------
    def replan(self, *_args: Any) -> None:
        if self.controller.is_running():
            return
        self._plan_serial += 1
        serial, policy = self._plan_serial, self.policy()
        results, decisions, store = self._results, self._decisions, self.store_path
        only = self.only_reviewed.isChecked()
        self.planning = True
        self.write_button.setEnabled(False)
        self.status.setText("Planning: reading the files' tags …")

        def plan() -> list[Any]:
            from genre_desktop.core.tag_journal import TagJournal
            from genre_desktop.core.tagging import plan_tags

            with TagJournal(store) as journal:
                for path, d in decisions.items():
                    journal.set_decision(path, d.decision, d.genre)
                return plan_tags(results, journal, policy, decisions=decisions,
                                 only_reviewed=only)

        run_task(plan, lambda p: self._planned(serial, p), self._plan_failed)

    def _planned(self, serial: int, plan: list[Any]) -> None:
        if serial != self._plan_serial:
            return  # a newer plan is on its way
        self.planning = False
        self.plan = plan
        writes = [c for c in plan if c.writes]
        rows = writes + [c for c in plan if not c.writes]
        self.table.setRowCount(len(rows))
        for r, c in enumerate(rows):
            new = _genres(c.new) if c.writes else "(unchanged)"
            for col, text in enumerate((c.file, _genres(c.old), new, c.reason)):
                self.table.setItem(r, col, QTableWidgetItem(text))
        text = (f"{len(writes)} files to write, {len(plan) - len(writes)} left alone. "
                "Nothing is written until you press Write.")
        if self._stopped:  # the last write was refused or failed: say so above the new plan
            text = f"Writing stopped: {self._stopped}\n{text}"
            self._stopped = ""
        self.status.setText(text)
        self.progress.setRange(0, max(len(writes), 1))
        self.progress.setValue(0)
        self.write_button.setEnabled(bool(writes))

    def _plan_failed(self, text: str) -> None:
        self.planning = False
        self.status.setText(f"Cannot plan the tags: {text}")

    # -- writing ----------------------------------------------------------------------------
    def write(self) -> None:
        plan, store = list(self.plan), self.store_path
        if not any(c.writes for c in plan) or self.controller.is_running():
            return

        def run(progress: Any, cancel: Any) -> Any:
            from genre_desktop.core.store import RunStore
            from genre_desktop.core.tag_journal import TagJournal
            from genre_desktop.core.tagging import tag_lock, write_plan

            # The journal goes into the run store: one writer per run, as for the CLI's tag
            # (a --resume or a tag of the same run elsewhere refuses this in one sentence).
            with RunStore.open(store, writer=True), TagJournal(store) as journal, \
                    tag_lock(store):
                return write_plan(plan, journal, cancel=cancel,
                                  progress=lambda d, t, name: progress((d, t, name)))

        for widget in (self.write_button, *self.controls):
            widget.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.status.setText("Writing …")
        self.controller.start(run, in_process_work=True)

    def _on_progress(self, events: list[Any]) -> None:
        done, total, name = events[-1]
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if name:
            self.status.setText(f"Writing {done + 1}/{total}: {name}")

    def _on_written(self, summary: Any) -> None:
        self.summary = summary
        self.cancel_button.setText("Close")
        problems = [f"{n}: {why}" for n, why in summary.skipped + summary.failed]
        verb = "Cancelled after" if summary.cancelled else "Wrote"
        text = f"{verb} {summary.written} files. Edit > Undo restores them."
        if problems:
            text += f" Skipped {len(problems)}: " + "; ".join(problems[:3])
        self.status.setText(text)
        self.progress.setValue(self.progress.maximum() if not summary.cancelled else
                               summary.written)
        self.written.emit(summary)

    def _on_failed(self, text: str) -> None:
        self.cancel_button.setText("Close")
        self.status.setText(f"Writing stopped: {text}")
        self._stopped = text
        # Nothing is lost (the journal says what was written): plan again and let the user
        # retry once whatever stopped it (e.g. another writer of the run) is gone.
        for widget in (self.write_button, *self.controls):
            widget.setEnabled(True)
        self.replan()

    def cancel_or_close(self) -> None:
        if self.controller.is_running():
            self.controller.cancel()
            self.status.setText("Cancelling after the file in hand …")
        else:
            self.close()

    def closeEvent(self, event: Any) -> None:
        if self.controller.is_running():
            self.controller.cancel()
            self.controller.wait(30000)
        super().closeEvent(event)
