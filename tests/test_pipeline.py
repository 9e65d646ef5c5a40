"""The batch pipeline: every song once, errors as values, cancel keeps results, resume, songs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from batch_helpers import SlowEchoBackend, fake_extract, shared_feature_cache  # noqa: F401

from genre_desktop.core.pipeline import PipelineProgress, run_pipeline
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song, discover_songs, genre_from_path, sample_songs
from genre_desktop.core.store import RunStore
from genre_desktop.core.types import GENRES


def _songs(n: int, bad: int = 0) -> list[Song]:
    out = [Song(f"/m/{GENRES[i % 10]}/{GENRES[i % 10]}.{i:05d}.wav", GENRES[i % 10])
           for i in range(n)]
    out += [Song(f"/m/rock/broken{i}.bad", "rock") for i in range(bad)]
    return out


def _run(songs, backend, store, workers=3, **kw):
    events: list[PipelineProgress] = []
    summary = run_pipeline(songs, backend, store, Settings(workers=workers),
                           progress=events.append, extract=fake_extract, **kw)
    return summary, events


def test_every_song_once_with_live_progress():
    songs = _songs(25)
    backend = SlowEchoBackend(delay=0.01)
    with RunStore.create(songs, settings={}) as store:
        summary, events = _run(songs, backend, store, workers=3)
        stored = store.results()
    assert sorted(backend.seen) == sorted(s.path for s in songs)
    assert [r.path for r in stored] == [s.path for s in songs]
    assert backend.max_running <= 3
    # The song's own file name is excluded from the reference (never its own example).
    assert all(ex == frozenset({Path(p).name}) for p, ex in zip(backend.seen, backend.excluded,
                                                                strict=True))
    assert events[0].stage == "starting" and events[-1].stage == "finished"
    running = [e for e in events if e.stage == "running"]
    assert [e.done for e in running] == list(range(1, 26))
    assert all(e.latest is not None for e in running)
    assert {e.latest.path for e in running} == {s.path for s in songs}
    correct = sum(bool(r.is_correct) for r in stored)
    final = events[-1]
    assert final.done == final.total == 25 and final.errors == 0
    assert final.accuracy == pytest.approx(correct / 25)
    assert final.input_tokens == 2500 and final.cost_usd == pytest.approx(0.025)
    assert running[-1].eta_s == pytest.approx(0.0)
    assert summary.done == 25 and not summary.cancelled
    assert 0.0 < summary.classify_utilisation <= 1.0


def test_the_eta_leaves_out_the_time_before_the_first_song():
    # The first answer waits for a slow start (the offline model's training, numba compiling on
    # first use); the ETA must follow the pace after it, not spread that wait over every song.
    class SlowStart(SlowEchoBackend):
        def classify(self, song, *, exclude_refs=frozenset(), cancel=None):
            if not self.seen:
                time.sleep(3.0)
            return super().classify(song, exclude_refs=exclude_refs, cancel=cancel)

    songs = _songs(25)
    with RunStore.create(songs, settings={}) as store:
        _, events = _run(songs, SlowStart(delay=0.01), store, workers=1)
    running = [e for e in events if e.stage == "running"]
    assert running[0].eta_s is None  # one song says nothing about the pace yet
    third = next(e for e in running if e.done == 3)
    # 22 songs left at about 0.01-0.05 s each; counting the 3 s start would say 22 s or more
    assert third.eta_s is not None and third.eta_s < 8.0, third.eta_s
    assert running[-1].eta_s == pytest.approx(0.0)


def test_errors_are_values_and_the_batch_goes_on():
    songs = _songs(12, bad=2)

    class Exploding(SlowEchoBackend):
        def classify(self, song, *, exclude_refs=frozenset(), cancel=None):
            if song.path.endswith("00005.wav"):
                raise RuntimeError("bug in a backend")
            return super().classify(song, exclude_refs=exclude_refs, cancel=cancel)

    with RunStore.create(songs, settings={}) as store:
        summary, events = _run(songs, Exploding(fail_every=4), store, workers=2)
        stored = {r.path: r for r in store.results()}
    assert len(stored) == 14 and summary.done == 14
    reasons = sorted(r.error.reason for r in stored.values() if r.error)
    assert reasons.count("corrupt_audio") == 2
    assert "backend_failure" in reasons and "unparseable_answer" in reasons
    assert events[-1].errors == len(reasons) == summary.errors
    crashed = stored["/m/jazz/jazz.00005.wav"].error
    assert crashed.stage == "classify" and "RuntimeError" in crashed.message


def test_cancel_keeps_every_finished_result_and_resume_finishes_the_rest():
    songs = _songs(30)
    cancel = threading.Event()
    backend = SlowEchoBackend(delay=0.02)
    with RunStore.create(songs, settings={}) as store:
        run_id = store.run_id

        reported: list[str] = []

        def on_progress(ev: PipelineProgress) -> None:
            if ev.latest is not None:
                reported.append(ev.latest.path)
            if ev.done >= 5:
                cancel.set()

        summary = run_pipeline(songs, backend, store, Settings(workers=2),
                               progress=on_progress, cancel=cancel, extract=fake_extract)
        first = {r.path for r in store.results()}
    assert summary.cancelled
    # Exactly the songs reported before the cancel are stored; nothing after it.
    assert len(first) == 5 and first == set(reported) <= set(backend.seen)

    second_backend = SlowEchoBackend()
    with RunStore.open(run_id) as store:
        events: list[PipelineProgress] = []
        summary2 = run_pipeline(store.planned_songs(), second_backend, store,
                                Settings(workers=2), progress=events.append,
                                extract=fake_extract)
        final = store.results()
        assert store.elapsed_s() >= summary.elapsed_s
    assert not set(second_backend.seen) & first  # finished songs are skipped
    assert summary2.skipped == len(first) and not summary2.cancelled
    assert sorted(r.path for r in final) == sorted(s.path for s in songs)
    assert events[0].done == len(first) and events[-1].done == 30


def test_resume_retries_failed_songs_only_when_asked():
    songs = _songs(8)
    with RunStore.create(songs, settings={}) as store:
        _run(songs, SlowEchoBackend(fail_every=2), store)
        assert len(store.finished_paths(include_errors=False)) == 4
        again = SlowEchoBackend()
        _run(songs, again, store)
        assert again.seen == []
        _run(songs, again, store, retry_failed=True)
        assert len(again.seen) == 4
        assert len(store.finished_paths(include_errors=False)) == 8 and store.count() == 8


def test_a_raising_progress_callback_stops_the_run_but_keeps_results():
    songs = _songs(20)
    with RunStore.create(songs, settings={}) as store:
        def boom(ev: PipelineProgress) -> None:
            if ev.done == 3:
                raise KeyboardInterrupt

        backend = SlowEchoBackend(delay=0.02)
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(songs, backend, store, Settings(workers=2), progress=boom,
                         extract=fake_extract)
        assert {r.path for r in store.results()} == set(backend.seen)
        assert 3 <= store.count() < 20


def test_discover_and_sample_gtzan_layout(gtzan_dir):
    songs = discover_songs(gtzan_dir)
    by_genre = {g: [s for s in songs if s.actual_genre == g] for g in GENRES}
    assert all(len(v) == 5 for v in by_genre.values())
    unknown = [s for s in songs if s.actual_genre is None]
    assert {Path(s.path).suffix for s in unknown} == {".au"}  # au/ is not a genre folder
    sample = sample_songs(songs, 2, seed=1)
    assert sum(s.actual_genre == "jazz" for s in sample) == 2
    assert sum(s.actual_genre is None for s in sample) == 2
    assert sample == sample_songs(songs, 2, seed=1)
    assert sample != sample_songs(songs, 2, seed=2)
    assert sample_songs(songs, 0) == songs == sample_songs(songs, None)


def test_discover_any_folder(tmp_path):
    (tmp_path / "Jazz").mkdir()
    (tmp_path / "Jazz" / "a.WAV").write_bytes(b"x")
    (tmp_path / "misc" / "deep").mkdir(parents=True)
    (tmp_path / "misc" / "deep" / "b.flac").write_bytes(b"x")
    (tmp_path / "misc" / "notes.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.wav").write_bytes(b"x")
    songs = discover_songs(tmp_path)
    assert [(Path(s.path).name, s.actual_genre) for s in songs] == [
        ("a.WAV", "jazz"), ("b.flac", None)]
    assert genre_from_path("/x/hiphop/y.au") == "hiphop"
    with pytest.raises(FileNotFoundError):
        discover_songs(tmp_path / "nope")


def _real_songs(gtzan_dir: Path, genres=("blues", "classical", "metal", "pop")) -> list[Song]:
    # The 15-20 s excerpts: quicker to analyse than the full clips.
    return [Song(str(gtzan_dir / "genres" / g / f"{g}.00003.wav"), g) for g in genres]


@pytest.mark.usefixtures("shared_feature_cache")
def test_throttle_storm_slows_the_run_but_fails_no_song(gtzan_dir, bedrock_server):
    from bedrock_server import throttle

    from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig
    from genre_desktop.core.metrics import compute_metrics

    songs = _real_songs(gtzan_dir, ("blues", "metal", "pop"))
    storm = 6  # botocore's adaptive mode backs off hard after 429s: a small storm is slow enough
    bedrock_server.queue(throttle(), times=storm)  # every request 429s until the storm is over
    backend = BedrockBackend(BedrockConfig(
        "anthropic.claude-haiku-4-5-20251001-v1:0", region="us-east-1", backoff_base_s=0.05,
        backoff_max_s=0.3, max_retries=8, requests_per_minute=None, tokens_per_minute=None))
    with RunStore.create(songs, settings={}) as store:
        summary = run_pipeline(songs, backend, store, Settings(workers=3, extract_workers=1))
        results = store.results()
    assert summary.errors == 0 and all(r.ok for r in results) and len(results) == len(songs)
    assert bedrock_server.pending() == 0  # the whole storm was served...
    assert bedrock_server.count() == len(songs) + storm  # ...and every 429 was retried
    m = compute_metrics(results, songs_asked=len(songs))
    assert m["retries"] == storm and m["api_calls"] == len(songs) + storm
    assert m["failed_songs"] == 0
    assert m["api_error_rate"] == pytest.approx(storm / (len(songs) + storm))
    assert all(r.prediction.backend == "bedrock" and r.prediction.input_tokens > 0
               for r in results)


@pytest.mark.usefixtures("shared_feature_cache")
def test_real_extraction_and_offline_model_with_cancel(gtzan_dir):
    from genre_desktop.core.backends.local import LocalBackend

    songs = [*_real_songs(gtzan_dir), *_real_songs(gtzan_dir, ("jazz",))]
    cancel = threading.Event()
    seen: list[PipelineProgress] = []

    def on_progress(ev: PipelineProgress) -> None:
        seen.append(ev)
        if ev.latest is not None:
            cancel.set()  # right after the first stored song: nothing more may be stored

    settings = Settings(workers=1, extract_workers=2)
    with RunStore.create(songs, settings={}) as store:
        summary = run_pipeline(songs, LocalBackend(), store, settings, progress=on_progress,
                               cancel=cancel)
        kept = {r.path for r in store.results()}
        assert summary.cancelled and len(kept) == 1 and summary.done == 1
        assert kept == {e.latest.path for e in seen if e.latest is not None}
        assert seen[-1].stage == "cancelled"
        rest = run_pipeline(store.planned_songs(), LocalBackend(), store, settings)
        final = store.results()
    assert rest.skipped == len(kept) and not rest.cancelled
    assert sorted(r.path for r in final) == sorted(s.path for s in songs)
    assert all(r.ok and r.prediction.backend == "local" for r in final)


def _descendants() -> set[int]:
    """Processes below this one (forkserver, pool workers), from /proc. multiprocessing's
    resource tracker is left out: one per interpreter for its lifetime, never one per run."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return {pid for pid in out if "resource_tracker" not in _cmdline(pid)}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.parametrize("cancel_after", [0, 1])
