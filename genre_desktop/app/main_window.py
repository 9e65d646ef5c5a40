"""The main window: browser, player, results tabs, error log, progress and the run controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
)

from genre_desktop.app import core_calls
from genre_desktop.app.batch_choice import batch_or_on_demand
from genre_desktop.app.browser import BrowserPanel
from genre_desktop.app.first_use import KernelWarmup
from genre_desktop.app.log_dock import ErrorLogDock, show_run_notice
from genre_desktop.app.player import PlayerPanel
from genre_desktop.app.results import ResultsPanel
from genre_desktop.app.settings import AppSettings
from genre_desktop.app.welcome import WelcomePage
from genre_desktop.app.window_menus import build_actions, build_status_bar
from genre_desktop.app.wording import mmss, phase_text, plural
from genre_desktop.app.workers import RunController, run_task
from genre_desktop.core.results import SongResult

BACKEND_LABELS = {"local": "offline model", "bedrock": "Bedrock", "ensemble": "ensemble"}


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, folder: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Genre Desktop")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.folder: str = ""
        self.run_controller = RunController(self)
        self.run_controller.events.connect(self._on_run_events)
        self.run_controller.finished.connect(self._on_run_finished)
        self.run_controller.failed.connect(self._on_run_failed)
        self.run_controller.notice.connect(lambda notice: show_run_notice(self, notice))
        self.last_summary: Any = None
        self.last_export: dict[str, Path] = {}
        self.use_feature_cache = True  # tests turn it off to measure real extraction work
        self._child_run: Any = None
        self._scan_token = 0
        from genre_desktop.app.plot_render import RENDERER

        RENDERER.reopen()  # a window closed earlier in this process shut the helper down

        self.browser = BrowserPanel()
        self.player = PlayerPanel()
        self.results = ResultsPanel()
        self.results.tagged.threshold.setValue(self.settings.low_confidence)
        self.results.tagged.threshold.valueChanged.connect(self._threshold_changed)
        self.results.tagged.selected.connect(self.browser.select_path)
        self.log_dock = ErrorLogDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.log_dock.hide()  # shown when the first error arrives
        self.player.volume.setValue(self.settings.volume)
        self.player.refresh_devices(self.settings.output_device)
        self.player.message.connect(lambda text: self.statusBar().showMessage(text, 8000))

        self.browser.play_requested.connect(lambda p: self.player.load(p, autoplay=True))
        self.browser.classify_requested.connect(self.classify_paths)
        self.browser.show_details_requested.connect(self.show_prompt_and_response)
        self.browser.reveal_requested.connect(self.reveal_in_file_manager)
        self.browser.current_song_changed.connect(self._current_changed)

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.browser)
        left.addWidget(self.player)
        left.setSizes([460, 240])
        self.main_split = QSplitter()
        self.main_split.addWidget(left)
        self.main_split.addWidget(self.results)
        self.main_split.setSizes([720, 560])
        self.welcome = WelcomePage()
        self.welcome.open_requested.connect(self.choose_folder)
        self.welcome.download_requested.connect(self.download_gtzan)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.main_split)
        self.setCentralWidget(self.stack)

        build_actions(self)
        from genre_desktop.app.review import install_review

        install_review(self)  # the Review tab, Edit > Undo tag write, Write tags…
        build_status_bar(self)
        self.kernel_warmup = KernelWarmup(self.statusBar(), self.progress)
        self.kernel_warmup.start()  # a first start without `make venv` (the frozen app)
        self._set_song_actions(False)
        self._restore_window()
        self.update_model_label()
        last = folder or self.settings.last_folder
        if last and Path(last).is_dir():
            self.open_folder(last)

    # -- construction -----------------------------------------------------------------------
    def _restore_window(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 760)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        if self.log_dock.count() == 0:
            self.log_dock.hide()  # an empty log left open last time: shown with the 1st error

    def update_model_label(self) -> None:
        choice = self.settings.backend_choice()
        text = BACKEND_LABELS.get(choice.backend, choice.backend)
        if choice.backend != "local":
            text += f": {choice.model} ({choice.profile or 'default credentials'}, " \
                    f"{choice.region})"
        self.model_label.setText(f"Model: {text}  ")

    # -- folders ----------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of songs",
                                                  self.settings.last_folder or str(Path.home()))
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str) -> None:
        """Scan on a pool thread; rows arrive in one batch, durations in a second pass.

        A run belongs to its folder: the tabs, the player and the export start empty here.
        """
        if self.run_controller.is_running():
            if not self.confirm_stop_run("open another folder"):
                return
            self.stop_run_now()
        self.player.unload()
        self.browser.set_songs([])  # the old folder's songs go now, not when the scan ends
        self.results.clear()
        self.last_summary, self.last_export = None, {}
        self._run_paths = []
        self.progress_label.setText("")
        self.folder = str(Path(folder).resolve())
        self.tag_writer.follow_folder(self.folder)  # Edit > Undo: this folder's last tag write
        self.statusBar().showMessage(f"Reading {self.folder} ...")
        self._scan_token += 1
        token, path = self._scan_token, self.folder
        # Only the last folder asked for is shown, whichever scan ends first.
        run_task(lambda: core_calls.scan_folder(path),
                 lambda rows: token == self._scan_token and self._on_scanned(rows),
                 lambda text: token == self._scan_token and self._folder_failed(text))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = [f for f in self.settings.recent_folders if Path(f).is_dir()]
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _checked=False, f=folder: self.open_folder(f))
        if not folders:
            self.recent_menu.addAction("No recent folders").setEnabled(False)

    def focus_filter(self) -> None:
        if self.stack.currentWidget() is self.main_split:
            self.browser.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.browser.filter_edit.selectAll()

    def show_about(self) -> None:
        from genre_desktop.app.about import about_text

        QMessageBox.about(self, "About Genre Desktop", about_text(self.settings.path))

    def _set_song_actions(self, enabled: bool) -> None:
        for action in (self.classify_action, self.reclassify_action, self.classify_all_action,
                       self.export_action):
            action.setEnabled(enabled)

    def _on_scanned(self, rows: list[Any]) -> None:
        # A run belongs to its folder: the tabs show this folder's results, never a mix.
        self.results.clear()
        self.results.songs_asked = None
        self.last_export = {}
        self.browser.set_songs(rows)
        self._set_song_actions(True)
        self.stack.setCurrentWidget(self.main_split)
        self.settings.last_folder = self.folder
        self.settings.add_recent_folder(self.folder)
        self.setWindowTitle(f"Genre Desktop — {Path(self.folder).name}")
        genres = len({r.folder_genre for r in rows if r.folder_genre})
        self.statusBar().showMessage(
            f"{plural(len(rows), 'song')} in {self.folder}"
            + (f", {plural(genres, 'genre folder')}" if genres else ""))
        paths = [r.path for r in rows]
        run_task(lambda: core_calls.probe_durations(paths), self._on_durations)

    def _on_durations(self, durations: dict[str, float | None]) -> None:
        self.browser.model.update_rows({p: {"duration_s": d} for p, d in durations.items()})

    def _folder_failed(self, text: str) -> None:
        self.statusBar().showMessage(f"Cannot open the folder: {text}")
        self.log_dock.add_message("folder", text)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_folder(urls[0].toLocalFile())

    def download_gtzan(self) -> None:
        self.statusBar().showMessage("Downloading GTZAN with kagglehub ...")
        self.download_action.setEnabled(False)
        self.welcome.set_busy(True, "Downloading GTZAN ...")
        run_task(core_calls.download_gtzan, self._downloaded, self._download_failed)

    def _downloaded(self, outcome: tuple[str | None, str]) -> None:
        folder, problem = outcome
        self.download_action.setEnabled(True)
        if folder is None:
            self._download_failed(problem)
            return
        self.welcome.set_busy(False, f"GTZAN is in {folder}")
        self.open_folder(folder)

    def _download_failed(self, message: str) -> None:
        self.download_action.setEnabled(True)
        self.welcome.set_busy(False, message)
        self.statusBar().showMessage(message, 15000)
        self.log_dock.add_message("download", message, stage="download")

    # -- player -----------------------------------------------------------------------------
    def _current_changed(self, path: str) -> None:
        if not self.player.engine.is_playing():
            self.player.load(path)
        self.results.tagged.follow(path)

    def toggle_play(self) -> None:
        current = self.browser.current_path()
        loaded = self.player.current.path if self.player.current else None
        if current and current != loaded and not self.player.engine.is_playing():
            self.player.load(current, autoplay=True)
        else:
            self.player.toggle_play()

    # -- classification ---------------------------------------------------------------------
    def classify_selection(self, force: bool = False) -> None:
        paths = self.browser.selected_paths()
        if not paths and self.browser.current_path():
            paths = [self.browser.current_path()]  # type: ignore[list-item]
        self.classify_paths(paths, force)

    def classify_all(self) -> None:
        self.classify_paths(self.browser.visible_paths(), False)

    def classify_paths(self, paths: list[str], force: bool = False,
                       resume: str | None = None) -> None:
        if self.run_controller.is_running():
            self.statusBar().showMessage("A run is going; cancel it or wait for it to finish.")
            return
        if not force:
            done = {r.path for r in self.results.results() if r.ok}
            skipped = [p for p in paths if p in done]
            paths = [p for p in paths if p not in done]
            if skipped and not paths:
                self.statusBar().showMessage(
                    f"{plural(len(skipped), 'song')} already classified; use Re-classify to "
                    "redo them.")
                return
        if not paths:
            self.statusBar().showMessage("Select songs to classify, or use Classify all.")
            return
        choice = batch_or_on_demand(self, self.settings.backend_choice(), len(paths), resume)
        if choice is None:  # a batch job too small, and the user did not want on demand
            return
        self.browser.model.update_rows({p: {"status": "queued", "error": ""} for p in paths})
        self.results.begin_run(len(paths))
        self._run_paths = paths
        self.progress.setRange(0, len(paths))
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_action.setEnabled(True)
        for action in (self.classify_action, self.reclassify_action, self.classify_all_action):
            action.setEnabled(False)
        label = BACKEND_LABELS.get(choice.backend, choice.backend)
        self.statusBar().clearMessage()  # the progress line needs the room
        self.progress_label.setText(f"Starting {plural(len(paths), 'song')} on the {label} ...")
        from genre_desktop.app.run_process import run_in_child

        self._child_run = run_in_child(paths, choice, use_cache=self.use_feature_cache,
                                       folder=self.folder or None, resume=resume)
        self.run_controller.start(self._child_run)

    def cancel_run(self) -> None:
        if self.run_controller.is_running() and not self.run_controller.cancelled():
            self.run_controller.cancel()
            self.progress_label.setText("Cancelling…")
            self.statusBar().showMessage("Cancelling… finished songs are kept.")
            self.cancel_button.setEnabled(False)
            self.cancel_action.setEnabled(False)

    def _on_run_events(self, events: list[Any]) -> None:
        """One batch of pipeline events: one model update, one log update, one label."""
        results: list[SongResult] = [e.latest for e in events if e.latest is not None]
        if results:
            changes: dict[str, dict[str, Any]] = {}
            for r in results:
                # A failure shows the last good answer it did not erase (kept beside it).
                p = r.prediction or r.last_good or self._last_good(r.path)
                changes[r.path] = {
                    "status": "done" if r.prediction else "error",
                    "prediction": p.predicted_genre if p else "",
                    "confidence": p.confidence if p else None,
                    "error": f"{r.error.reason}: {r.error.message}" if r.error else "",
                }
            self.browser.model.update_rows(changes)
            self.results.add_results(results)
            errors = [r.error for r in results if r.error is not None]
            if errors:
                self.log_dock.add_errors(errors)
                self.show_log()
        last = events[-1]
        self.results.elapsed_s = last.elapsed_s
        self.progress.setRange(0, max(last.total, 1))
        self.progress.setValue(last.done)
        self.progress_label.setText(self._progress_text(last))
        if last.total and last.done >= last.total:
            # Every song is in: nothing left to cancel while the run writes its last bits.
            self.cancel_button.setEnabled(False)
            self.cancel_action.setEnabled(False)

    def _progress_text(self, last: Any) -> str:
        """The status bar's line: what the run is doing, songs n/N, accuracy, errors, cost."""
        acc = "—" if last.accuracy is None else f"{last.accuracy:.0%}"
        phase = phase_text(last)
        cancelling = self.run_controller.cancelled() and last.done < last.total
        if cancelling:
            phase = "Cancelling… "
        text = (f"{phase}{last.done}/{last.total} songs · accuracy {acc} · "
                f"{plural(last.errors, 'error')} · ${last.cost_usd:.4f} · "
                f"ETA {mmss(last.eta_s)}")
        if last.done == 0 and phase:  # nothing to count yet: just what it is doing
            text = f"{phase}0/{last.total} songs · accuracy — · $0.0000 · ETA —"
        return text

    def _last_good(self, path: str) -> Any:
        shown = self.results.tagged.model.result_for(path)
        return None if shown is None else (shown.prediction or shown.last_good)

    def show_log(self) -> None:
        """Show the error log at a modest height (a tenth of the window), not a quarter."""
        if self.log_dock.isVisible():
            return
        self.log_dock.show()
        self.resizeDocks([self.log_dock], [max(110, self.height() // 7)], Qt.Orientation.Vertical)

    def _end_run(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.setEnabled(True)
        self.cancel_action.setEnabled(False)
        for action in (self.classify_action, self.reclassify_action, self.classify_all_action):
            action.setEnabled(True)
        rows = [self.browser.model.row_for(p) for p in getattr(self, "_run_paths", [])]
        leftover = [r.path for r in rows if r is not None and r.status == "queued"]
        # Never reached: no answer of this run, so none of an older one either.
        self.browser.model.update_rows({p: {"status": "cancelled", "prediction": "",
                                            "confidence": None} for p in leftover})
        self.results.schedule_metrics(now=True)

    def _on_run_finished(self, summary: Any) -> None:
        self.last_summary = summary
        self._end_run()
        verb = "Cancelled" if summary.cancelled else "Finished"
        text = (f"{verb}: {summary.done}/{summary.total} songs, "
                f"{plural(summary.errors, 'error')}, {summary.elapsed_s:.1f} s")
        if summary.last is not None and summary.last.accuracy is not None:
            text += f", accuracy {summary.last.accuracy:.0%}"
        self.progress_label.setText(text)
        self.statusBar().showMessage("Results are kept: File > Export reports saves them.")

    def _on_run_failed(self, text: str) -> None:
        self._end_run()
        self.progress_label.setText("The run could not start")
        self.log_dock.add_message("run_failed", text, stage="pipeline")
        self.show_log()
        QMessageBox.warning(self, "Classification could not run", text)

    # -- results ----------------------------------------------------------------------------
    def _threshold_changed(self, value: float) -> None:
        self.settings.low_confidence = value

    def show_prompt_and_response(self, path: str) -> None:
        if self.results.tagged.select_path(path):
            self.results.setCurrentWidget(self.results.tagged)
            self.results.tagged.details.setCurrentWidget(self.results.tagged.prompt)
        else:
            self.statusBar().showMessage("This song has no result yet: classify it first.")

    def reveal_in_file_manager(self, path: str) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))

    def choose_export_folder(self) -> None:
        start = self.settings.export_folder or self.settings.last_folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Export reports to", start)
        if folder:
            self.export_to(folder)

    def export_to(self, folder: str) -> None:
        results = self.results.results()
        if not results:
            self.statusBar().showMessage("Nothing to export yet: classify some songs first.")
            return
        asked, elapsed = self.results.songs_asked, self.results.elapsed_s
        self.settings.export_folder = folder
        from genre_desktop.app.plot_render import RENDERER

        root = self.folder or None
        run_task(lambda: RENDERER.export(results, folder, max(asked or 0, len(results)),
                                         elapsed, root), self._exported,
            lambda text: self.log_dock.add_message("export_failed", text, stage="export"))

    def _exported(self, paths: dict[str, Path]) -> None:
        self.last_export = paths
        folder = next(iter(paths.values())).parent if paths else ""
        self.statusBar().showMessage(f"Wrote {len(paths)} report files to {folder}")

    def results_folder(self) -> Path | None:
        if self.last_export:
            return next(iter(self.last_export.values())).parent
        if self.settings.export_folder:
            return Path(self.settings.export_folder) / "bedrock_results"
        return None

    def open_results_folder(self) -> None:
        folder = self.results_folder()
        if folder is None or not folder.is_dir():
            self.statusBar().showMessage("No results folder yet: use Export reports first.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- settings ---------------------------------------------------------------------------
    def edit_profiles(self) -> None:
        from genre_desktop.app.profiles_dialog import ProfilesDialog

        dialog = ProfilesDialog(self.settings, self)
        if dialog.exec():
            self.update_model_label()

    def confirm_stop_run(self, to: str) -> bool:
        """Ask before a run is stopped for `to` (finished songs are kept in its run store)."""
        answer = QMessageBox.question(
            self, "Stop the classification?",
            f"A classification run is still going. Stop it and {to}?\n\n"
            "Songs already classified are kept; the others are not classified.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def stop_run_now(self) -> None:
        """Cancel and end the run's processes at once; returns when its thread is done."""
        if not self.run_controller.is_running():
            return
        self.statusBar().showMessage("Stopping the run ...")
        self.run_controller.cancel()
        if self._child_run is not None:
            self._child_run.hurry()
        self.run_controller.wait(5000)
        # Its last queued signals belong to the folder being left: handled now, then cleared.
        from PySide6.QtCore import QCoreApplication

        QCoreApplication.processEvents()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.run_controller.is_running():
            if not self.confirm_stop_run("close Genre Desktop"):
                event.ignore()
                return
            self.stop_run_now()  # it may have ended while we asked: then a no-op
        self.player.shutdown()
        self.kernel_warmup.stop()
        from PySide6.QtCore import QThreadPool

        from genre_desktop.app.plot_render import RENDERER

        RENDERER.shutdown()
        # Scans, song loads and plot requests still on pool threads end before Python does.
        QThreadPool.globalInstance().waitForDone(3000)
        self.settings.save_window(QByteArray(self.saveGeometry()), QByteArray(self.saveState()))
        self.settings.volume = self.player.volume.value()
        self.settings.output_device = self.player.device_name()
        self.settings.sync()
        super().closeEvent(event)
