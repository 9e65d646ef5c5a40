"""The main window's menus, toolbar, shortcuts and status-bar run controls (built once)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QProgressBar, QPushButton, QToolBar, QWidget

from genre_desktop.app.past_runs import show_past_runs


def window_action(w: Any, text: str, slot: Any, shortcut: Any = None, tip: str = ""
                  ) -> QAction:
    """An action of the window, its shortcut in its tooltip, active with the menu bar hidden."""
    action = QAction(text, w)
    plain = (tip or text).replace("&", "").rstrip(".")
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{plain} ({keys})")  # toolbar tooltips say the shortcut
    else:
        action.setToolTip(plain)
    action.setStatusTip(plain)  # the status bar showed "&Model and AWS profile..."
    action.triggered.connect(slot)
    w.addAction(action)  # shortcuts work with the menu bar hidden too
    return action


def build_actions(w: Any) -> None:
    """Menus, toolbar and window-wide shortcuts; sets the *_action attributes on `w`."""
    def a(*args: Any) -> QAction:
        return window_action(w, *args)

    w.open_action = a("&Open folder...", w.choose_folder, QKeySequence.StandardKey.Open)
    w.download_action = a("&Download GTZAN...", w.download_gtzan)
    w.export_action = a("&Export reports...", w.choose_export_folder)
    w.open_results_action = a("Open &results folder", w.open_results_folder)
    w.past_runs_action = a("&Past runs...", lambda: show_past_runs(w), None,
                           "Reopen or resume a stored run")
    quit_action = a("&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.classify_action = a("&Classify selection", lambda: w.classify_selection(False),
                          "Ctrl+R", "Classify the selected songs (or the current one)")
    w.reclassify_action = a("&Re-classify selection", lambda: w.classify_selection(True),
                            "Ctrl+Shift+R")
    w.classify_all_action = a("Classify &all", w.classify_all, "Ctrl+Alt+R",
                              "Classify every song shown in the table")
    w.cancel_action = a("Ca&ncel", w.cancel_run, "Esc")
    w.cancel_action.setEnabled(False)
    w.play_action = a("&Play / pause", w.toggle_play, Qt.Key.Key_Space)
    w.profiles_action = a("&Model and AWS profile...", w.edit_profiles)
    w.find_action = a("&Filter songs", w.focus_filter, QKeySequence.StandardKey.Find,
                      "Type to filter the song list")
    w.about_action = a("&About Genre Desktop", w.show_about)
    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    w.recent_menu = QMenu("Recent &folders", w)
    w.recent_menu.aboutToShow.connect(w._fill_recent_menu)
    file_menu.addAction(w.open_action)
    file_menu.addMenu(w.recent_menu)
    for action in (w.download_action, None, w.past_runs_action, w.export_action,
                   w.open_results_action, None, quit_action):
        file_menu.addSeparator() if action is None else file_menu.addAction(action)
    run_menu = menu.addMenu("&Classify")
    for action in (w.classify_action, w.reclassify_action, w.classify_all_action,
                   w.cancel_action, None, w.profiles_action):
        run_menu.addSeparator() if action is None else run_menu.addAction(action)
    view_menu = menu.addMenu("&View")
    view_menu.addAction(w.play_action)
    view_menu.addAction(w.find_action)
    view_menu.addSeparator()
    w.view_menu = view_menu
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(w.about_action)

    toolbar = QToolBar("Toolbar")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    for action in (w.open_action, w.classify_action, w.classify_all_action,
                   w.cancel_action, w.export_action, w.profiles_action):
        toolbar.addAction(action)
    w.model_label = QLabel()
    w.model_label.setObjectName("modelLabel")
    spacer = QWidget()
    spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                         spacer.sizePolicy().verticalPolicy())
    toolbar.addWidget(spacer)
    toolbar.addWidget(w.model_label)
    w.addToolBar(toolbar)
    w.toolbar = toolbar
    # Whatever can be hidden can be shown again from here.
    view_menu.addAction(toolbar.toggleViewAction())
    view_menu.addAction(w.log_dock.toggleViewAction())

def build_status_bar(w: Any) -> None:
    """Progress label, bar and Cancel button on the right of the status bar."""
    bar = w.statusBar()
    w.progress = QProgressBar()
    w.progress.setObjectName("runProgress")
    w.progress.setMaximumWidth(220)
    w.progress.setTextVisible(True)
    w.progress_label = QLabel("")
    w.progress_label.setObjectName("progressLabel")
    w.progress.setAccessibleName("Run progress")
    w.cancel_button = QPushButton("Cancel")
    w.cancel_button.setToolTip("Cancel the run (Esc); finished songs are kept")
    w.cancel_button.setAccessibleName("Cancel the run")
    w.cancel_button.clicked.connect(w.cancel_run)
    for widget in (w.progress, w.cancel_button):
        widget.hide()
    bar.addPermanentWidget(w.progress_label)
    bar.addPermanentWidget(w.progress)
    bar.addPermanentWidget(w.cancel_button)
    bar.showMessage("Open a folder of songs to begin (Ctrl+O), or drop one on the window.")