def test_a_run_leaves_no_process_behind(gtzan_dir, cancel_after):
    """Each run ends its extraction pool and forkserver, finished or cancelled (no cache, so
    the pool really starts)."""
    from genre_desktop.core.backends.local import LocalBackend

    songs = _real_songs(gtzan_dir, ("blues", "metal", "pop"))
    cancel = threading.Event()
    seen: list[PipelineProgress] = []

    def on_progress(ev: PipelineProgress) -> None:
        seen.append(ev)
        if cancel_after and ev.done >= cancel_after:
            cancel.set()

    before = _descendants()
    with RunStore.create(songs, settings={}) as store:
        summary = run_pipeline(songs, LocalBackend(), store, Settings(workers=1,
                               extract_workers=2), progress=on_progress, cancel=cancel,
                               use_cache=False)
    assert _descendants() - before == set()
    assert summary.cancelled == bool(cancel_after)
    assert summary.done == (1 if cancel_after else len(songs))
    assert "extracting" in {ev.phase for ev in seen}


def test_offline_model_is_not_trained_on_the_runs_own_songs(gtzan_dir):
    from clip_features import row

    from genre_desktop.core.reference import load_reference
    from genre_desktop.core.runs import build_backend
    from genre_desktop.core.types import SongFeatures

    songs = [*_real_songs(gtzan_dir, ("blues", "rock")), Song("/mine/rock/my song.wav", "rock")]
    backend = build_backend(Settings(backend="local"), songs)
    # Cross-fitted (issue 13): the backend no longer depends on the run's songs, yet a song
    # whose audio is in the reference table is classified by a model trained without it.
    assert backend._exclude is None
    table = load_reference()
    own = SongFeatures("/any/name.wav", row(table, "blues.00003.wav"), 30.0, 30.0)
    model = backend.trained(own)
    assert "blues.00003.wav" in model.excluded  # with the rest of its fold (a tenth)
    assert 0 < len(model.excluded) < len(table) / 5


