"""The Review tab: accept, correct or reject each answer before its genre goes into the file.

Songs can be sorted by doubt (how close the runner-up came), so the doubtful ones come first.
Decisions stay in memory, go into the run's journal when tags are written, and an accepted or
corrected song becomes a row of the user's own reference (core.user_reference) on a worker.
`install_review` adds the tab, Edit > Undo and the "Write tags" action to the main window, so
the window's own code only calls it once (and tells `window.tag_writer` of each folder opened).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.app.path_rows import PathRowsModel
from genre_desktop.core.results import SongResult
from genre_desktop.core.tag_journal import Decision
from genre_desktop.core.types import GENRES

COLUMNS = ("File", "Predicted", "Conf.", "Doubt", "Review")
COL_FILE, COL_PRED, COL_CONF, COL_DOUBT, COL_REVIEW = range(5)
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
DECISION_COLOURS = {"accepted": QColor("#d8f0dc"), "corrected": QColor("#dbe7fb"),
                    "rejected": QColor("#f6d9d7")}


def doubt(result: SongResult) -> float:
    """1 - (top probability - runner-up's): 1 when two genres tie, 0 when one is certain."""
    p = result.prediction
    if p is None:
        return 1.0
    second = max((float(c) for g, c in p.alternative_genres if g != p.predicted_genre),
                 default=0.0)
    return max(0.0, min(1.0, 1.0 - (float(p.confidence) - second)))


class ReviewModel(PathRowsModel):
    """Successfully classified songs and the user's decision on each."""

    COLUMNS = COLUMNS
    HEADER_TIPS: ClassVar[dict[int, str]] = {
        COL_DOUBT: "1 - (top probability - runner-up): high when the model hesitated"}

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.decisions: dict[str, Decision] = {}

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        result = self._rows[index.row()]
        col = index.column()
        decision = self.decisions.get(result.path)
        if role == PATH_ROLE:
            return result.path
        if role == SORT_ROLE:
            if col == COL_CONF:
                return float(result.prediction.confidence) if result.prediction else -1.0
            if col == COL_DOUBT:
                return doubt(result)
            return str(self.data(index, Qt.ItemDataRole.DisplayRole)).lower()
        if role == Qt.ItemDataRole.DisplayRole:
            p = result.prediction
            assert p is not None
            if col == COL_FILE:
                return result.file
            if col == COL_PRED:
                return p.predicted_genre
            if col == COL_CONF:
                return f"{p.confidence:.2f}"
            if col == COL_DOUBT:
                return f"{doubt(result):.2f}"
            if decision is None:
                return ""
            if decision.decision == "corrected":
                return f"corrected: {decision.genre}"
            return decision.decision
        if role == Qt.ItemDataRole.BackgroundRole and decision is not None:
            return QBrush(DECISION_COLOURS[decision.decision])
        return None

    def add_results(self, results: Sequence[SongResult]) -> None:
        fresh, replaced = [], []
        for result in results:
            if result.prediction is None:
                continue
            at = self._index.get(result.path)
            if at is None:
                fresh.append(result)
                continue
            self._rows[at] = result
            self.decisions.pop(result.path, None)  # a new answer needs a new review
            replaced.append(at)
        self._changed(replaced)
        self._append(fresh)

    def decide(self, paths: Sequence[str], decision: str | None, genre: str | None = None) -> None:
        touched = []
        for path in paths:
            if path not in self._index:
                continue
            if decision is None:
                self.decisions.pop(path, None)
            else:
                self.decisions[path] = Decision(decision, genre)
            touched.append(self._index[path])
        self._changed(touched)

    def clear(self) -> None:
        self.decisions = {}
        super().clear()

    def results(self) -> list[SongResult]:
        return list(self._rows)

    def result_for(self, path: str) -> SongResult | None:
        return self._row_for(path)


class ReviewTab(QWidget):
    """Buttons act on the selected songs; "Accept all above" on every undecided one."""

    reviewed = Signal(list)  # [(SongResult, Decision)] the user just accepted or corrected
    rejected = Signal(list)  # [SongResult] the user just rejected (or un-reviewed)
    write_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ReviewModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setObjectName("reviewTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        for col, width in ((COL_PRED, 80), (COL_CONF, 48), (COL_DOUBT, 52), (COL_REVIEW, 130)):
            header.resizeSection(col, width)

        def button(text: str, slot: Any, name: str, tip: str) -> QPushButton:
            b = QPushButton(text)
            b.setObjectName(name)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            return b

        self.accept_button = button("Accept", self.accept_selected, "reviewAccept",
                                    "The predicted genre is right (A)")
        self.correct_button = button("Correct genre…", self.correct_selected, "reviewCorrect",
                                     "Give the right genre (C)")
        self.reject_button = button("Reject", self.reject_selected, "reviewReject",
                                    "Do not tag these songs (X)")
        self.doubt_button = button("Doubtful first", self.sort_by_doubt, "reviewSortDoubt",
                                   "Sort so the songs the model hesitated on come first")
        self.accept_all_button = button("Accept all above", self.accept_all_above,
                                        "reviewAcceptAll",
                                        "Accept every undecided song at least this confident")
        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName("reviewThreshold")
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.7)
        self.write_button = button("Write tags…", self.write_requested.emit, "reviewWrite",
                                   "Show the planned tag changes, then write them")
        self.summary = QLabel("Classify songs to review them.")
        for key, slot in (("A", self.accept_selected), ("C", self.correct_selected),
                          ("X", self.reject_selected)):
            action = QAction(self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)

        row1 = QHBoxLayout()
        for widget in (self.accept_button, self.correct_button, self.reject_button,
                       self.doubt_button):
            row1.addWidget(widget)
        row1.addStretch(1)
        row2 = QHBoxLayout()
        row2.addWidget(self.accept_all_button)
        row2.addWidget(self.threshold)
        row2.addStretch(1)
        row2.addWidget(self.write_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.table)
        layout.addWidget(self.summary)
        self.model.dataChanged.connect(self._update_summary)
        self.model.rowsInserted.connect(self._update_summary)

    # -- selection and decisions ----------------------------------------------------------------
    def selected_paths(self) -> list[str]:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        return [self.proxy.data(self.proxy.index(r, 0), PATH_ROLE) for r in sorted(rows)]

    def _emit_reviewed(self, paths: Sequence[str]) -> None:
        pairs = []
        for path in paths:
            result, decision = self.model.result_for(path), self.model.decisions.get(path)
            if result is not None and decision is not None and decision.decision != "rejected":
                pairs.append((result, decision))
        if pairs:
            self.reviewed.emit(pairs)

    def accept(self, paths: Sequence[str]) -> None:
        self.model.decide(paths, "accepted")
        self._emit_reviewed(paths)

    def correct(self, paths: Sequence[str], genre: str) -> None:
        genre = genre.strip()
        if genre:
            self.model.decide(paths, "corrected", genre)
            self._emit_reviewed(paths)

    def reject(self, paths: Sequence[str]) -> None:
        self.model.decide(paths, "rejected")
        found = [r for r in (self.model.result_for(p) for p in paths) if r is not None]
        if found:
            self.rejected.emit(found)  # a rejected answer must not stay a training row

    def accept_selected(self) -> None:
        self.accept(self.selected_paths())

    def reject_selected(self) -> None:
        self.reject(self.selected_paths())

    def correct_selected(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        current = self.model.result_for(paths[0])
        start = current.prediction.predicted_genre if current and current.prediction else ""
        items = list(GENRES)
        genre, ok = QInputDialog.getItem(
            self, "Correct genre", f"Genre for {len(paths)} song(s) (or type another):", items,
            items.index(start) if start in items else 0, True)
        if ok:
            self.correct(paths, genre)

    def accept_all_above(self) -> None:
        limit = self.threshold.value()
        paths = [r.path for r in self.model.results()
                 if r.path not in self.model.decisions and r.prediction is not None
                 and r.prediction.confidence >= limit]
        self.accept(paths)

    def sort_by_doubt(self) -> None:
        self.table.sortByColumn(COL_DOUBT, Qt.SortOrder.DescendingOrder)

    def add_results(self, results: Sequence[SongResult]) -> None:
        self.model.add_results(results)

    def _update_summary(self, *_args: Any) -> None:
        counts = {"accepted": 0, "corrected": 0, "rejected": 0}
        for d in self.model.decisions.values():
            counts[d.decision] += 1
        total = self.model.rowCount()
        undecided = total - sum(counts.values())
        self.summary.setText(f"{total} songs · {counts['accepted']} accepted · "
                             f"{counts['corrected']} corrected · {counts['rejected']} rejected"
                             f" · {undecided} to review")


def install_review(window: Any) -> ReviewTab:
    """Add the Review tab, Edit > Undo and Classify > Write tags to the main window."""
    from genre_desktop.app.tag_writer import UNDO_IDLE, TagWriter

    tab = ReviewTab()
    window.results.addTab(tab, "Review")
    writer = TagWriter(window, tab)
    window.tag_writer = writer

    def on_events(events: list[Any]) -> None:
        tab.add_results([e.latest for e in events if e.latest is not None])

    def on_finished(summary: Any) -> None:
        run_id = getattr(summary, "run_id", "")
        if run_id:
            from genre_desktop.core.store import runs_dir

            writer.use_run(Path(runs_dir()) / f"{run_id}.sqlite")

    window.run_controller.events.connect(on_events)
    window.run_controller.finished.connect(on_finished)
    tab.write_requested.connect(writer.open_dialog)
    tab.reviewed.connect(writer.learn)
    tab.rejected.connect(writer.forget)
    bar = window.menuBar()
    edit_menu = QMenu("&Edit", window)
    after_file = bar.actions()[1] if len(bar.actions()) > 1 else None
    if after_file is not None:
        bar.insertMenu(after_file, edit_menu)  # File, Edit, ... as everywhere
    else:
        bar.addMenu(edit_menu)
    window.undo_tags_action = QAction(UNDO_IDLE, window)
    window.undo_tags_action.setShortcut(QKeySequence.StandardKey.Undo)
    window.undo_tags_action.setStatusTip("Put back the genre tags the last write replaced")
    window.undo_tags_action.triggered.connect(writer.undo_last)
    window.undo_tags_action.setEnabled(False)
    edit_menu.addAction(window.undo_tags_action)
    window.write_tags_action = QAction("&Write tags…", window)
    window.write_tags_action.triggered.connect(writer.open_dialog)
    edit_menu.addAction(window.write_tags_action)
    window.review = tab
    return tab
