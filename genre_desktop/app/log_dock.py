"""Error log dock: every per-song error of the session with its reason, selectable and copyable;
a run's set-up notices (the inference profile used, a legacy model's end of life) as rows of
their own colour."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.core.redact import redact
from genre_desktop.core.types import RunNotice, SongError

HEADERS = ("Time", "Song", "Stage", "Reason", "Message")
NOTICE_COLOURS = {"notice": "#1a5fb4", "warning": "#8a5a00"}  # blue, amber: not error red
NOTICE_ROLE = "run-notice"  # marks a notice row's items (count() counts errors only)


class ErrorLogDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Error log", parent)
        self.setObjectName("errorLogDock")
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("errorTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.table.horizontalHeader()
        for col in range(len(HEADERS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(HEADERS) - 1, QHeaderView.ResizeMode.Stretch)
        copy_button = QPushButton("Copy")
        copy_button.setToolTip("Copy the selected rows (all rows when none is selected)")
        copy_button.clicked.connect(self.copy_to_clipboard)
        clear_button = QPushButton("Clear")
        clear_button.clicked.connect(lambda: self.table.setRowCount(0))
        QShortcut(QKeySequence.StandardKey.Copy, self.table, activated=self.copy_to_clipboard)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(copy_button)
        buttons.addWidget(clear_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.setWidget(body)

    def add_errors(self, errors: list[SongError]) -> None:
        """Append a batch of errors in one go (one layout pass, not one per error)."""
        if not errors:
            return
        self.table.setUpdatesEnabled(False)
        stamp = time.strftime("%H:%M:%S")
        for err in errors:
            row = self.table.rowCount()
            self.table.insertRow(row)
            song = Path(err.path).name if err.path else ""
            for col, text in enumerate((stamp, song, err.stage, err.reason, err.message)):
                item = QTableWidgetItem(redact(text))  # a credential an endpoint echoed
                item.setToolTip(err.path or "")
                self.table.setItem(row, col, item)
        self.table.setUpdatesEnabled(True)
        self.table.scrollToBottom()

    def add_notice(self, notice: RunNotice) -> None:
        """A run's set-up notice: a row in the log's own colours, not an error's."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        colour = QColor(NOTICE_COLOURS.get(notice.kind, NOTICE_COLOURS["notice"]))
        cells = (time.strftime("%H:%M:%S"), "", "set-up", notice.kind, notice.text)
        for col, text in enumerate(cells):
            item = QTableWidgetItem(redact(text))
            item.setForeground(colour)
            item.setData(Qt.ItemDataRole.UserRole, NOTICE_ROLE)
            self.table.setItem(row, col, item)
        self.table.scrollToBottom()

    def add_message(self, reason: str, message: str, stage: str = "app") -> None:
        self.add_errors([SongError(reason=reason, message=message, stage=stage)])

    def _is_notice(self, row: int) -> bool:
        item = self.table.item(row, 0)
        return item is not None and item.data(Qt.ItemDataRole.UserRole) == NOTICE_ROLE

    def count(self) -> int:
        """Error rows (a run's notices are not errors)."""
        return sum(1 for r in range(self.table.rowCount()) if not self._is_notice(r))

    def notices(self) -> list[str]:
        """The notice rows' messages, in order."""
        return [self.table.item(r, len(HEADERS) - 1).text()
                for r in range(self.table.rowCount()) if self._is_notice(r)]

    def as_text(self, only_selected: bool = False) -> str:
        rows = range(self.table.rowCount())
        if only_selected:
            chosen = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
            rows = chosen or rows  # type: ignore[assignment]
        lines = ["\t".join(HEADERS)]
        for r in rows:
            cells = [self.table.item(r, c).text() if self.table.item(r, c) else ""
                     for c in range(len(HEADERS))]
            lines.append("\t".join(cells))
        return "\n".join(lines)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.as_text(only_selected=True))


def show_run_notice(window: Any, notice: RunNotice) -> None:
    """A run's notice, once: in the status bar for a while and as a row of the log."""
    window.statusBar().showMessage(redact(notice.text), 20000)
    window.log_dock.add_notice(notice)
    window.show_log()
