"""Edit > Undo after a restart: the undo comes from the run's journal, not the window's memory."""

from __future__ import annotations

import mutagen
import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder
from batch_helpers import prediction, result
from tag_files import make_song, pcm_hash

from genre_desktop.core.cache import file_sha256
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore
from genre_desktop.core.tag_journal import TagJournal

pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _genres(path) -> list[str]:
    """Read back with mutagen itself (not through core.tagio)."""
    tags = mutagen.File(path).tags
    if path.suffix == ".mp3":
        return list(tags["TCON"].text) if "TCON" in tags else []
    return list(tags.get("genre", []))


def _run_of(folder, files, genres) -> str:
    """The run a classification of `folder` would leave (answers and analysed hashes)."""
    songs = [Song(str(f), None) for f in files]
    meta = {"folder": str(folder.resolve()), "backend": "local"}
    with RunStore.create(songs, settings=Settings().to_dict(), meta=meta) as store, \
            TagJournal(store.path) as journal:
        for f, g in zip(files, genres, strict=True):
            store.save(result(str(f), None, prediction(g, 0.9)))
        journal.record_hashes([(str(f), file_sha256(f)) for f in files], "analysed")
        return store.run_id


def _new_window(qtbot, settings):
    from genre_desktop.app.main_window import MainWindow

    window = MainWindow(settings)  # opens the settings' last folder, as after a restart
    window.show()
    qtbot.waitExposed(window)
    return window


def test_undo_a_tag_write_after_closing_the_window(qtbot, main_window, app_settings,
                                                   tmp_path):
    from genre_desktop.app.past_runs import reopen_run
    from genre_desktop.core.runs import past_runs

    folder = tmp_path / "music"
    files = [make_song(folder, "mp3v24", name="a.mp3", freq=330),
             make_song(folder, "flac", name="b.flac", freq=660),
             make_song(folder, "mp3v23", name="c.mp3", freq=990)]
    audio = {f: pcm_hash(f) for f in files}
    run_id = _run_of(folder, files, ["blues", "jazz", "hiphop"])
    w = main_window
    open_folder(qtbot, w, folder, expected=3)
    assert not w.undo_tags_action.isEnabled()
    (run,) = past_runs(folder)
    reopen_run(w, run)
    qtbot.waitUntil(lambda: w.review.model.rowCount() == 3, timeout=30000)
    paths = [str(f) for f in files]
    w.review.accept(paths[:2])
    w.review.reject(paths[2:])
    w.review.write_button.click()
    dialog = w.tag_writer.dialog
    qtbot.waitUntil(lambda: not dialog.planning and dialog.write_button.isEnabled(),
                    timeout=30000)
    dialog.write_button.click()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60000)
    assert dialog.summary.written == 2
    assert [_genres(f) for f in files] == [["Blues"], ["Jazz"], ["Old"]]
    qtbot.waitUntil(lambda: w.undo_tags_action.isEnabled(), timeout=10000)
    assert w.undo_tags_action.text() == "&Undo writing genres to 2 files"
    dialog.close()
    w.close()  # the app ends: nothing of the write is left in memory

    w2 = _new_window(qtbot, app_settings)
    try:
        assert w2.folder == str(folder.resolve())
        qtbot.waitUntil(lambda: w2.undo_tags_action.isEnabled(), timeout=30000)
        assert w2.undo_tags_action.text() == "&Undo writing genres to 2 files"
        assert w2.tag_writer.store_path.stem == run_id
        undone = []
        w2.tag_writer.undone.connect(undone.append)
        w2.undo_tags_action.trigger()
        qtbot.waitUntil(lambda: bool(undone), timeout=60000)
        assert undone[0].written == 2 and not undone[0].skipped
        assert [_genres(f) for f in files] == [["Old"], ["Old"], ["Old"]]
        assert all(pcm_hash(f) == audio[f] for f in files)
        qtbot.waitUntil(lambda: w2.undo_tags_action.text() == "&Undo tag write",
                        timeout=10000)
        assert not w2.undo_tags_action.isEnabled()

        # The reopened past run: its review decisions come back from the journal; writing
        # again from it and closing again, Undo is there once more in a third window.
        reopen_run(w2, run)
        qtbot.waitUntil(lambda: len(w2.review.model.decisions) == 3, timeout=30000)
        assert {p: d.decision for p, d in w2.review.model.decisions.items()} == {
            paths[0]: "accepted", paths[1]: "accepted", paths[2]: "rejected"}
        w2.review.accept(paths[2:])
        w2.review.write_button.click()
        dialog = w2.tag_writer.dialog
        qtbot.waitUntil(lambda: not dialog.planning and dialog.write_button.isEnabled(),
                        timeout=30000)
        dialog.write_button.click()
        qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60000)
        assert dialog.summary.written == 3
        dialog.close()
    finally:
        w2.close()
        w2.deleteLater()
    w3 = _new_window(qtbot, app_settings)
    try:
        reopen_run(w3, run)
        qtbot.waitUntil(lambda: w3.review.model.rowCount() == 3
                        and w3.undo_tags_action.isEnabled(), timeout=30000)
        assert w3.undo_tags_action.text() == "&Undo writing genres to 3 files"
        undone = []
        w3.tag_writer.undone.connect(undone.append)
        w3.undo_tags_action.trigger()
        qtbot.waitUntil(lambda: bool(undone), timeout=60000)
        assert [_genres(f) for f in files] == [["Old"], ["Old"], ["Old"]]
    finally:
        w3.close()
        w3.deleteLater()
