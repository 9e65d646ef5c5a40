"""core.tagging's journal states, step by step: what a writer killed at each point leaves, and
what the next run makes of it; cancel between files; the write dialog's cancel."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import prediction, result
from tag_files import make_song

from genre_desktop.core.cache import file_sha256
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore
from genre_desktop.core.tag_journal import TagJournal
from genre_desktop.core.tag_policy import TagPolicy
from genre_desktop.core.tagging import plan_tags, recover, undo, write_plan
from genre_desktop.core.tagio import RawGenre, commit_copy, leftover_copies, prepare_copy, read_tags

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def run(tmp_path: Path):
    files = [make_song(tmp_path / "m", "mp3v24", name=f"{i}.mp3", freq=200 + 50 * i)
             for i in range(6)]
    results = [result(str(f), None, prediction("metal", 0.9)) for f in files]
    store = RunStore.create([Song(str(f), None) for f in files], settings=Settings().to_dict())
    for r in results:
        store.save(r)
    store.close()  # the run is over: a writer of its tags takes the store's one-writer lock
    journal = TagJournal(store.path)
    journal.record_hashes([(str(f), file_sha256(f)) for f in files], "analysed")
    yield files, results, journal
    journal.close()


def _begin(journal: TagJournal, path: Path) -> tuple[int, RawGenre, RawGenre, Path]:
    old = read_tags(path).raw
    new = RawGenre(("Metal",), True, old.had_tags, old.id3_version)
    entry = journal.begin(1, str(path), "mp3", old, new, file_sha256(path))
    return entry, old, new, prepare_copy(path, new, kind="mp3")


def test_killed_before_and_after_the_rename(run) -> None:
    files, results, journal = run
    # Killed after the copy was made, before its hash was journalled: nothing happened.
    e1, _, _, tmp1 = _begin(journal, files[0])
    # Killed after the rename, before 'written': the file is new, the journal says writing.
    e2, _, _, tmp2 = _begin(journal, files[1])
    journal.set_new_hash(e2, file_sha256(tmp2))
    commit_copy(tmp2, files[1])
    assert tmp1.exists() and len(leftover_copies(files[0].parent)) == 1

    assert recover(journal) == 2
    states = {e.id: e.state for e in journal.entries()}
    assert states == {e1: "interrupted", e2: "written"}
    assert not leftover_copies(files[0].parent)
    assert read_tags(files[0]).genres == ("Old",) and read_tags(files[1]).genres == ("Metal",)
    # The written file's new hash is now the one expected: it is not "changed since analysed"
    plan = {c.file: c for c in plan_tags(results, journal, TagPolicy())}
    assert plan["1.mp3"].reason == "no change" and plan["0.mp3"].writes
    # and undo restores it
    assert undo(journal).written == 1
    assert read_tags(files[1]).genres == ("Old",)


def test_cancel_stops_between_files_and_a_second_run_finishes(run) -> None:
    files, results, journal = run
    plan = plan_tags(results, journal, TagPolicy())
    done: list[int] = []

    class StopAfterTwo:
        def is_set(self) -> bool:
            return len(done) >= 2

    summary = write_plan(plan, journal, cancel=StopAfterTwo(),
                         progress=lambda d, t, n: done.append(d) if n else None)
    assert summary.cancelled and summary.written == 2
    assert [read_tags(f).genres for f in files].count(("Metal",)) == 2
    again = write_plan(plan_tags(results, journal, TagPolicy()), journal)
    assert again.written == 4 and not again.cancelled
    assert all(read_tags(f).genres == ("Metal",) for f in files)
    assert undo(journal).written == 6
    assert all(read_tags(f).genres == ("Old",) for f in files)


@pytest.mark.gui
def test_write_dialog_plans_then_cancel_keeps_files_whole(run, qtbot, xvfb_display, qapp) -> None:
    from genre_desktop.app.tag_dialog import WriteTagsDialog

    files, results, journal = run
    dialog = WriteTagsDialog(None, results, {}, journal.path)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: not dialog.planning and dialog.write_button.isEnabled(),
                    timeout=30000)
    assert dialog.table.rowCount() == 6 and "6 files to write" in dialog.status.text()
    dialog.max_genres.setValue(2)  # a change re-plans on a worker
    qtbot.waitUntil(lambda: not dialog.planning, timeout=30000)
    dialog.write_button.click()
    dialog.cancel_button.click()  # cancels: the write stops before the next file
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=30000)
    assert dialog.summary.cancelled and dialog.summary.written < 6
    assert dialog.cancel_button.text() == "Close"
    for f in files:
        assert read_tags(f).genres in (("Old",), ("Metal",))
