"""The base of the app's song tables (browser, tagged songs, review): one row per song path, in
arrival order, fixed columns, and batch edits that tell the views once per batch (Picard's
pattern: a thousand rows in one insert, not a thousand inserts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt


class PathRowsModel(QAbstractTableModel):
    """Rows are objects with a `path`; subclasses set COLUMNS, HEADER_TIPS and `data`."""

    COLUMNS: tuple[str, ...] = ()
    HEADER_TIPS: Mapping[int, str] = {}

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []
        self._index: dict[str, int] = {}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS.get(section)
        return None

    def clear(self) -> None:
        self.beginResetModel()
        self._rows, self._index = [], {}
        self.endResetModel()

    def _row_for(self, path: str) -> Any:
        at = self._index.get(path)
        return None if at is None else self._rows[at]

    def _append(self, rows: Sequence[Any]) -> None:
        """New rows at the end in one insert; of one path given twice the last one counts."""
        unique = {row.path: row for row in rows if row.path not in self._index}
        if not unique:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(unique) - 1)
        for offset, row in enumerate(unique.values()):
            self._index[row.path] = first + offset
            self._rows.append(row)
        self.endInsertRows()

    def _changed(self, rows: Iterable[int]) -> None:
        """One dataChanged over the range the touched rows span."""
        touched = list(rows)
        if touched:
            self.dataChanged.emit(self.index(min(touched), 0),
                                  self.index(max(touched), len(self.COLUMNS) - 1))
