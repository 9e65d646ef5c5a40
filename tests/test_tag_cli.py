"""`genre-desktop tag` and `untag` on real files: plan, write, undo, skips, kill -9 mid-batch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_helpers import prediction, result, shared_feature_cache  # noqa: F401
from tag_files import FORMATS, ffprobe_genre, make_song, pcm_hash

from genre_desktop.cli import main
from genre_desktop.core.cache import file_sha256
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore, list_runs
from genre_desktop.core.tag_journal import TagJournal
from genre_desktop.core.tagging import tag_lock
from genre_desktop.core.tagio import leftover_copies, read_tags

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
GENRE_OF = ["blues", "jazz", "metal", "pop", "reggae", "rock", "disco", "country"]


def _decodes(path: Path) -> bool:
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True)
    return done.returncode == 0 and not done.stderr.strip()


def _run_of(folder: Path, files: list[Path], genres: list[str],
            confidence: float = 0.8) -> str:
    """A run store holding results for `files` (as a classification would leave it)."""
    songs = [Song(str(f), None) for f in files]
    store = RunStore.create(songs, settings=Settings().to_dict())
    with store, TagJournal(store.path) as journal:
        for f, g in zip(files, genres, strict=True):
            store.save(result(str(f), None, prediction(g, confidence)))
        journal.record_hashes([(str(f), file_sha256(f)) for f in files], "analysed")
        return store.run_id


@pytest.mark.usefixtures("shared_feature_cache")
def test_classify_review_tag_untag_a_folder_of_mp3_and_flac(tmp_path, capsys):
    """What a user does: classify a folder, write the genres, look at them, undo."""
    folder = tmp_path / "music"
    files = [make_song(folder, fmt, name=f"{i}-{FORMATS[fmt][0]}", freq=220 * (i + 1),
                       seconds=2.0)
             for i, fmt in enumerate(("mp3v23", "mp3v24", "flac", "flac"))]
    before = {f: (read_tags(f).raw, pcm_hash(f)) for f in files}
    assert main(["classify", str(folder), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--extract-workers", "1", "--no-progress"]) == 0
    (run,) = list_runs()
    with RunStore.open(run.path) as store:
        predicted = {r.path: r.prediction.predicted_genre for r in store.results()}
    assert len(predicted) == 4
    capsys.readouterr()

    assert main(["tag", run.run_id, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "Plan: 4 files to write" in text and "Old -> " in text
    assert all(read_tags(f).raw == before[f][0] for f in files), "a dry run wrote"

    assert main(["tag", run.run_id, "--no-progress"]) == 0
    assert "Wrote 4 files" in capsys.readouterr().out
    for f in files:
        want = {"hiphop": "Hip-Hop"}.get(predicted[str(f)], predicted[str(f)].title())
        assert read_tags(f).genres == (want,)
        assert ffprobe_genre(f) == [want]
        assert pcm_hash(f) == before[f][1]

    assert main(["tag", run.run_id, "--no-progress"]) == 0  # again: nothing left to do
    assert "Plan: 0 files to write" in capsys.readouterr().out

    assert main(["untag", run.run_id, "--no-progress"]) == 0
    assert "Restored 4 files" in capsys.readouterr().out
    for f in files:
        assert read_tags(f).raw == before[f][0]
        assert ffprobe_genre(f) == ["Old"]
        assert pcm_hash(f) == before[f][1]


def test_modes_and_limits_from_the_command_line(tmp_path, capsys):
    folder = tmp_path / "m"
    files = [make_song(folder, "flac", name=f"{i}.flac", genre=g)
             for i, g in enumerate(("Jazz", None))]
    run_id = _run_of(folder, files, ["blues", "blues"], confidence=0.6)
    assert main(["tag", run_id, "--mode", "empty", "--no-progress"]) == 0
    assert read_tags(files[0]).genres == ("Jazz",)  # had a genre: left alone
    assert read_tags(files[1]).genres == ("Blues",)
    assert main(["tag", run_id, "--mode", "add", "--no-progress"]) == 0
    assert read_tags(files[0]).genres == ("Jazz", "Blues")
    capsys.readouterr()
    assert main(["tag", run_id, "--skip-tagged", "--max-genres", "2", "--threshold", "0",
                 "--dry-run"]) == 0
    assert capsys.readouterr().out.count("left alone: already tagged by an earlier write") == 2
    assert main(["tag", run_id, "--min-confidence", "0.7", "--dry-run"]) == 0
    assert "below 0.70" in capsys.readouterr().out
    assert main(["tag", run_id, "--max-genres", "0"]) == 2
    assert main(["tag", run_id, "--vocabulary", "tags", "--dry-run"]) == 0
    assert "no genre from the tags vocabulary" in capsys.readouterr().out
    (store_path,) = [r.path for r in list_runs() if r.run_id == run_id]
    with tag_lock(store_path):  # another writer holds the run's tags
        assert main(["tag", run_id, "--no-progress"]) == 2
        assert main(["untag", run_id, "--no-progress"]) == 2
    assert "Another process is writing the tags" in capsys.readouterr().err
    assert main(["untag", run_id, "--no-progress"]) == 0
    assert read_tags(files[0]).genres == ("Jazz",) and read_tags(files[1]).genres == ()


def test_read_only_and_changed_files_are_skipped_with_a_reason(tmp_path, capsys):
    folder = tmp_path / "s"
    files = [make_song(folder, "mp3v24", name=f"{i}.mp3", freq=300 + i) for i in range(4)]
    run_id = _run_of(folder, files, ["rock", "rock", "rock", "rock"])
    files[0].chmod(0o444)
    untouched = files[0].read_bytes()
    import mutagen  # someone else retags file 1 after the analysis

    other = mutagen.File(files[1])
    other.tags.add(__import__("mutagen.id3", fromlist=["TCOM"]).TCOM(text=["Someone"]))
    other.save()
    changed = files[1].read_bytes()
    assert main(["tag", run_id, "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "0.mp3: left alone: the file is read-only" in text
    assert "1.mp3: left alone: the file changed since it was analysed" in text
    assert files[0].read_bytes() == untouched and files[1].read_bytes() == changed
    assert read_tags(files[2]).genres == ("Rock",) == read_tags(files[3]).genres
    files[2].chmod(0o444)  # undo refuses a file made read-only since
    retagged = mutagen.File(files[3])  # and one someone retagged after our write
    retagged.tags.add(__import__("mutagen.id3", fromlist=["TCOM"]).TCOM(text=["Later"]))
    retagged.save()
    assert main(["untag", run_id, "--no-progress"]) == 1
    text = capsys.readouterr().out
    assert "SKIPPED 2.mp3: the file is read-only" in text
    assert "SKIPPED 3.mp3: the file changed since it was tagged" in text
    assert read_tags(files[3]).genres == ("Rock",)
    files[2].chmod(0o644)
    assert main(["untag", run_id, "--no-progress"]) == 1  # 3.mp3 stays refused
    assert "Restored 1 files" in capsys.readouterr().out
    assert read_tags(files[2]).genres == ("Old",)


def test_kill_9_mid_batch_leaves_every_file_whole_then_resume_and_undo(tmp_path):
    folder = tmp_path / "batch"
    seeds = [make_song(tmp_path / "seed", fmt) for fmt in FORMATS]
    files = []
    for i in range(80):  # every format, ten times over
        seed = seeds[i % len(seeds)]
        dst = folder / f"{i:03d}-{seed.name}"
        folder.mkdir(exist_ok=True)
        dst.write_bytes(seed.read_bytes())
        files.append(dst)
    audio = {seed.name: pcm_hash(seed) for seed in seeds}
    genres = [GENRE_OF[i % len(GENRE_OF)] for i in range(len(files))]
    run_id = _run_of(folder, files, genres)
    (store_path,) = [r.path for r in list_runs() if r.run_id == run_id]

    env = dict(os.environ)
    writer = subprocess.Popen([sys.executable, "-m", "genre_desktop", "tag", run_id,
                               "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        written = 0
        while writer.poll() is None and written < 15:
            with sqlite3.connect(store_path, timeout=30) as db:
                try:
                    written = db.execute("SELECT COUNT(*) FROM tag_journal WHERE state IN "
                                         "('written', 'writing')").fetchone()[0]
                except sqlite3.OperationalError:  # the journal table is not made yet
                    written = 0
            time.sleep(0.01)
        assert writer.poll() is None, f"the writer finished before the kill: {writer.stderr}"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL

    states = {"old": 0, "new": 0}
    for f, g in zip(files, genres, strict=True):
        assert _decodes(f), f"{f.name} no longer decodes"
        assert pcm_hash(f) == audio[f.name.split("-", 1)[1]]
        tags = read_tags(f).genres
        old = () if f.suffix == ".wav" else ("Old",)
        assert tags in (old, (g.title(),)), (f.name, tags)
        states["old" if tags == old else "new"] += 1
    assert states["new"] >= 15 and states["old"] >= 1, states

    # Resume: run again; the journal settles the file in hand, the rest are written.
    assert main(["tag", run_id, "--no-progress"]) == 0
    assert not leftover_copies(folder)
    for f, g in zip(files, genres, strict=True):
        assert read_tags(f).genres == (g.title(),)
    assert main(["untag", run_id, "--no-progress"]) == 0
    for f in files:
        assert read_tags(f).genres == (() if f.suffix == ".wav" else ("Old",))
        assert pcm_hash(f) == audio[f.name.split("-", 1)[1]]


@pytest.mark.parametrize("command", ["tag", "untag"])
def test_tag_and_untag_are_refused_while_another_process_writes_the_run(tmp_path, capsys,
                                                                         command):
    """The run store's one-writer lock, as a --resume in progress holds it: the journal is
    written into the store, so tag and untag are writers too."""
    folder = tmp_path / "m"
    files = [make_song(folder, "flac", name=f"{i}.flac", genre="Old") for i in range(2)]
    run_id = _run_of(folder, files, ["jazz", "rock"])
    holder = RunStore.open(run_id, writer=True)
    try:
        assert main([command, run_id, "--no-progress"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"genre-desktop {command}: Run {run_id} is in use by another process "
            f"(pid {os.getpid()}); wait for it to end or stop it first.")
        assert all(read_tags(f).genres == ("Old",) for f in files)  # nothing written
        if command == "tag":
            assert main(["tag", run_id, "--dry-run"]) == 0  # reading the plan is allowed
            assert "Plan: 2 files to write" in capsys.readouterr().out
    finally:
        holder.close()
    assert main(["tag", run_id, "--no-progress"]) == 0  # released: both work again
    assert main(["untag", run_id, "--no-progress"]) == 0
    assert all(read_tags(f).genres == ("Old",) for f in files)
