"""What the main window's tag actions call: Write tags…, Edit > Undo, and learning from review.

Edit > Undo is read from the journal in the run store (core.tagging.undo_step), never from
memory, so it survives a restart: opening a folder points it at the run of that folder whose
tags were written last, reopening a past run at that run. Its label says what it would undo.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from genre_desktop.app.tag_dialog import WriteTagsDialog
from genre_desktop.app.workers import run_task

UNDO_IDLE = "&Undo tag write"
_learn_threads: QThreadPool | None = None


def _learn_pool() -> QThreadPool:
    """One thread of its own for learning: a retrain waits for its child process for many
    seconds, and on the shared pool (2 threads on a 2-core machine) two of them held up every
    folder scan, tag plan and undo of the app until they ended. One at a time, too: two
    windows must not refit the same model at once."""
    global _learn_threads
    if _learn_threads is None:
        _learn_threads = QThreadPool()
        _learn_threads.setMaxThreadCount(1)
    return _learn_threads


class TagWriter(QObject):
    """One dialog at a time; `store_path` is the run whose tags are written and undone."""

    undone = Signal(object)
    undo_changed = Signal(object)  # core.tagging.UndoStep | None, once the journal is read
    learned_signal = Signal(int)  # rows added to the user's reference by one review action

    def __init__(self, window: Any, tab: Any) -> None:
        super().__init__(window)
        self.window, self.tab = window, tab
        self.store_path: Path | None = None
        self.undo_step: Any = None
        self.dialog: WriteTagsDialog | None = None
        self.learned = 0
        self.retrained_model: str | None = None
        self._serial = 0  # the newest use_run/follow_folder wins, whichever read ends first
        self._pending: dict[str, tuple[Any, str]] = {}
        self._learning = False
        self._learn_timer = QTimer(self)
        self._learn_timer.setSingleShot(True)
        self._learn_timer.setInterval(1500)
        self._learn_timer.timeout.connect(self._start_learning)

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 10000)

    # -- which run ----------------------------------------------------------------------------
    def use_run(self, store_path: str | Path | None, results: list[Any] | None = None) -> None:
        """Write and undo in this run from now on; with `results` (a reopened run) they fill
        the Review tab with the decisions its journal holds."""
        self._serial += 1
        self.store_path = Path(store_path) if store_path is not None else None
        if results is not None:
            self.tab.model.clear()
            self.tab.add_results(results)
        self.refresh_undo(decisions=results is not None)

    def follow_folder(self, folder: str) -> None:
        """Another folder: an empty Review tab, and Undo for the folder's last tag write."""
        self.tab.model.clear()
        self.use_run(None)
        serial = self._serial

        def found(path: Path | None) -> None:
            if serial == self._serial and path is not None:
                self.use_run(path)

        def lookup() -> Path | None:
            from genre_desktop.core.tagging import tag_run_for_folder

            return tag_run_for_folder(folder)

        run_task(lookup, found, lambda text: self._say(f"Cannot read the folder's runs: {text}"))

    def refresh_undo(self, *, decisions: bool = False) -> None:
        serial, store = self._serial, self.store_path
        self._show_undo(None)
        if store is None:
            return

        def read() -> tuple[Any, dict[str, Any]]:
            from genre_desktop.core.tag_journal import TagJournal
            from genre_desktop.core.tagging import undo_step

            if not decisions:
                return undo_step(store), {}
            with TagJournal(store) as journal:
                return undo_step(store), journal.decisions()

        def done(outcome: tuple[Any, dict[str, Any]]) -> None:
            if serial != self._serial:
                return
            step, stored = outcome
            for path, d in stored.items():
                self.tab.model.decide([path], d.decision, d.genre)
            self._show_undo(step)

        run_task(read, done, lambda text: self._say(f"Cannot read the tag journal: {text}"))

    def _show_undo(self, step: Any) -> None:
        self.undo_step = step
        action = self.window.undo_tags_action
        action.setEnabled(step is not None)
        action.setText(f"&{step.label}" if step is not None else UNDO_IDLE)
        self.undo_changed.emit(step)

    # -- write and undo -----------------------------------------------------------------------
    def open_dialog(self) -> None:
        if self.store_path is None or not self.tab.model.results():
            self._say("Classify some songs first: their genres are what gets written.")
            return
        self.dialog = WriteTagsDialog(self.window, self.tab.model.results(),
                                      self.tab.model.decisions, self.store_path)
        store = self.store_path
        self.dialog.written.connect(lambda summary: self._written(summary, store))
        self.dialog.show()

    def _written(self, summary: Any, store: Path) -> None:
        if summary.written and store == self.store_path:
            from genre_desktop.core.tagging import UndoStep

            # What the journal now says, known without reading it; a read still under way
            # (from before this write) must not replace it.
            self._serial += 1
            self._show_undo(UndoStep(store, summary.batch, summary.written, time.time()))
        else:
            self.refresh_undo()
        self._say(f"Wrote genre tags to {summary.written} files (Edit > Undo restores them).")

    def undo_last(self) -> None:
        step = self.undo_step
        if step is None:
            return
        self._show_undo(None)
        self._say(f"Restoring the tags of {step.files} files …")
        store = step.store_path

        def run() -> Any:
            from genre_desktop.core.store import RunStore
            from genre_desktop.core.tag_journal import TagJournal
            from genre_desktop.core.tagging import tag_lock, undo

            with RunStore.open(store, writer=True), TagJournal(store) as journal, \
                    tag_lock(store):  # one writer per run, as untag
                return undo(journal, batch=step.batch)

        def failed(text: str) -> None:
            self._say(f"Undo failed: {text}")
            self.refresh_undo()

        run_task(run, self._undone, failed)

    def _undone(self, summary: Any) -> None:
        text = f"Restored the old tags of {summary.written} files."
        if summary.skipped:
            text += " Skipped: " + "; ".join(f"{n}: {w}" for n, w in summary.skipped[:3])
        self._say(text)
        self.refresh_undo()  # an earlier write of the same run is next
        self.undone.emit(summary)

    # -- learning from the review ---------------------------------------------------------------
    def learn(self, pairs: list[Any]) -> None:
        """Reviewed songs become rows of the user's own reference, then the offline model is
        refitted on it, in a child process (training holds the GIL for 100-500 ms at a time,
        which would stall the window). Review clicks in quick succession go in one job."""
        for result, decision in pairs:
            genre = (decision.genre if decision.decision == "corrected"
                     else result.prediction.predicted_genre)
            self._pending[result.path] = (result, genre)
        self._learn_timer.start()

    def forget(self, results: list[Any]) -> None:
        """Rejected songs leave the user's reference (if an earlier accept put them there)."""
        for r in results:
            self._pending.pop(r.path, None)
        hashes = [r.content_hash or r.path for r in results]

        def run() -> int:
            from genre_desktop.core.user_reference import forget

            return forget(hashes)

        run_task(run, None, lambda text: self._say(f"Could not update your reference: {text}"))

    def _start_learning(self) -> None:
        if self._learning or not self._pending:
            return
        payload, self._pending = list(self._pending.values()), {}
        self._learning = True
        environ = dict(os.environ)

        def done(outcome: tuple[int, str | None]) -> None:
            self._learning = False
            added, model = outcome
            self.learned += added
            self.retrained_model = model or self.retrained_model
            self.learned_signal.emit(added)
            if self._pending:
                self._learn_timer.start()

        def failed(text: str) -> None:
            self._learning = False
            self._say(f"Could not add to your reference: {text}")

        run_task(lambda: learn_in_child(payload, environ), done, failed, pool=_learn_pool())


def _learn_child(payload: list[Any], environ: dict[str, str]) -> tuple[int, str | None]:
    os.environ.clear()
    os.environ.update(environ)  # user folders as the window has them
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)
    from genre_desktop.core.user_reference import learn_from_review, retrain

    added = learn_from_review(payload)
    return added, (retrain() if added else None)


def learn_in_child(payload: list[Any], environ: dict[str, str]) -> tuple[int, str | None]:
    """Blocking (a worker thread): add the rows and retrain in a child process."""
    from concurrent.futures import ProcessPoolExecutor

    from genre_desktop.app.run_process import child_context

    with ProcessPoolExecutor(max_workers=1, mp_context=child_context()) as pool:
        return pool.submit(_learn_child, payload, environ).result()
