"""Narrow panes: a table hides its least needed columns instead of cutting the one that stretches.

Used by the song browser and the tagged songs table. Columns are shown in `optional`'s order
while the viewport has room for them, after the `keep` columns and `min_width` pixels for the
stretching column (Name, File).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QTableView


def fit_columns(table: QTableView, keep: Sequence[int], optional: Sequence[int],
                min_width: int, widths: dict[int, int]) -> None:
    """Show `optional` columns (most wanted first) while they fit; hide the rest.

    `widths` holds each optional column's width while it is hidden; a shown column's width is
    read back first, so a width the user dragged is kept.
    """
    header = table.horizontalHeader()
    room = table.viewport().width() - min_width
    for col in keep:
        room -= header.sectionSize(col)
    for col in optional:
        if not header.isSectionHidden(col):
            widths[col] = header.sectionSize(col)
        show = room >= widths[col]
        if header.isSectionHidden(col) == show:
            table.setColumnHidden(col, not show)
            if show:
                header.resizeSection(col, widths[col])
        if show:
            room -= widths[col]


class ColumnFitter(QObject):
    """Runs `fit_columns` on `table` whenever its viewport is resized."""

    def __init__(self, table: QTableView, keep: Sequence[int], optional: Sequence[int],
                 min_width: int) -> None:
        super().__init__(table)
        self.table = table
        self.keep = tuple(keep)
        self.optional = tuple(optional)
        self.min_width = min_width
        header = table.horizontalHeader()
        self.widths = {col: header.sectionSize(col) for col in self.optional}
        self._viewport = table.viewport()
        self._viewport.installEventFilter(self)

    def fit(self) -> None:
        fit_columns(self.table, self.keep, self.optional, self.min_width, self.widths)

    def eventFilter(self, watched: Any, event: Any) -> bool:
        # The viewport still gets events while the table is being destroyed: check first.
        if (event.type() == QEvent.Type.Resize and watched is self._viewport
                and shiboken6.isValid(self.table)):
            self.fit()
        return super().eventFilter(watched, event)
