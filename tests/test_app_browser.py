"""The dataset browser on a real window: open the shared sample folder, filter, sort, drop,
remember the last folder and geometry, settings schema without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from genre_desktop.app.browser import ROW_ROLE

pytestmark = pytest.mark.gui


def test_open_sample_folder_lists_songs_and_genre_folders(qtbot, main_window, gtzan_dir, manifest):
    from genre_desktop.app.browser import ALL_GENRES, COL_DURATION, COL_GENRE, ROW_ROLE

    w = main_window
    assert w.stack.currentWidget() is w.welcome  # first run: no dataset yet
    open_folder(qtbot, w, gtzan_dir / "genres", expected=len(manifest))
    assert w.stack.currentWidget() is w.main_split
    names = [w.browser.genre_list.item(i).data(Qt.ItemDataRole.UserRole)
             for i in range(w.browser.genre_list.count())]
    assert names[0] == ALL_GENRES
    assert sorted(names[1:]) == sorted({r["genre"] for r in manifest})

    # durations come from a second background pass
    model = w.browser.model
    qtbot.waitUntil(lambda: all(r.duration_s for r in model.rows()), timeout=15000)
    by_name = {Path(r["file"]).name: float(r["seconds"]) for r in manifest}
    for row in model.rows():
        assert row.duration_s == pytest.approx(by_name[row.name], abs=0.05)
        assert row.fmt == "wav"
        assert row.folder_genre == Path(row.path).parent.name

    # genre filter, then text filter
    jazz = next(i for i in range(w.browser.genre_list.count())
                if w.browser.genre_list.item(i).data(Qt.ItemDataRole.UserRole) == "jazz")
    w.browser.genre_list.setCurrentRow(jazz)
    assert w.browser.proxy.rowCount() == 5
    assert {w.browser.proxy.index(r, COL_GENRE).data() for r in range(5)} == {"jazz"}
    w.browser.genre_list.setCurrentRow(0)
    w.browser.filter_edit.setText("00003")
    assert w.browser.proxy.rowCount() == 10
    w.browser.filter_edit.clear()

    # sorting by duration uses the number, not the text
    w.browser.table.sortByColumn(COL_DURATION, Qt.SortOrder.DescendingOrder)
    durations = [w.browser.proxy.index(r, 0).data(ROW_ROLE).duration_s
                 for r in range(w.browser.proxy.rowCount())]
    assert durations == sorted(durations, reverse=True)

    # multi-select
    w.browser.table.selectAll()
    assert len(w.browser.selected_paths()) == len(manifest)


def test_drop_a_folder_opens_it(qtbot, main_window, tmp_path, gtzan_dir):
    folder = tmp_path / "any folder"
    folder.mkdir()
    (folder / "song one.au").symlink_to(next((gtzan_dir / "au").glob("*.au")))
    (folder / "notes.txt").write_text("not audio")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    main_window.dropEvent(event)
    qtbot.waitUntil(lambda: main_window.browser.model.rowCount() == 1, timeout=10000)
    row = main_window.browser.model.rows()[0]
    assert row.name == "song one.au" and row.fmt == "au" and row.folder_genre == ""
    assert main_window.browser.genre_list.count() == 2  # All songs + (no genre folder)


def test_context_menu_offers_the_song_actions(qtbot, main_window, gtzan_dir):
    open_folder(qtbot, main_window, gtzan_dir / "genres")
    browser = main_window.browser
    browser.table.selectRow(0)
    rect = browser.table.visualRect(browser.proxy.index(0, 0))
    menu = browser.build_context_menu(rect.center())
    assert menu is not None
    texts = [a.text() for a in menu.actions()]
    assert [t.replace("&", "").split("\t")[0].split(" (")[0] for t in texts] == [
        "Play", "Classify", "Re-classify", "Show prompt and response", "Reveal in file manager"]
    # the window's shortcuts for the same commands are shown beside them
    assert [t.split("\t")[1] for t in texts[:3]] == ["Space", "Ctrl+R", "Ctrl+Shift+R"]
    got: list[tuple[list[str], bool]] = []
    browser.classify_requested.connect(lambda paths, force: got.append((paths, force)))
    menu.actions()[2].trigger()
    assert got == [([browser.proxy.index(0, 0).data(ROW_ROLE).path], True)]
    assert browser.build_context_menu(QPoint(5, 5000)) is None


def test_remembers_last_folder_and_geometry_and_keeps_secrets_out(
        qtbot, main_window, app_settings, gtzan_dir):
    from genre_desktop.app.main_window import MainWindow
    from genre_desktop.app.settings import SCHEMA_VERSION, AppSettings

    open_folder(qtbot, main_window, gtzan_dir / "genres")
    main_window.resize(1111, 700)
    main_window.close()
    text = Path(app_settings.path).read_text()
    assert f"schema_version={SCHEMA_VERSION}" in text
    assert str((gtzan_dir / "genres").resolve()) in text
    with pytest.raises(ValueError):
        app_settings._set("model/aws_secret_access_key", "x")

    again = MainWindow(AppSettings(app_settings.path))
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.browser.model.rowCount() == 50, timeout=15000)
    assert again.width() == 1111
    again.close()


def test_first_run_download_says_plainly_why_it_cannot(qtbot, main_window, artifacts_dir):
    """No dataset yet: the welcome page offers Open and Download; here there is no network
    to Kaggle (or no kagglehub), and the page says so in a sentence instead of failing."""
    from app_fixtures import save_screenshot

    w = main_window
    assert w.stack.currentWidget() is w.welcome
    w.welcome.download_button.click()
    qtbot.waitUntil(lambda: w.welcome.download_button.isEnabled(), timeout=120000)
    message = w.welcome.status.text()
    assert message.startswith(("Cannot reach Kaggle", "Downloading needs the kagglehub",
                               "Kaggle refused")), message
    assert w.stack.currentWidget() is w.welcome  # still usable: Open a folder remains
    assert w.log_dock.count() == 1
    w.log_dock.hide()
    qtbot.wait(50)
    save_screenshot(w, "first_run.png", artifacts_dir)


def test_shortcuts(main_window):
    from PySide6.QtGui import QKeySequence

    w = main_window
    assert w.play_action.shortcut() == QKeySequence(Qt.Key.Key_Space)
    assert w.open_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert w.open_action.shortcut().toString() == "Ctrl+O"
    assert w.classify_action.shortcut().toString() == "Ctrl+R"
    assert w.cancel_action.shortcut().toString() == "Esc"
    assert w.play_action in w.actions()  # window-wide, also with the menu bar hidden


def test_keyboard_only(qtbot, main_window, gtzan_dir):
    """Tab leaves the song table, Ctrl+F reaches the filter, Shift+F10 and the Menu key open
    the song menu, and a hidden toolbar comes back from the View menu."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMenu

    w = main_window
    open_folder(qtbot, w, gtzan_dir / "genres")
    assert w.windowTitle() == "Genre Desktop — genres"
    table = w.browser.table
    w.activateWindow()  # keyboard focus needs the active window (no window manager here)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    table.setFocus()
    table.setCurrentIndex(w.browser.proxy.index(0, 0))
    qtbot.waitUntil(table.hasFocus, timeout=2000)
    QTest.keyClick(table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not table  # not trapped cell by cell
    assert table.currentIndex().column() == 0

    QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is w.browser.filter_edit

    for key, modifier in ((Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier),
                          (Qt.Key.Key_Menu, Qt.KeyboardModifier.NoModifier)):
        table.setFocus()
        qtbot.waitUntil(table.hasFocus, timeout=2000)
        shown: list[list[str]] = []

        def close_menu(shown: list[list[str]] = shown) -> None:
            menu = QApplication.activePopupWidget()
            if isinstance(menu, QMenu):
                shown.append([a.text() for a in menu.actions()])
                menu.close()

        timer = qtbot_timer(close_menu)
        QTest.keyClick(table, key, modifier)
        qtbot.waitUntil(lambda shown=shown: bool(shown), timeout=5000)
        timer.stop()
        assert shown[0][0].startswith("&Play")

    assert w.toolbar.isVisible()
    w.toolbar.toggleViewAction().trigger()
    assert not w.toolbar.isVisible()
    assert w.toolbar.toggleViewAction() in w.view_menu.actions()
    w.toolbar.toggleViewAction().trigger()
    assert w.toolbar.isVisible()
    assert "(Ctrl+R)" in w.classify_action.toolTip()
    for widget in (table, w.browser.filter_edit, w.browser.genre_list, w.player.seek_slider,
                   w.player.volume, w.player.device_combo, w.player.play_button):
        assert widget.accessibleName(), widget.objectName()


def qtbot_timer(fn):
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(fn)
    timer.start()
    return timer


def test_genre_desktop_folder_opens_that_folder(qtbot, app_settings, main_window, gtzan_dir,
                                                tmp_path):
    """`genre-desktop FOLDER` opens the app on FOLDER (was "invalid choice"), not the last one."""
    from genre_desktop.app.main_window import MainWindow
    from genre_desktop.cli import _folder_to_open, build_parser

    parser = build_parser()
    folder = str(gtzan_dir / "genres")
    assert _folder_to_open(parser, [folder]) == folder
    assert _folder_to_open(parser, ["classify"]) is None
    assert _folder_to_open(parser, ["--version"]) is None
    with pytest.raises(SystemExit):
        _folder_to_open(parser, [str(tmp_path / "no-such-folder")])

    app_settings.last_folder = str(gtzan_dir / "au")  # the last folder must not win
    window = MainWindow(app_settings, folder=folder)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 50, timeout=15000)
    assert window.folder == str((gtzan_dir / "genres").resolve())
    assert app_settings.recent_folders[0] == window.folder
    window.close()


