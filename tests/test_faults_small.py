"""Smaller faults of issue 11: worker cap, a FIFO, .m4a/.opus, silence and noise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genre_desktop.core import _feature_batch
from genre_desktop.core.features import extract_song
from genre_desktop.core.types import SongFeatures


@pytest.mark.parametrize("ext, codec", [(".m4a", "aac"), (".opus", "libopus")])
def test_m4a_and_opus_are_read_with_ffmpeg(gtzan_dir, tmp_path, ext, codec):
    clip = tmp_path / f"song{ext}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i",
                    str(gtzan_dir / "genres" / "jazz" / "jazz.00001.wav"), "-t", "5", "-c:a",
                    codec, str(clip)], check=True)
    song = extract_song(clip, use_cache=False)
    assert isinstance(song, SongFeatures), song
    assert 4.5 < song.analysed_s < 5.5 and song.features["tempo"] > 0


def test_a_fifo_given_to_features_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    # Before: hashing it waited for a writer for ever; now it is refused at once.
    done = subprocess.run([sys.executable, "-m", "genre_desktop", "features", str(fifo),
                           "--workers", "1", "--quiet"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr
    assert "not_a_file: pipe.wav is a folder or special file, not audio." in done.stderr


def test_extract_workers_are_capped_at_the_cores(gtzan_dir):
    cores = len(os.sched_getaffinity(0))
    files = sorted(str(p) for p in (gtzan_dir / "genres").glob("*/*.wav"))[: cores + 2]
    try:
        sizes, done = set(), 0
        for _path, song in _feature_batch.extract_many(files, workers=512, use_cache=False):
            assert isinstance(song, SongFeatures)
            sizes.add(_feature_batch._POOL_SIZE)  # the pool running now
            done += 1
        assert done == len(files)
        assert sizes == {cores}  # before: min(512, files) = cores + 2 processes
    finally:
        _feature_batch.shutdown_pool()


def test_silence_and_white_noise_are_flagged(gtzan_dir, tmp_path, capsys):
    from genre_desktop.cli import main

    folder = tmp_path / "songs"
    folder.mkdir()
    for name, source in (("silence.wav", "anullsrc=r=22050:cl=mono"),
                         ("noise.wav", "anoisesrc=r=22050:c=white:a=0.5")):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "10",
                        str(folder / name)], check=True)
    clip = gtzan_dir / "genres" / "classical" / "classical.00000.wav"
    kinds = {p.name: extract_song(p, use_cache=False).signal
             for p in (folder / "silence.wav", folder / "noise.wav", clip)}
    assert kinds == {"silence.wav": "silence", "noise.wav": "noise",
                     "classical.00000.wav": "music"}
    assert main(["classify", str(folder), "--out", str(tmp_path / "out"), "--no-progress",
                 "--extract-workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "WARNING silence.wav: the audio is (digital) silence" in out
    assert "WARNING noise.wav: the audio sounds like white noise" in out


def test_the_ensemble_reports_its_failed_bedrock_half(gtzan_dir, tmp_path, bedrock_server,
                                                      capsys):
    import json
    import shutil

    from bedrock_server import refusal

    from genre_desktop.cli import main

    bedrock_server.default = refusal()  # the LLM never gives a usable answer
    folder = tmp_path / "songs" / "jazz"
    folder.mkdir(parents=True)
    for i in (1, 2):
        shutil.copy(gtzan_dir / "genres" / "jazz" / f"jazz.{i:05d}.wav", folder)
    out = tmp_path / "out"
    assert main(["classify", str(folder.parent), "--backend", "ensemble", "--out", str(out),
                 "--no-progress", "--extract-workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "0 failed" in text  # the offline half decided every song ...
    assert "The ensemble's bedrock member failed on 2 of 2 songs" in text  # ... and it says so
    metrics = json.loads((out / "bedrock_results" / "accuracy_metrics.json").read_text())
    assert sum(metrics["member_failures"].values()) == 2
    assert all(k.startswith("bedrock: ") for k in metrics["member_failures"])
