"""Run-store faults (issue 11): one writer per run; a full disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from batch_helpers import shared_feature_cache  # noqa: F401
from conftest import require

from genre_desktop.cli import main
from genre_desktop.core.resources import data_dir
from genre_desktop.core.results import result_from_dict
from genre_desktop.core.store import RunInUse, RunStore, keep_unsaved, unsaved_path


def _songs(root, gtzan_dir, n=2):
    """n real clips in GTZAN layout (two of each genre, genres in order)."""
    clips = sorted((gtzan_dir / "genres").glob("*/*.wav"), key=lambda p: (p.name[-9:], p.name))
    for clip in clips[:n]:
        (root / "songs" / clip.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / "songs" / clip.parent.name)
    return root / "songs"


@pytest.mark.usefixtures("shared_feature_cache")
def test_a_second_writer_of_a_run_is_refused_naming_the_holder(gtzan_dir, tmp_path, capsys):
    songs = _songs(tmp_path, gtzan_dir)
    assert main(["classify", str(songs), "--out", str(tmp_path / "out"), "--no-progress",
                 "--extract-workers", "1", "--samples-per-genre", "1"]) == 0
    (db,) = (data_dir() / "runs").glob("*.sqlite")
    capsys.readouterr()
    holder = RunStore.open(db, writer=True)  # as a `--resume` in progress holds it
    try:
        with pytest.raises(RunInUse):
            RunStore.open(db, writer=True)
        assert main(["classify", "--resume", db.stem, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"genre-desktop classify: Run {db.stem} is in use by another process "
                       f"(pid {os.getpid()}); wait for it to end or stop it first.")
        with RunStore.open(db) as reader:  # reading (list-runs, reports) is still allowed
            assert reader.count() == 2
    finally:
        holder.close()
    assert main(["classify", "--resume", db.stem, "--no-progress"]) == 0  # released on close


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root can mount one; CI runs as root): a disk that really fills up."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    require(done.returncode == 0, f"cannot mount a tmpfs for the full-disk test: {done.stderr}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk, leave: int) -> None:
    """Fill the disk, then free `leave` bytes."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))


@pytest.mark.usefixtures("shared_feature_cache")
def test_a_full_disk_under_the_run_store_is_one_sentence_and_keeps_what_was_stored(
        gtzan_dir, tmp_path, tiny_disk, monkeypatch, capsys):
    songs = _songs(tmp_path, gtzan_dir, n=20)  # ~16 KiB of store each
    monkeypatch.setenv("GENRE_DESKTOP_DATA_DIR", str(tiny_disk / "data"))
    (tiny_disk / "data" / "runs").mkdir(parents=True)
    _fill(tiny_disk, leave=256 * 1024)  # the run starts; songs later the disk is full
    rc = main(["classify", str(songs), "--out", str(tmp_path / "out"), "--no-progress",
               "--extract-workers", "1"])
    text = capsys.readouterr()
    assert rc != 0, text.out
    assert "Traceback" not in text.err and "OperationalError" not in text.out + text.err
    (sentence,) = [line for line in (text.out + text.err).splitlines()
                   if "Cannot write the run store" in line]
    assert "the disk is full" in sentence and "--resume" in sentence
    (db,) = (tiny_disk / "data" / "runs").glob("*.sqlite")
    with RunStore.open(db) as store:
        kept = store.count()
        stored = store.finished_paths()
    assert 0 < kept < 20  # what was written before the disk filled is still there
    # The songs that finished after it (paid answers, on Bedrock) are not lost: no room for a
    # side file on that disk either, so they are one JSON line on stderr, said in a sentence.
    lines = text.err.splitlines()
    (said,) = [i for i, line in enumerate(lines) if "finished after the run store failed" in line]
    assert "could not be written anywhere on disk: they follow as one JSON line" in lines[said]
    unsaved = json.loads(lines[said + 1])["unsaved_results"]
    assert unsaved and len(unsaved) + kept <= 20
    assert all(u["prediction"]["predicted_genre"] for u in unsaved)
    assert not {u["path"] for u in unsaved} & stored  # they are what the store lacks
    assert not unsaved_path(db).exists()

    # With room again, kept beside the store (as when only the store's disk failed), the
    # next --resume stores them as they were: not classified again.
    _fill(tiny_disk, leave=0)
    (tiny_disk / "filler").unlink()
    assert keep_unsaved(db, [result_from_dict(u) for u in unsaved]) == unsaved_path(db)
    assert main(["classify", "--resume", db.stem, "--no-progress"]) == 0
    with RunStore.open(db) as store:
        after = {r.path: r for r in store.results()}
    assert len(after) == 20 and not unsaved_path(db).exists()
    for u in unsaved:
        assert after[u["path"]].finished_at == u["finished_at"]


@pytest.mark.usefixtures("shared_feature_cache")
def test_features_output_on_a_full_disk_leaves_the_old_file_intact(gtzan_dir, tmp_path,
                                                                   tiny_disk, capsys):
    songs = _songs(tmp_path, gtzan_dir, n=10)
    table = tiny_disk / "features.csv"
    table.write_text("the previous table\n")
    _fill(tiny_disk, leave=4096)  # room for a few rows of the new table, not all
    rc = main(["features", str(songs), "-o", str(table), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"Cannot write {table}: No space left on device; nothing was changed." in err
    assert table.read_text() == "the previous table\n"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["features.csv", "filler"]


def test_a_killed_session_counts_its_time_in_the_throughput(tmp_path):
    from batch_helpers import prediction, result

    from genre_desktop.core.metrics import compute_metrics
    from genre_desktop.core.songs import Song

    songs = [Song(f"/m/blues/{i}.wav", "blues") for i in range(5)]
    store = RunStore.create(songs, settings={}, folder=tmp_path)
    t0 = 1_000_000.0
    store.begin_session(t0)  # killed with SIGKILL: end_session never ran
    for i in range(3):
        r = result(songs[i].path, "blues", prediction("blues", 0.9))
        r.finished_at = t0 + 10 * (i + 1)
        store.save(r)
    second = store.begin_session(t0 + 100)  # the resume, which ended normally
    for i in (3, 4):
        r = result(songs[i].path, "blues", prediction("blues", 0.9))
        r.finished_at = t0 + 100 + 5 * (i - 2)
        store.save(r)
    store.end_session(second, 12.0, songs=2, cancelled=False)
    assert store.elapsed_s() == pytest.approx(30.0 + 12.0)
    m = compute_metrics(store.results(), songs_asked=5, elapsed_s=store.elapsed_s())
    assert m["songs_per_minute"] == pytest.approx(60 * 5 / 42)  # not 60 * 5 / 12 = 25
    store.close()
