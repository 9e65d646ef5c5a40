"""Narrow panes, on real widgets: tables hide their least needed columns; one m:ss."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

def test_column_fitter_hides_least_needed_first(qtbot, xvfb_display):
    from PySide6.QtGui import QStandardItemModel
    from PySide6.QtWidgets import QHeaderView, QTableView

    from genre_desktop.app.column_fit import ColumnFitter

    model = QStandardItemModel(3, 5)
    table = QTableView()
    qtbot.addWidget(table)
    table.setModel(model)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in range(1, 5):
        header.resizeSection(col, 60)
    fitter = ColumnFitter(table, keep=(4,), optional=(1, 2, 3), min_width=100)
    table.show()
    qtbot.waitExposed(table)

    def hidden_at(width: int) -> list[int]:
        table.resize(width + table.width() - table.viewport().width(), 200)
        qtbot.waitUntil(lambda: table.viewport().width() == width)
        fitter.fit()
        return [c for c in range(5) if header.isSectionHidden(c)]

    # room: viewport - 100 (min) - 60 (kept column 4), then 60 per optional column
    assert hidden_at(400) == []
    assert hidden_at(330) == [3]
    assert hidden_at(230) == [2, 3]
    assert hidden_at(200) == [1, 2, 3]
    assert hidden_at(230) == [2, 3]
    header.resizeSection(1, 40)  # a width the user chose is kept when it comes back
    assert hidden_at(210) == [2, 3]
    assert hidden_at(500) == []
    assert header.sectionSize(1) == 40 and header.sectionSize(2) == 60


def test_one_mmss_for_lengths_positions_and_eta():
    from genre_desktop.app.wording import mmss

    assert mmss(29.6) == "0:30" and mmss(30.02) == "0:30"  # the browser and player agree
    assert mmss(605) == "10:05"
    assert mmss(None) == "—" and mmss(None, missing="") == ""
    assert mmss(-0.4) == "0:00"
