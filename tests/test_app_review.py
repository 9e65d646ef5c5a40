"""Review and write tags from the window: accept, correct, reject, the plan, the write, undo."""

from __future__ import annotations

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder, save_screenshot, wait_for_run
from tag_files import ffprobe_genre, make_song, pcm_hash

from genre_desktop.core.tagio import read_tags

pytestmark = [pytest.mark.gui, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_review_correct_write_and_undo_mp3_and_flac(qtbot, main_window, tmp_path,
                                                    artifacts_dir):
    from genre_desktop.app.review import COL_DOUBT, PATH_ROLE, doubt

    w = main_window
    folder = tmp_path / "music"
    files = [make_song(folder, fmt, name=name, freq=freq, seconds=2.0)
             for fmt, name, freq in (("mp3v23", "a-v23.mp3", 220), ("mp3v24", "b-v24.mp3", 880),
                                     ("flac", "c.flac", 3000), ("flac", "d.flac", 150))]
    audio = {f: pcm_hash(f) for f in files}
    open_folder(qtbot, w, folder, expected=4)
    w.browser.table.selectAll()
    w.classify_selection()
    wait_for_run(qtbot, w, timeout=240000)
    tab = w.review
    assert tab.model.rowCount() == 4

    # Doubtful first: the Doubt column, descending
    tab.sort_by_doubt()
    doubts = [float(tab.proxy.index(r, COL_DOUBT).data()) for r in range(4)]
    assert doubts == sorted(doubts, reverse=True)
    order = [tab.proxy.index(r, 0).data(PATH_ROLE) for r in range(4)]
    results = {r.path: r for r in tab.model.results()}
    assert [round(doubt(results[p]), 2) for p in order] == doubts

    # One song accepted through the selection and button, one corrected, one rejected,
    # then "accept all above" 0 takes the one left undecided.
    tab.table.selectRow(0)
    tab.accept_button.click()
    tab.correct([order[1]], "jazz")
    tab.table.selectRow(2)
    tab.reject_button.click()
    tab.threshold.setValue(0.0)
    tab.accept_all_button.click()
    decisions = tab.model.decisions
    assert [decisions[p].decision for p in order] == ["accepted", "corrected", "rejected",
                                                      "accepted"]
    assert "2 accepted · 1 corrected · 1 rejected · 0 to review" in tab.summary.text()
    w.results.setCurrentWidget(tab)
    save_screenshot(w, "main_window_review.png", artifacts_dir)

    # The accepted and corrected songs become rows of the user's reference, in a child
    # process, and the offline model is refitted on it.
    writer = w.tag_writer
    qtbot.waitUntil(lambda: writer.learned == 3 and writer.retrained_model is not None,
                    timeout=180000)
    from genre_desktop.core.user_reference import load_user_rows

    mine = load_user_rows()
    labels = dict(zip(mine["filename"], mine["label"], strict=True))
    assert labels == {name: results[p].prediction.predicted_genre for name, p in
                      ((p.rsplit("/", 1)[-1], p) for p in (order[0], order[3]))} | {
                          order[1].rsplit("/", 1)[-1]: "jazz"}

    # Write tags: the plan first, nothing written yet
    tab.write_button.click()
    dialog = w.tag_writer.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.planning and dialog.table.rowCount() == 4,
                    timeout=30000)
    assert all(read_tags(f).genres == ("Old",) for f in files), "planning wrote"
    rows = {dialog.table.item(r, 0).text(): [dialog.table.item(r, c).text() for c in (1, 2, 3)]
            for r in range(4)}
    name = {p: p.rsplit("/", 1)[-1] for p in order}
    expect = {order[0]: results[order[0]].prediction.predicted_genre,
              order[1]: "jazz", order[3]: results[order[3]].prediction.predicted_genre}
    shown = {"hiphop": "Hip-Hop"}
    for path, genre in expect.items():
        assert rows[name[path]][:2] == ["Old", shown.get(genre, genre.title())]
    assert rows[name[order[2]]] == ["Old", "(unchanged)", "rejected in review"]
    assert "3 files to write" in dialog.status.text()
    save_screenshot(dialog, "write_tags_dialog.png", artifacts_dir)

    # Another writer of the run (a --resume, the CLI's tag) holds its store: refused, nothing
    # written, and Write works again once it is gone.
    from genre_desktop.core.store import RunStore

    holder = RunStore.open(dialog.store_path, writer=True)
    dialog.write_button.click()
    qtbot.waitUntil(lambda: "Writing stopped" in dialog.status.text()
                    and dialog.write_button.isEnabled(), timeout=60000)
    assert "another process" in dialog.status.text().lower() or "pid" in dialog.status.text()
    assert dialog.summary is None
    assert all(read_tags(f).genres == ("Old",) for f in files), "written past the lock"
    holder.close()

    dialog.write_button.click()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=60000)
    assert dialog.summary.written == 3 and not dialog.summary.failed
    assert dialog.progress.value() == dialog.progress.maximum()
    for path, genre in expect.items():
        want = shown.get(genre, genre.title())
        f = next(f for f in files if str(f) == path)
        assert read_tags(f).genres == (want,) and ffprobe_genre(f) == [want]
        assert pcm_hash(f) == audio[f]
    rejected = next(f for f in files if str(f) == order[2])
    assert read_tags(rejected).genres == ("Old",)
    assert w.undo_tags_action.isEnabled()
    dialog.close()

    # Edit > Undo puts every old genre back
    undone = []
    w.tag_writer.undone.connect(undone.append)
    w.undo_tags_action.trigger()
    qtbot.waitUntil(lambda: bool(undone), timeout=60000)
    assert undone[0].written == 3
    for f in files:
        assert read_tags(f).genres == ("Old",) and ffprobe_genre(f) == ["Old"]
        assert pcm_hash(f) == audio[f]
    assert not w.undo_tags_action.isEnabled()
