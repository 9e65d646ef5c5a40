"""The per-run SQLite store: round trips, resume bookkeeping, thread safety, WAL."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from batch_helpers import prediction, result

from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore, StoreError, list_runs, runs_dir
from genre_desktop.core.types import SongError


def _songs(n: int) -> list[Song]:
    return [Song(f"/music/rock/rock.{i:05d}.wav", "rock") for i in range(n)]


def test_create_records_plan_and_metadata():
    songs = [*_songs(3), Song("/music/mix/unknown.wav", None)]
    with RunStore.create(songs, settings={"backend": "local", "workers": 2},
                         meta={"model": "m1", "prompt_template_hash": "abc",
                               "app_version": "0.1.0"}) as store:
        assert store.path.parent == runs_dir()
        assert store.planned_songs() == songs
        meta = store.meta()
        assert meta["settings"] == {"backend": "local", "workers": 2}
        assert meta["model"] == "m1" and meta["prompt_template_hash"] == "abc"
        assert meta["app_version"] == "0.1.0"
        mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_results_round_trip_with_prompt_and_errors():
    songs = _songs(2)
    with RunStore.create(songs, settings={}) as store:
        pred = prediction("rock", 0.9, second="metal", tokens=(1200, 80), cost=0.0004,
                          api_calls=2, retries=1)
        store.save(result(songs[0].path, "rock", pred))
        err = SongError("unparseable_answer", "The answer was not JSON.", stage="classify",
                        path=songs[1].path, raw_text="I cannot decide")
        store.save(result(songs[1].path, "rock", error=err))
        run_id = store.run_id

    with RunStore.open(run_id) as store:
        back = store.results()
        assert [r.path for r in back] == [s.path for s in songs]
        ok, bad = back
        assert ok.prediction == pred  # every field, prompt and raw response included
        assert ok.is_correct is True
        assert bad.prediction is None and bad.error == err
        assert store.prompt_and_response(songs[0].path) == (pred.prompt, pred.raw_response)
        assert store.prompt_and_response(songs[1].path) == ("", "I cannot decide")
        assert store.finished_paths() == {s.path for s in songs}
        assert store.finished_paths(include_errors=False) == {songs[0].path}


def test_saving_a_song_again_replaces_it():
    songs = _songs(1)
    with RunStore.create(songs, settings={}) as store:
        store.save(result(songs[0].path, "rock",
                          error=SongError("throttled", "Too many requests.", stage="classify")))
        store.save(result(songs[0].path, "rock", prediction("rock", 0.8)))
        assert store.count() == 1
        assert store.results()[0].ok


def test_concurrent_saves_from_many_threads_all_land():
    songs = _songs(200)
    with RunStore.create(songs, settings={}) as store:
        def work(chunk: list[Song]) -> None:
            for s in chunk:
                store.save(result(s.path, "rock", prediction("rock", 0.7)))
                store.finished_paths()  # reads interleaved with writes

        threads = [threading.Thread(target=work, args=(songs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.count() == 200
        # A second connection (another process, the app) sees every committed row.
        other = sqlite3.connect(store.path)
        assert other.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 200


def test_sessions_accumulate_elapsed_time():
    with RunStore.create(_songs(1), settings={}) as store:
        store.add_session(1.0, 2.5, songs=3, cancelled=True)
        store.add_session(10.0, 1.5, songs=1, cancelled=False)
        assert store.elapsed_s() == pytest.approx(4.0)


def test_open_unknown_run_and_list_runs(tmp_path):
    with pytest.raises(StoreError, match="No run"):
        RunStore.open("20000101-000000-dead")
    junk = tmp_path / "junk.sqlite"
    sqlite3.connect(junk).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(StoreError, match="not a genre-desktop run"):
        RunStore.open(junk)
    with RunStore.create(_songs(2), settings={}, run_id="20260101-000000-0001") as s:
        s.save(result(_songs(2)[0].path, "rock", prediction("rock", 0.9)))
    with pytest.raises(StoreError, match="already exists"):
        RunStore.create(_songs(1), settings={}, run_id="20260101-000000-0001")
    runs = list_runs()
    assert [(r.run_id, r.planned, r.finished) for r in runs] == [("20260101-000000-0001", 2, 1)]


def test_open_leaves_foreign_and_damaged_files_alone(tmp_path):
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"not a database at all" * 10)
    with pytest.raises(StoreError, match="not a genre-desktop run"):
        RunStore.open(damaged)
    foreign = tmp_path / "photos.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE albums (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a genre-desktop run"):
        RunStore.open(foreign)
    con = sqlite3.connect(foreign)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    con.close()
    assert tables == {"albums"} and mode != "wal"


def test_a_failed_attempt_keeps_the_last_good_answer_beside_it():
    songs = _songs(2)
    with RunStore.create(songs, settings={}) as store:
        good = prediction("blues", 0.72)
        store.save(result(songs[0].path, "rock", good))
        err = SongError("endpoint_unreachable", "Could not reach the endpoint.", stage="classify",
                        path=songs[0].path)
        store.save(result(songs[0].path, "rock", error=err))
        back = {r.path: r for r in store.results()}[songs[0].path]
        assert back.error == err and back.prediction is None
        assert back.last_good is not None and back.last_good.predicted_genre == "blues"
        assert back.last_good.confidence == 0.72
        # A good answer again: nothing older is kept.
        store.save(result(songs[0].path, "rock", prediction("rock", 0.8)))
        assert store.last_good_for(songs[0].path) is None
        # Answers from an earlier run of the folder are kept the same way.
        store.keep_last_good([result(songs[1].path, "rock", prediction("jazz", 0.6))])
        store.save(result(songs[1].path, "rock", error=err))
        assert {r.path: r for r in store.results()}[songs[1].path].last_good.predicted_genre \
            == "jazz"