def test_start_and_resume_record_what_the_run_does(tmp_path):
    from genre_desktop.core.runs import RunSetupError, resume_run, start_run

    for g in ("jazz", "pop"):
        (tmp_path / g).mkdir()
        for i in range(3):
            (tmp_path / g / f"{g}.{i:05d}.wav").write_bytes(b"x")
    first = start_run(tmp_path, Settings(samples_per_genre=2, seed=5, out_dir="rel"),
                      backend=SlowEchoBackend())
    with first.store as store:
        meta = store.meta()
        assert len(first.songs) == 4 and meta["backend"] == "echo"
        assert Path(meta["settings"]["out_dir"]).is_absolute()
        assert meta["folder"] == str(tmp_path.resolve())
    again = resume_run(first.store.run_id, overrides={"workers": 3}, backend=SlowEchoBackend())
    with again.store as store:
        assert again.songs == first.songs and again.resumed
        assert again.settings.workers == 3 and store.meta()["settings"]["workers"] == 3
        assert again.settings.samples_per_genre == 2
    with pytest.raises(RunSetupError):
        start_run(tmp_path / "missing", Settings())


def test_relative_out_and_reference_are_recorded_absolute(tmp_path, monkeypatch):
    from genre_desktop.core.runs import resume_run, start_run

    (tmp_path / "jazz").mkdir()
    (tmp_path / "jazz" / "jazz.00000.wav").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    first = start_run(tmp_path, Settings(reference="my table.csv"), backend=SlowEchoBackend())
    first.store.close()
    assert first.settings.reference == str(tmp_path / "my table.csv")
    again = resume_run(first.store.run_id, overrides={"out_dir": "elsewhere"},
                       backend=SlowEchoBackend())
    with again.store as store:
        # as start_run does: a later --resume from another folder writes to the same place
        assert again.settings.out_dir == str(tmp_path / "elsewhere")
        assert store.meta()["settings"]["out_dir"] == str(tmp_path / "elsewhere")


@pytest.mark.usefixtures("shared_feature_cache")
def test_run_session_reports_its_phases_and_writes_paths_relative_to_its_folder(gtzan_dir,
                                                                                tmp_path):
    import json

    from genre_desktop.core.runs import RunRequest, RunSession

    folder = gtzan_dir / "genres"
    paths = [s.path for s in _real_songs(gtzan_dir, ("blues", "pop"))]
    request = RunRequest(folder=folder, paths=paths, source="test",
                         settings=Settings(workers=1, extract_workers=1, out_dir=str(tmp_path)))
    seen: list[PipelineProgress] = []
    with RunSession.start(request) as session:
        summary = session.run(seen.append, report=True)
        assert session.store.meta()["source"] == "test"
    phases = [ev.phase for ev in seen]
    assert phases[0] == "training" and phases[-2:] == ["reports", "finished"]
    assert {"classifying"} <= set(phases) and summary.done == 2
    assert seen[-1].phase_text == "Finished"
    tagged = json.loads((tmp_path / "bedrock_results" / "tagged_songs.json").read_text())
    assert sorted(t["path"] for t in tagged) == ["blues/blues.00003.wav", "pop/pop.00003.wav"]
