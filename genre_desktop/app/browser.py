"""Dataset browser: genre folders beside a sortable, filterable song table.

Picard's pattern: one table model holding plain rows (app.path_rows), inserted and updated in
batches (one begin/endInsertRows or one dataChanged per batch, never one per song), and a
QSortFilterProxyModel on top for sorting, the text filter and the genre filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.app.column_fit import ColumnFitter
from genre_desktop.app.path_rows import PathRowsModel
from genre_desktop.app.wording import mmss

ALL_GENRES = "All songs"
NO_GENRE = "(no genre folder)"
COLUMNS = ("Name", "Folder", "Length", "Type", "Status", "Predicted", "Conf.")
COLUMN_TIPS = ("File name", "Genre from the folder name", "Duration", "File format",
               "Classification status", "Predicted genre", "Confidence of the prediction")
COL_NAME, COL_GENRE, COL_DURATION, COL_FORMAT, COL_STATUS, COL_PREDICTION, COL_CONFIDENCE = range(7)
NAME_MIN_WIDTH = 150
FIT_ORDER = (COL_DURATION, COL_GENRE, COL_FORMAT)  # shown in this order while there is room
ROW_ROLE = Qt.ItemDataRole.UserRole + 1  # the SongRow itself
SORT_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass
class SongRow:
    path: str
    name: str
    folder_genre: str  # "" when the folder does not name a genre
    fmt: str
    duration_s: float | None = None
    status: str = "new"  # new | queued | done | error | cancelled
    prediction: str = ""
    confidence: float | None = None
    error: str = ""

    @classmethod
    def from_path(cls, path: str | Path, folder_genre: str | None) -> SongRow:
        p = Path(path)
        return cls(str(p), p.name, folder_genre or "", p.suffix.lstrip(".").lower())


class SongTableModel(PathRowsModel):
    """All songs of the open folder; the GUI thread edits it only in batches."""

    COLUMNS = COLUMNS
    HEADER_TIPS: ClassVar[dict[int, str]] = dict(enumerate(COLUMN_TIPS))

    # -- Qt model API -----------------------------------------------------------------------
    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == SORT_ROLE:
            if col == COL_DURATION:
                return row.duration_s if row.duration_s is not None else -1.0
            if col == COL_CONFIDENCE:
                return row.confidence if row.confidence is not None else -1.0
            return self._display(row, col).lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.error or row.path
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_STATUS and row.status == "error":
            return QBrush(QColor("#b3261e"))
        if (role == Qt.ItemDataRole.ForegroundRole and col == COL_PREDICTION
                and row.prediction and row.folder_genre):
            good = row.prediction == row.folder_genre
            return QBrush(QColor("#1b7f3b" if good else "#b3261e"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_DURATION, COL_CONFIDENCE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(row: SongRow, col: int) -> str:
        if col == COL_NAME:
            return row.name
        if col == COL_GENRE:
            return row.folder_genre
        if col == COL_DURATION:
            return mmss(row.duration_s, missing="")
        if col == COL_FORMAT:
            return row.fmt
        if col == COL_STATUS:
            return row.status
        if col == COL_PREDICTION:
            return row.prediction
        if col == COL_CONFIDENCE:
            return "" if row.confidence is None else f"{row.confidence:.2f}"
        return ""

    # -- batch edits ------------------------------------------------------------------------
    def add_rows(self, rows: Sequence[SongRow]) -> None:
        self._append(rows)

    def update_rows(self, changes: dict[str, dict[str, Any]]) -> None:
        """Apply {path: {field: value}} and emit one dataChanged over the touched range."""
        touched: list[int] = []
        for path, fields in changes.items():
            index = self._index.get(path)
            if index is None:
                continue
            row = self._rows[index]
            for key, value in fields.items():
                setattr(row, key, value)
            touched.append(index)
        self._changed(touched)

    def rows(self) -> list[SongRow]:
        return list(self._rows)

    def row_for(self, path: str) -> SongRow | None:
        return self._row_for(path)

    def genres(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._rows:
            key = row.folder_genre or NO_GENRE
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


class SongFilterProxy(QSortFilterProxyModel):
    """Sorts on typed values; filters on free text (name or genre) and on the chosen folder."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._genre = ""
        self._text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(False)  # re-sorting on every batch update would jump around

    def _refilter(self, change: Any) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter is deprecated
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def set_genre(self, genre: str) -> None:
        self._refilter(lambda: setattr(self, "_genre", "" if genre == ALL_GENRES else genre))

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def filterAcceptsRow(self, source_row: int, source_parent: Any) -> bool:
        model = self.sourceModel()
        row: SongRow = model.data(model.index(source_row, 0, source_parent), ROW_ROLE)
        if self._genre:
            folder = row.folder_genre or NO_GENRE
            if folder != self._genre:
                return False
        if self._text:
            hay = f"{row.name} {row.folder_genre} {row.prediction} {row.status}".lower()
            return self._text in hay
        return True


