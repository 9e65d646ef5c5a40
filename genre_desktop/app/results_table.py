"""Tagged songs table: one row per classified (or failed) song, with correct/incorrect marks
and a highlight for answers below the user's confidence threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from genre_desktop.app.path_rows import PathRowsModel
from genre_desktop.core.results import SongResult

COLUMNS = ("", "File", "Actual", "Predicted", "Conf.", "Alternatives", "Model",
           "Cost $", "Latency")
COL_MARK, COL_FILE, COL_ACTUAL, COL_PRED, COL_CONF, COL_ALT, COL_MODEL, COL_COST, COL_LAT = range(9)
RESULT_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
LOW_CONFIDENCE_BG = QColor("#fff1b8")
CORRECT = QColor("#1b7f3b")
WRONG = QColor("#b3261e")


def mark_for(result: SongResult) -> str:
    if result.prediction is None:
        return "!"
    if result.is_correct is None:
        return "?"
    return "✓" if result.is_correct else "✗"


class TaggedSongsModel(PathRowsModel):
    """Results in arrival order; a re-classified song replaces its old row in place."""

    COLUMNS = COLUMNS
    HEADER_TIPS: ClassVar[dict[int, str]] = {
        COL_MARK: "✓ correct, ✗ wrong, ? no known genre, ! failed"}

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.threshold = 0.5

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        result = self._rows[index.row()]
        col = index.column()
        p = result.prediction
        if role == RESULT_ROLE:
            return result
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(result, col)
        if role == SORT_ROLE:
            if col == COL_CONF:
                return p.confidence if p else -1.0
            if col == COL_COST:
                return p.cost_usd if p else -1.0
            if col == COL_LAT:
                return p.latency_s if p else -1.0
            return self._text(result, col).lower()
        if role == Qt.ItemDataRole.ForegroundRole and col in (COL_MARK, COL_PRED):
            if p is None:
                return QBrush(WRONG)
            if result.is_correct is not None:
                return QBrush(CORRECT if result.is_correct else WRONG)
        if role == Qt.ItemDataRole.BackgroundRole and self.is_low(result):
            return QBrush(LOW_CONFIDENCE_BG)
        if role == Qt.ItemDataRole.ToolTipRole:
            if result.error is not None:
                return f"{result.error.reason}: {result.error.message}"
            if self.is_low(result):
                return f"Confidence below the {self.threshold:.2f} threshold"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_CONF, COL_COST, COL_LAT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_MARK:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def is_low(self, result: SongResult) -> bool:
        return result.prediction is not None and result.prediction.confidence < self.threshold

    @staticmethod
    def _text(result: SongResult, col: int) -> str:
        p = result.prediction
        if col == COL_MARK:
            return mark_for(result)
        if col == COL_FILE:
            return result.file
        if col == COL_ACTUAL:
            return result.actual_genre or ""
        if p is None:
            if col != COL_PRED or result.error is None:
                return ""
            last = result.last_good
            kept = f" (last good: {last.predicted_genre} {last.confidence:.2f})" if last else ""
            return f"failed: {result.error.reason}{kept}"
        if col == COL_PRED:
            return p.predicted_genre
        if col == COL_CONF:
            return f"{p.confidence:.2f}"
        if col == COL_ALT:
            return ", ".join(f"{g} {c:.2f}" for g, c in p.alternative_genres[:2])
        if col == COL_MODEL:
            return p.model if p.backend in p.model else f"{p.backend}: {p.model}"
        if col == COL_COST:
            return f"{p.cost_usd:.5f}"
        if col == COL_LAT:
            return f"{p.latency_s:.2f}"
        return ""

    # -- batch edits ------------------------------------------------------------------------
    def add_results(self, results: Sequence[SongResult]) -> None:
        fresh: list[SongResult] = []
        replaced: list[int] = []
        for result in results:
            at = self._index.get(result.path)
            if at is None:
                fresh.append(result)
            else:
                old = self._rows[at]
                if result.prediction is None and result.last_good is None:
                    # A failed re-classify keeps the answer it did not replace, beside it.
                    result.last_good = old.prediction or old.last_good
                self._rows[at] = result
                replaced.append(at)
        self._changed(replaced)
        self._append(fresh)

    def set_threshold(self, value: float) -> None:
        self.threshold = float(value)
        self._changed([0, len(self._rows) - 1] if self._rows else [])

    def results(self) -> list[SongResult]:
        return list(self._rows)

    def result_for(self, path: str) -> SongResult | None:
        return self._row_for(path)

    def low_confidence_count(self) -> int:
        return sum(1 for r in self._rows if self.is_low(r))
