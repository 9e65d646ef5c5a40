"""Error log dock: every per-song error of the session with its reason, selectable and copyable."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
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
from genre_desktop.core.types import SongError

HEADERS = ("Time", "Song", "Stage", "Reason", "Message")


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

    def add_message(self, reason: str, message: str, stage: str = "app") -> None:
        self.add_errors([SongError(reason=reason, message=message, stage=stage)])

    def count(self) -> int:
        return self.table.rowCount()

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
