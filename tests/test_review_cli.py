"""`genre-desktop review`: the Review tab's accept / correct / reject from the command line,
followed by `tag`, and the reviewed songs teach the model (the user's reference, a refit)."""

from __future__ import annotations

import pytest
from batch_helpers import prediction, result
from tag_files import make_song

from genre_desktop.cli import main
from genre_desktop.core.cache import file_sha256
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore
from genre_desktop.core.tag_journal import TagJournal
from genre_desktop.core.tagio import read_tags
from genre_desktop.core.user_reference import load_user_rows

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_review_from_the_command_line_then_tag(tmp_path, capsys):
    folder = tmp_path / "music"
    files = [make_song(folder / sub, "flac", name=name, freq=freq, seconds=2.0)
             for sub, name, freq in (("x", "a.flac", 300), ("x", "b.flac", 900),
                                     ("x", "c.flac", 2000), ("x", "d.flac", 120),
                                     ("y", "d.flac", 140))]
    answers = [("blues", 0.9, None), ("jazz", 0.5, "rock"), ("rock", 0.4, "pop"),
               ("pop", 0.8, None), ("pop", 0.8, None)]
    songs = [Song(str(f), None) for f in files]
    with RunStore.create(songs, settings=Settings().to_dict(),
                         meta={"folder": str(folder.resolve())}) as store, \
            TagJournal(store.path) as journal:
        for f, (g, c, second) in zip(files, answers, strict=True):
            store.save(result(str(f), None, prediction(g, c, second=second)))
        journal.record_hashes([(str(f), file_sha256(f)) for f in files], "analysed")
        run_id = store.run_id

    assert main(["review", run_id]) == 0
    listed = [line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:6]]
    assert listed[:2] == ["x/c.flac", "x/b.flac"]  # the doubtful ones first
    assert main(["review", run_id, "--accept", "d.flac"]) == 2  # two songs have that name
    assert "2 songs of this run are named d.flac" in capsys.readouterr().err
    assert main(["review", run_id, "--reject", "nothing.flac"]) == 2
    assert main(["review", run_id, "--correct", "b.flac"]) == 2

    assert main(["review", run_id, "--accept", "a.flac", "--correct", "x/b.flac=Hip-Hop",
                 "--reject", str(files[2]), "--accept", "y/d.flac"]) == 0
    text = capsys.readouterr().out
    assert "Recorded 4 decisions" in text and "Offline model" in text
    assert "5 songs: 2 accepted, 1 corrected, 1 rejected, 1 to review." in text
    rows = load_user_rows()
    assert sorted(zip(rows["filename"], rows["label"], strict=True)) == [
        ("a.flac", "blues"), ("b.flac", "hiphop"), ("d.flac", "pop")]

    # tag follows the review: accepted ones whatever the minimum confidence, the correction,
    # the rejected one left alone; --only-reviewed leaves the undecided one too.
    assert main(["tag", run_id, "--min-confidence", "0.95", "--only-reviewed",
                 "--no-progress", "--all"]) == 0
    text = capsys.readouterr().out
    assert "c.flac: left alone: rejected in review" in text
    assert "d.flac: left alone: not reviewed" in text
    assert [read_tags(f).genres for f in files] == [("Blues",), ("Hip-Hop",), ("Old",),
                                                    ("Old",), ("Pop",)]
