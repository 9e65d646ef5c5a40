"""extract_many (pool, progress, cancel) and the SQLite feature cache."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from genre_desktop.core import features
from genre_desktop.core._feature_batch import extract_many
from genre_desktop.core.cache import FeatureCache, file_sha256
from genre_desktop.core.features import extract_song
from genre_desktop.core.types import SongError, SongFeatures


@pytest.fixture()
def short_clips(manifest, tmp_path) -> list[Path]:
    """Four truncated real clips copied to a private folder (cache keys stay ours)."""
    rows = [r for r in manifest if r["clip"] == "truncated"][:4]
    out = []
    for row in rows:
        dst = tmp_path / row["genre"] / Path(row["file"]).name
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(row["path"], dst)
        out.append(dst)
    return out


def test_pool_yields_every_result_with_progress(short_clips, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    paths = [*short_clips, bad]
    calls: list[tuple[int, int]] = []
    results = dict(extract_many(paths, workers=2, progress=lambda d, t: calls.append((d, t)),
                                use_cache=False))
    assert set(results) == {str(p) for p in paths}
    assert calls == [(i, len(paths)) for i in range(1, len(paths) + 1)]
    assert isinstance(results[str(bad)], SongError)
    for clip in short_clips:
        song = results[str(clip)]
        assert isinstance(song, SongFeatures) and song.content_hash == file_sha256(clip)
        # The pool computes what one process computes (BLAS threading may move the last bits).
        alone = extract_song(clip, use_cache=False)
        assert isinstance(alone, SongFeatures)
        assert alone.features == pytest.approx(song.features, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_new_files(short_clips, workers):
    paths = short_clips * 3  # 12 files
    flag = threading.Event()
    got = []
    for path, result in extract_many(paths, workers=workers, cancel=flag, use_cache=False):
        got.append((path, result))
        flag.set()  # cancel after the first result
    # Files already running may finish, but nothing new starts after the cancel.
    assert 1 <= len(got) <= 1 + 2 * workers < len(paths)


def test_cancel_before_start_yields_nothing(short_clips):
    flag = threading.Event()
    flag.set()
    assert list(extract_many(short_clips, workers=2, cancel=flag)) == []


def test_second_pass_reads_the_cache(short_clips, tmp_path):
    first = dict(extract_many(short_clips, workers=1))
    with FeatureCache() as cache:
        assert cache.info()["entries"] == len(short_clips)
        settings = features.cache_settings(features.DEFAULT_MAX_SECONDS, 30.0)
        for clip in short_clips:
            hit = cache.get(file_sha256(clip), features.EXTRACTOR_VERSION, settings)
            assert hit is not None and hit.features == first[str(clip)].features
            # Another extractor version never sees these numbers.
            assert cache.get(file_sha256(clip), features.EXTRACTOR_VERSION + "x", settings) is None

    # Prove the second pass reads rather than computes: plant a marker in one cached entry.
    marked = short_clips[0]
    with FeatureCache() as cache:
        song = cache.get(file_sha256(marked), features.EXTRACTOR_VERSION, settings)
        song.features["tempo"] = -1.0
        song.content_hash = file_sha256(marked)
        cache.put(song, features.EXTRACTOR_VERSION, settings)
    second = dict(extract_many(short_clips, workers=2))
    assert second[str(marked)].features["tempo"] == -1.0
    assert second[str(marked)].path == str(marked)

    # The key is the content, not the name: a renamed copy is a hit too.
    renamed = tmp_path / "renamed.wav"
    shutil.copy(marked, renamed)
    again = extract_song(renamed)
    assert isinstance(again, SongFeatures) and again.features["tempo"] == -1.0
    assert again.path == str(renamed)
    # ...and use_cache=False computes afresh.
    fresh = extract_song(renamed, use_cache=False)
    assert fresh.features["tempo"] == first[str(marked)].features["tempo"] > 0

    with FeatureCache() as cache:
        assert cache.clear() == len(short_clips)
        assert cache.info()["entries"] == 0


def test_a_damaged_cache_file_only_slows_things_down(short_clips):
    with FeatureCache() as cache:
        path = cache.path
    path.write_bytes(b"this is not a database" * 100)
    result = extract_song(short_clips[0])
    assert isinstance(result, SongFeatures)
    with FeatureCache() as cache:  # rebuilt, and holding the new result
        assert cache.info()["entries"] == 1


def test_a_killed_worker_becomes_an_error_and_the_batch_goes_on(short_clips):
    import os
    import signal

    from genre_desktop.core import _feature_batch

    paths = short_clips * 3  # 12 files, 4 in flight at a time
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if killed:
            return
        pool = _feature_batch.shared_pool(2)
        pid = next(iter(pool._processes))  # a real worker process of this pool
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    results = list(extract_many(paths, workers=2, progress=kill_one_worker, use_cache=False))
    assert killed and len(results) == len(paths)
    reasons = [r.reason for _p, r in results if isinstance(r, SongError)]
    assert set(reasons) <= {"worker_crashed"} and reasons  # the files it held
    assert any(isinstance(r, SongFeatures) for _p, r in results[-3:])  # a fresh pool went on
    # And the next batch gets a healthy pool.
    again = list(extract_many(short_clips[:2], workers=2, use_cache=False))
    assert all(isinstance(r, SongFeatures) for _p, r in again)
