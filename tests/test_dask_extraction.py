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


class _KillOnSong(distributed.WorkerPlugin):
    """A Dask worker plugin (fault injection, like the local Bedrock server's failures): the
    worker that starts analysing a file of this name dies at once (SIGKILL), every time, as
    with a song whose decoder crashes the process. Our code is not touched."""

    name = "kill-on-song"

    def __init__(self, song_name: str) -> None:
        self.song_name = song_name
        self.worker = None

    def setup(self, worker) -> None:
        self.worker = worker

    def teardown(self, worker) -> None:
        pass

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing" or self.worker is None:
            return
        task = self.worker.state.tasks.get(key)
        args = getattr(getattr(task, "run_spec", None), "args", ()) or ()
        first = getattr(args[0], "value", args[0]) if args else None
        if first == self.song_name:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


def _in_thread(fn, timeout_s: float):
    """fn() on a thread; a hang fails the test instead of the suite."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"extraction still running after {timeout_s} s"
    return box["value"]


def test_a_worker_killed_mid_extraction_loses_no_song(cluster, shared_clips):
    """A worker process dies while it analyses songs: Dask runs them again elsewhere."""
    few = shared_clips[20:30]
    with DaskCluster(cluster.scheduler_address) as executor:
        pids = list(executor.client.run(lambda: __import__("os").getpid()).values())
        killed: list[int] = []

        def progress(done: int, _total: int) -> None:
            if done == 2 and not killed:  # songs are on both workers now
                killed.append(pids[0])
                psutil.Process(pids[0]).kill()

        results = _in_thread(lambda: dict(extract_many(
            few, executor=executor, use_cache=False, progress=progress)), 300)
    assert killed and set(results) == set(few)
    assert all(isinstance(r, SongFeatures) for r in results.values()), results


def test_a_song_that_kills_every_worker_is_its_own_error(cluster, shared_clips, tmp_path):
    """The same song kills each worker it reaches: it ends as a clear error value, the other
    songs are all extracted, the run does not hang."""
    import cloudpickle

    poison = tmp_path / "blues" / "poison.wav"
    poison.parent.mkdir()
    poison.write_bytes(Path(shared_clips[0]).read_bytes())
    few = [*shared_clips[30:38], str(poison)]
    cloudpickle.register_pickle_by_value(__import__(__name__))
    with DaskCluster(cluster.scheduler_address) as executor:
        executor.client.register_plugin(_KillOnSong("poison.wav"), name=_KillOnSong.name)
        try:
            results = _in_thread(lambda: dict(extract_many(
                few, executor=executor, use_cache=False)), 480)
        finally:
            executor.client.unregister_worker_plugin(_KillOnSong.name)
            cloudpickle.unregister_pickle_by_value(__import__(__name__))
    assert set(results) == set(few)
    lost = results[str(poison)]
    assert isinstance(lost, SongError) and lost.reason == "worker_crashed", lost
    assert lost.message.startswith("poison.wav stopped every cluster worker"), lost.message
    assert lost.path == str(poison)
    others = {p: r for p, r in results.items() if p != str(poison)}
    assert all(isinstance(r, SongFeatures) for r in others.values()), others


def test_a_cluster_left_without_workers_ends_the_songs_as_errors(shared_clips):
    """A worker started without a nanny dies and nothing replaces it: the songs still waiting
    become one clear error each after `lost_after_s`, instead of waiting for ever."""
    import subprocess
    import sys

    local = distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                                     dashboard_address=None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", local.scheduler_address,
         "--no-nanny", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    few = shared_clips[38:44]
    try:
        with distributed.Client(local.scheduler_address) as probe:
            probe.wait_for_workers(1, timeout=120)
        with DaskCluster(local.scheduler_address, lost_after_s=4) as executor:

            def progress(done: int, _total: int) -> None:
                if done == 1:
                    worker.kill()

            results = _in_thread(lambda: dict(extract_many(
                few, executor=executor, use_cache=False, progress=progress)), 180)
    finally:
        worker.kill()
        worker.wait(timeout=30)
        local.close()
    assert set(results) == set(few)
    kept = [r for r in results.values() if isinstance(r, SongFeatures)]
    lost = [r for r in results.values() if isinstance(r, SongError)]
    assert len(kept) >= 1 and len(lost) >= 1 and len(kept) + len(lost) == len(few)
    assert all(e.reason == "cluster_lost" and "has had no workers" in e.message for e in lost)
