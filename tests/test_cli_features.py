"""`genre-desktop features` and `genre-desktop cache` run as real subprocesses."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genre_desktop.core.types import FEATURE_COLUMNS


@pytest.fixture(scope="module", autouse=True)
def shared_numba_cache(tmp_path_factory):
    """One numba cache for every subprocess here: compile librosa's kernels once, not per run."""
    if "NUMBA_CACHE_DIR" in os.environ:
        yield
        return
    os.environ["NUMBA_CACHE_DIR"] = str(tmp_path_factory.mktemp("numba"))
    yield
    os.environ.pop("NUMBA_CACHE_DIR", None)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("CI", None)  # the tool's behaviour must not depend on it
    return subprocess.run(
        [sys.executable, "-m", "genre_desktop", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.fixture()
def song_folder(manifest, tmp_path) -> Path:
    """blues/ and rock/ with two real (truncated) clips each, a bad file, a non-genre folder."""
    root = tmp_path / "songs"
    picked = {"blues": 0, "rock": 0}
    for row in manifest:
        if row["clip"] == "truncated" and picked.get(row["genre"], 2) < 2:
            dst = root / row["genre"] / Path(row["file"]).name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(row["path"], dst)
            picked[row["genre"]] += 1
    (root / "rock" / "liner-notes.wav").write_text("not a song")
    misc = root / "misc stuff"
    misc.mkdir()
    shutil.copy(next(root.glob("blues/*.wav")), misc / "untitled.wav")
    return root


def test_features_command_writes_the_table(song_folder, tmp_path):
    out = tmp_path / "features.csv"
    proc = cli("features", str(song_folder), "-o", str(out), "--workers", "2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # one file failed
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
        header = list(rows[0])
    assert header == ["filename", *FEATURE_COLUMNS, "label"]
    assert len(rows) == 5
    labels = {r["filename"]: r["label"] for r in rows}
    assert sorted(v for k, v in labels.items() if k != "untitled.wav") == [
        "blues", "blues", "rock", "rock",
    ]
    assert labels["untitled.wav"] == ""  # its folder is not a genre
    for row in rows:
        assert float(row["length"]) > 15 * 22050 and float(row["tempo"]) > 0
    # Progress bar and error summary on stderr; the table never goes there.
    assert "5/6" in proc.stderr or "6/6" in proc.stderr
    assert "5 of 6 file(s) done" in proc.stderr
    assert "not_audio" in proc.stderr and "liner-notes.wav" in proc.stderr
    assert "mfcc1_mean" not in proc.stderr


def test_features_to_stdout_and_from_cache(song_folder, tmp_path):
    clip = next(song_folder.glob("blues/*.wav"))
    first = cli("features", str(clip), "--workers", "1", "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith("filename,length,") and len(lines) == 2
    assert lines[1].startswith(clip.name + ",") and lines[1].endswith(",blues")

    info = cli("cache", "info", cwd=tmp_path)
    assert info.returncode == 0 and "Entries: 1 " in info.stdout
    second = cli("features", str(clip), "--quiet", cwd=tmp_path)
    assert second.stdout == first.stdout  # the cached row is the same row
    cleared = cli("cache", "clear", cwd=tmp_path)
    assert cleared.returncode == 0 and "1 entry removed" in cleared.stdout
    assert "Entries: 0 " in cli("cache", "info", cwd=tmp_path).stdout


def test_features_command_with_nothing_to_do(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("features", str(empty), cwd=tmp_path)
    assert proc.returncode == 2 and "No audio files" in proc.stderr
    missing = cli("features", str(tmp_path / "gone.wav"), "--quiet", cwd=tmp_path)
    assert missing.returncode == 1 and "missing_file" in missing.stderr


def test_features_refuses_bad_output_and_max_seconds_before_extracting(tmp_path, capsys):
    from genre_desktop.cli import main

    song = tmp_path / "a.wav"
    song.write_bytes(b"RIFF")  # never read: each call must stop before the extraction
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    assert main(["features", str(song), "-o", str(blocker / "x.csv"), "--quiet"]) == 2
    assert main(["features", str(song), "-o", str(tmp_path), "--quiet"]) == 2
    assert main(["features", str(tmp_path), "-o", str(song), "--quiet"]) == 2
    assert song.read_bytes() == b"RIFF"  # a song is never overwritten by the table
    assert main(["features", str(song), "--max-seconds", "0", "--quiet"]) == 2
    assert main(["features", str(song), "--max-seconds", "-3", "--quiet"]) == 2
    assert main(["features", str(song), "--max-seconds", "nan", "--quiet"]) == 2
    assert main(["features", str(song), "--max-seconds", "inf", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("Cannot write") == 3 and "it is a folder" in err
    assert "one of the songs to read" in err
    assert err.count("--max-seconds must be more than 0") == 4
    assert "Traceback" not in err and "no_samples" not in err
