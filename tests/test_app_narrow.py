"""Narrow panes, on real widgets: the Metrics tab of a 1024-pixel window shows every column of
its tables whole without sideways scrolling; tables hide their least needed columns; one m:ss;
the status line (long enough at 1024 pixels) says each count once."""

from __future__ import annotations

import pytest
from app_fixtures import *  # noqa: F403
from PySide6.QtWidgets import QTableWidget

pytestmark = pytest.mark.gui

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")


def _metrics() -> dict:
    per = {g: {"precision": 0.8, "recall": 0.75, "f1": 0.77, "support": 5} for g in GENRES}
    targets = [
        {"name": "accuracy", "goal": "> 70%", "value": 0.9, "shown": "90.0%", "met": True},
        {"name": "confidence when correct", "goal": "> 0.8 on average", "value": 0.71,
         "shown": "0.71", "met": False},
        {"name": "cost per 1,000 songs", "goal": "< $10", "value": 0.0, "shown": "$0.00",
         "met": True},
    ]
    return {"accuracy": 0.9, "per_genre": per, "targets": targets}


def _columns_on_screen(table: QTableWidget) -> None:
    header = table.horizontalHeader()
    right = table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0, table.objectName()  # no sideways scroll
    for col in range(table.columnCount()):
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= right + 1, col
        assert header.sectionSize(col) >= header.sectionSizeHint(col), (table.objectName(), col)
        assert table.columnWidth(col) >= table.sizeHintForColumn(col), (table.objectName(), col)


@pytest.mark.parametrize("size", [(440, 600), (560, 640), (800, 640)])
def test_metrics_tables_are_whole_in_the_pane(qtbot, xvfb_display, size):
    """(440, 600) is the Metrics tab of a 1024x700 window, (560, 640) of a 1280x800 one."""
    from genre_desktop.app.results import MetricsTab

    tab = MetricsTab()
    qtbot.addWidget(tab)
    tab.resize(*size)
    tab.show()
    qtbot.waitExposed(tab)
    tab.set_metrics(_metrics())
    qtbot.wait(100)
    for table in (tab.per_genre, tab.targets):  # "recisio", "Suppor", Goal off screen
        _columns_on_screen(table)
    summary = tab.summary_box.geometry()
    assert summary.width() >= tab.summary_box.sizeHint().width()  # the summary labels whole


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


def test_status_line_says_each_count_once():
    from genre_desktop.app.wording import phase_text
    from genre_desktop.core.pipeline import PipelineProgress

    def event(done: int, step: int, steps: int, phase: str = "extracting") -> PipelineProgress:
        return PipelineProgress(done=done, total=50, errors=0, scored=done, correct=done,
                                input_tokens=0, output_tokens=0, cost_usd=0.0, elapsed_s=1.0,
                                eta_s=None, stage="running", phase=phase, step=step,
                                steps=steps)

    assert phase_text(event(3, 3, 50)) == "Extracting · "  # was 'Extracting 3/50 · 3/50 songs'
    assert phase_text(event(5, 2, 47)) == "Extracting 2/47 · "  # 3 had features already
    assert phase_text(event(0, 0, 0, "training")) == "Training the offline model · "



def test_model_dialog_fits_a_1024_pixel_screen(qtbot, app_settings):
    """The model picker's longest item made the dialog 1,280 px wide; its list still shows
    every item whole."""
    from genre_desktop.app.profiles_dialog import ProfilesDialog

    dialog = ProfilesDialog(app_settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= 1000 and dialog.minimumSizeHint().width() <= 1000
    view = dialog.model.view()
    assert dialog.model.count() > 0
    assert view.minimumWidth() >= view.sizeHintForColumn(0)