def test_layout_at_1024_by_700(qtbot, main_window, gtzan_dir, artifacts_dir):
    """A small laptop window: the song table keeps Status, Predicted and Conf. on screen, the
    seek slider is usable, the genre labels are whole, the error log stays modest."""
    from app_fixtures import save_screenshot

    from genre_desktop.app.browser import COL_CONFIDENCE, COL_NAME, COL_PREDICTION, COL_STATUS

    w = main_window
    open_folder(qtbot, w, gtzan_dir / "genres")
    w.resize(1024, 700)
    w.log_dock.add_message("corrupt_audio", "broken.wav looks like WAV but cannot be decoded.")
    w.log_dock.hide()
    w.show_log()
    qtbot.wait(300)
    assert (w.width(), w.height()) == (1024, 700)
    table = w.browser.table
    header = table.horizontalHeader()
    right = table.viewport().width()
    for col in (COL_NAME, COL_STATUS, COL_PREDICTION, COL_CONFIDENCE):
        assert not header.isSectionHidden(col)
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= right + 1, col
    assert w.player.seek_slider.width() >= 100
    genres = w.browser.genre_list
    assert genres.sizeHintForColumn(0) <= genres.viewport().width()
    assert w.log_dock.height() < w.height() / 4
    from genre_desktop.app.results_table import COL_FILE

    assert w.results.tagged.table.columnWidth(COL_FILE) >= 100  # was squeezed to ~20 px
    save_screenshot(w, "main_window_1024x700.png", artifacts_dir)


def test_metrics_cells_are_whole_and_rates_readable(qtbot, xvfb_display):
    from genre_desktop.app.results import MetricsTab

    tab = MetricsTab()
    qtbot.addWidget(tab)
    tab.resize(460, 420)  # the Metrics tab in a 1024-pixel window
    tab.show()
    qtbot.waitExposed(tab)
    tab.set_metrics({
        "songs_per_minute": 331735.933, "latency_p50_s": 0.0091,
        "targets": [{"name": "confidence when correct", "goal": "> 0.7 mean", "value": 0.00912,
                     "met": False},
                    {"name": "accuracy", "goal": "> 70%", "value": 0.25, "met": False}],
    })
    assert tab.values["songs_per_minute"].text() == "331,736"
    qtbot.wait(50)
    targets = tab.targets
    for col in range(targets.columnCount()):  # "Measurec", "> 7…" were cut
        assert targets.columnWidth(col) >= targets.sizeHintForColumn(col), col
        header = targets.horizontalHeader()
        assert header.sectionSize(col) >= header.sectionSizeHint(col), col