class BrowserPanel(QWidget):
    """Genre list + filter box + song table, with the song context menu."""

    play_requested = Signal(str)
    classify_requested = Signal(list, bool)  # paths, force re-classify
    show_details_requested = Signal(str)
    reveal_requested = Signal(str)
    current_song_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SongTableModel(self)
        self.proxy = SongFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.genre_list = QListWidget()
        self.genre_list.setObjectName("genreList")
        self.genre_list.currentTextChanged.connect(self._genre_changed)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter songs by name, genre, prediction or status")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)

        self.table = QTableView()
        self.table.setObjectName("songTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        # Fixed starting widths: ResizeToContents would measure every row on every update.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        for col, width in zip(range(1, len(COLUMNS)), (72, 56, 44, 76, 74, 50), strict=True):
            header.resizeSection(col, width)
        # In a narrow window hide Type, then Folder, then Length, so that Name, Status,
        # Predicted and Conf. stay on screen (the genre list and file names say the rest).
        self.columns = ColumnFitter(self.table, (COL_STATUS, COL_PREDICTION, COL_CONFIDENCE),
                                    FIT_ORDER, NAME_MIN_WIDTH)
        # Tab leaves the table for the next pane (arrow keys move between cells).
        self.table.setTabKeyNavigation(False)
        self.table.setAccessibleName("Songs")
        self.genre_list.setAccessibleName("Genre folders")
        self.filter_edit.setAccessibleName("Filter songs")
        self.filter_edit.setToolTip("Filter songs by name, genre, prediction or status (Ctrl+F)")
        for keys in ("Shift+F10", QKeySequence(Qt.Key.Key_Menu)):
            shortcut = QShortcut(QKeySequence(keys), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self.context_menu_from_keyboard)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda idx: self.play_requested.emit(self._path_at(idx)))
        self.table.selectionModel().currentRowChanged.connect(
            lambda cur, _prev: cur.isValid() and self.current_song_changed.emit(self._path_at(cur))
        )

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.filter_edit)
        right_layout.addWidget(self.table)

        splitter = QSplitter()
        splitter.addWidget(self.genre_list)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([125, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def fit_columns(self) -> None:
        self.columns.fit()

    # -- content ----------------------------------------------------------------------------
    def set_songs(self, rows: Iterable[SongRow]) -> None:
        self.model.clear()
        self.model.add_rows(list(rows))
        self.refresh_genres()

    def refresh_genres(self) -> None:
        current = self.genre_list.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole) if current else ALL_GENRES
        self.genre_list.blockSignals(True)
        self.genre_list.clear()
        counts = self.model.genres()
        entries = [(ALL_GENRES, sum(counts.values())), *counts.items()]
        for name, count in entries:
            item = QListWidgetItem(f"{name}  ({count})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.genre_list.addItem(item)
            if name == keep:
                self.genre_list.setCurrentItem(item)
        if self.genre_list.currentItem() is None:  # that genre is not in this folder
            self.genre_list.setCurrentRow(0)
        self.genre_list.blockSignals(False)
        self._genre_changed("")  # the filter follows the list (it was left on the old genre)
        # Wide enough for the longest "genre  (count)" label: never cut.
        frame = 2 * self.genre_list.frameWidth() + 8
        bar = self.genre_list.verticalScrollBar().sizeHint().width()
        self.genre_list.setMinimumWidth(self.genre_list.sizeHintForColumn(0) + frame + bar)

    def _genre_changed(self, _text: str) -> None:
        item = self.genre_list.currentItem()
        self.proxy.set_genre(item.data(Qt.ItemDataRole.UserRole) if item else ALL_GENRES)

    # -- selection --------------------------------------------------------------------------
    def _path_at(self, proxy_index: QModelIndex) -> str:
        row: SongRow = self.proxy.data(proxy_index.siblingAtColumn(0), ROW_ROLE)
        return row.path

    def current_path(self) -> str | None:
        index = self.table.currentIndex()
        return self._path_at(index) if index.isValid() else None

    def selected_paths(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        return [self._path_at(index) for index in sorted(rows, key=lambda i: i.row())]

    def visible_paths(self) -> list[str]:
        return [self._path_at(self.proxy.index(r, 0)) for r in range(self.proxy.rowCount())]

    def select_path(self, path: str) -> None:
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if self._path_at(index) == path:
                flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                         | QItemSelectionModel.SelectionFlag.Rows)
                self.table.selectionModel().setCurrentIndex(index, flags)
                self.table.scrollTo(index)
                return

    def context_menu_from_keyboard(self) -> None:
        """Shift+F10 / the Menu key: the song menu at the current row."""
        index = self.table.currentIndex()
        if not index.isValid():
            if self.proxy.rowCount() == 0:
                return
            index = self.proxy.index(0, 0)
            self.table.setCurrentIndex(index)
        rect = self.table.visualRect(index.siblingAtColumn(COL_NAME))
        self._context_menu(rect.center())

    def _context_menu(self, pos: Any) -> None:
        menu = self.build_context_menu(pos)
        if menu is not None:
            menu.exec(self.table.viewport().mapToGlobal(pos))

    def build_context_menu(self, pos: Any) -> QMenu | None:
        """The song menu for a click at `pos` (viewport coordinates), or None off the rows."""
        index = self.table.indexAt(pos)
        if not index.isValid():
            return None
        paths = self.selected_paths() or [self._path_at(index)]
        here = self._path_at(index)
        menu = QMenu(self)
        # The window's shortcuts for the same commands, shown in the menu's shortcut column.
        actions: list[tuple[str, Any, str]] = [
            ("&Play", lambda: self.play_requested.emit(here), "Space"),
            (f"&Classify ({len(paths)})", lambda: self.classify_requested.emit(paths, False),
             "Ctrl+R"),
            (f"&Re-classify ({len(paths)})", lambda: self.classify_requested.emit(paths, True),
             "Ctrl+Shift+R"),
            ("Show prompt and &response", lambda: self.show_details_requested.emit(here), ""),
            ("Reveal in &file manager", lambda: self.reveal_requested.emit(here), ""),
        ]
        for text, slot, keys in actions:
            label = f"{text}\t{QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)}"
            action = QAction(label if keys else text, menu)
            action.triggered.connect(slot)
            menu.addAction(action)
        return menu
