"""Extraction on a Dask cluster: a real LocalCluster with two worker processes on 127.0.0.1.

The same shared clips through the local pool and through the cluster must give the same
features, the same error values, the same progress, the same cache entries and the same cancel.
"""

from __future__ import annotations

import threading
from pathlib import Path

import distributed  # a dev dependency (the 'cluster' extra): make test installs it
import psutil
import pytest

from genre_desktop.core.cache import FeatureCache
from genre_desktop.core.dask_cluster import ClusterError, DaskCluster
from genre_desktop.core.features import EXTRACTOR_VERSION, cache_settings, extract_many
from genre_desktop.core.types import SongError, SongFeatures


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes (one thread each), no dashboard; stopped and checked gone after."""
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None)
    with distributed.Client(local) as probe:
        pids = list(probe.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
    try:
        yield local
    finally:
        local.close()
        _gone, alive = psutil.wait_procs([psutil.Process(p) for p in pids
                                         if psutil.pid_exists(p)], timeout=20)
        assert not alive, f"Dask workers still running: {alive}"


@pytest.fixture(scope="module")
def shared_clips(gtzan_dir: Path) -> list[str]:
    clips = sorted(str(p) for p in (gtzan_dir / "genres").rglob("*.wav"))
    clips += sorted(str(p) for p in (gtzan_dir / "au").glob("*.au"))
    assert len(clips) >= 50
    return clips


def _run(paths, **kw):
    calls: list[tuple[int, int]] = []
    results = dict(extract_many(paths, progress=lambda d, t: calls.append((d, t)), **kw))
    return results, calls


def test_cluster_extracts_the_shared_clips_like_the_local_pool(cluster, shared_clips, tmp_path):
    broken = tmp_path / "rock" / "broken.wav"
    broken.parent.mkdir()
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    missing = str(tmp_path / "jazz" / "gone.wav")
    paths = [*shared_clips, str(broken), missing]

    local, local_calls = _run(paths, workers=2, use_cache=False)
    with DaskCluster(cluster.scheduler_address) as executor:
        assert executor.slots == 4
        remote, remote_calls = _run(paths, executor=executor, use_cache=False)

    assert set(remote) == set(local) == set(paths)
    assert remote_calls == local_calls == [(i, len(paths)) for i in range(1, len(paths) + 1)]
    for path in shared_clips:
        a, b = local[path], remote[path]
        assert isinstance(a, SongFeatures) and isinstance(b, SongFeatures), path
        assert b.path == path  # the worker's temporary copy never shows
        assert b.features == a.features, path  # identical, not just close
        assert (b.duration_s, b.analysed_s, b.limited, b.windows, b.content_hash, b.note) == \
            (a.duration_s, a.analysed_s, a.limited, a.windows, a.content_hash, a.note)
    for path in (str(broken), missing):
        a, b = local[path], remote[path]
        assert isinstance(a, SongError) and isinstance(b, SongError)
        assert a.reason != "extraction_failed"  # the loader's own reason, not a crash
        assert (b.reason, b.message, b.stage, b.path) == (a.reason, a.message, a.stage, path)


def test_cluster_fills_the_parents_cache_and_cancels(cluster, shared_clips):
    few = shared_clips[:6]
    with DaskCluster(cluster.scheduler_address) as executor:
        first, _ = _run(few, executor=executor, use_cache=True)
        settings = cache_settings(600.0, 30.0)
        with FeatureCache() as cache:
            for path in few:
                hit = cache.get(first[path].content_hash, EXTRACTOR_VERSION, settings)
                assert hit is not None and hit.features == first[path].features
        # Second time every song comes from the cache: nothing is sent to the cluster.
        sent: list[str] = []
        real_submit = executor.submit
        executor.submit = lambda *a: sent.append(a[0]) or real_submit(*a)  # type: ignore
        again, _ = _run(few, executor=executor, use_cache=True)
        assert sent == [] and {p: r.features for p, r in again.items()} == \
            {p: r.features for p, r in first.items()}
        executor.submit = real_submit  # type: ignore

        flag = threading.Event()
        got = []
        for item in extract_many(shared_clips[6:18], executor=executor, cancel=flag,
                                 use_cache=False):
            got.append(item)
            flag.set()
        assert 1 <= len(got) <= 1 + executor.slots < 12


def test_pipeline_extracts_on_the_cluster_named_in_settings(cluster, shared_clips):
    from batch_helpers import SlowEchoBackend

    from genre_desktop.core.pipeline import run_pipeline
    from genre_desktop.core.settings import Settings
    from genre_desktop.core.songs import Song
    from genre_desktop.core.store import RunStore

    songs = [Song(p, Path(p).parent.name) for p in shared_clips[:4]]
    settings = Settings(cluster=cluster.scheduler_address, workers=2)
    with RunStore.create(songs, settings=settings.to_dict()) as store:
        summary = run_pipeline(songs, SlowEchoBackend(), store, settings, use_cache=False)
        assert summary.done == 4 and summary.errors == 0
        assert {r.path for r in store.results()} == {s.path for s in songs}


def test_unreachable_cluster_is_a_clear_error():
    with pytest.raises(ClusterError, match="Cannot connect to the Dask cluster"):
        DaskCluster("tcp://127.0.0.1:9", timeout_s=2)


def test_features_command_takes_the_cluster(cluster, shared_clips, tmp_path):
    import csv
    import os
    import subprocess
    import sys

    out = tmp_path / "features.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "genre_desktop", "features", *shared_clips[:3], "--quiet",
         "--no-cache", "--cluster", cluster.scheduler_address, "-o", str(out)],
        capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["filename"] for r in rows] == [Path(p).name for p in shared_clips[:3]]
