"""Bedrock batch inference end to end: the CLI, real boto3 clients, moto's S3 in server mode and
the batch control plane on the local Bedrock server (tests/bedrock_batch_server.py).

The 120 songs are tiny generated WAVs whose features are put in the feature cache first (rows of
the reference table, so the prompts are real ones): the batch path, not extraction, is tested.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from batch_helpers import tagger_rows
from bedrock_batch_server import BatchControlPlane

from genre_desktop.core.backends.bedrock_batch import BATCH_PRICE_FACTOR
from genre_desktop.core.backends.registry import ModelRegistry
from genre_desktop.core.cache import FeatureCache, file_sha256
from genre_desktop.core.features import EXTRACTOR_VERSION, cache_settings
from genre_desktop.core.reference import load_reference
from genre_desktop.core.settings import Settings
from genre_desktop.core.types import FEATURE_COLUMNS, GENRES, SongFeatures

ROLE = "arn:aws:iam::123456789012:role/GenreDesktopBatch"
MODEL = "amazon.nova-lite-v1:0"  # on demand by its bare ID (Claude 3 Haiku is retired)


def make_songs(folder: Path, per_genre: int) -> list[Path]:
    """`per_genre` songs per genre: 0.1 s WAVs, features cached from the reference table."""
    table = load_reference().frame
    settings = cache_settings(Settings().max_seconds, 30.0)
    tagger, heard = tagger_rows()
    paths = []
    with FeatureCache() as cache:
        for g, genre in enumerate(GENRES):
            rows = table[table["label"] == genre].head(per_genre)
            (folder / genre).mkdir(parents=True)
            for i, (_, row) in enumerate(rows.iterrows()):
                path = folder / genre / f"track{i:03d}.wav"
                rng = np.random.default_rng(1000 * g + i)
                sf.write(path, rng.uniform(-0.5, 0.5, 2205).astype(np.float32), 22050)
                song = SongFeatures(str(path), {c: float(row[c]) for c in FEATURE_COLUMNS},
                                    duration_s=30.0, analysed_s=30.0,
                                    content_hash=file_sha256(path),
                                    tagger=heard[genre][i % len(heard[genre])] if heard else {})
                cache.put(song, EXTRACTOR_VERSION, settings, tagger)
                paths.append(path)
    return paths


@pytest.fixture
def batch(bedrock_server, s3_server, tmp_path, monkeypatch):
    """The control plane on the Bedrock server, a fresh bucket, and the env for the CLI."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)
    s3 = s3_server.client()
    bucket = f"batch-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    s3.create_bucket(Bucket=bucket)
    plane = BatchControlPlane(bedrock_server, s3).attach()
    plane.bucket = bucket  # type: ignore[attr-defined]
    plane.s3 = s3
    try:
        yield plane
    finally:
        plane.hold.clear()
        plane.join_threads()


def classify(*args: str, out: Path, **kw):
    cmd = [sys.executable, "-m", "genre_desktop", "classify", "--no-progress", "--out", str(out),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ,
                          **kw)


def batch_args(songs: Path, plane, *extra: str) -> list[str]:
    return [str(songs), "--backend", "bedrock", "--model", MODEL, "--batch",
            f"s3://{plane.bucket}/genre-runs", "--role-arn", ROLE, "--poll-seconds", "0.1",
            *extra]


def run_file(data_dir: Path) -> Path:
    runs = sorted((data_dir / "runs").glob("*.sqlite"))
    assert len(runs) == 1, runs
    return runs[0]


def job_status(data_dir: Path) -> str:
    runs = list((data_dir / "runs").glob("*.sqlite"))
    if not runs:
        return ""
    con = sqlite3.connect(runs[0])
    try:
        row = con.execute("SELECT status FROM batch_jobs ORDER BY number DESC").fetchone()
    except sqlite3.OperationalError:
        return ""
    finally:
        con.close()
    return row[0] if row else ""


def records_table(db: Path) -> list[tuple[str, str, int]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT record_id, path, joined FROM batch_records").fetchall()
    finally:
        con.close()


def sessions_table(db: Path) -> list[tuple[float, int]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT elapsed_s, songs FROM sessions ORDER BY id").fetchall()
    finally:
        con.close()


def test_120_songs_survive_a_restart_mid_job_and_join_once(batch, bedrock_server, tmp_path):
    songs = tmp_path / "songs"
    paths = make_songs(songs, per_genre=12)
    assert len(paths) == 120
    out = tmp_path / "out"
    batch.hold.set()  # the job waits in InProgress until the CLI has been killed
    cmd = [sys.executable, "-m", "genre_desktop", "classify", "--no-progress", "--out",
           str(out), *batch_args(songs, batch)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=os.environ, start_new_session=True)
    try:
        job = batch.wait_for("InProgress", timeout_s=240)
        # Killed once the CLI has seen InProgress and recorded it in the run file.
        data = Path(os.environ["GENRE_DESKTOP_DATA_DIR"])
        end = time.monotonic() + 60
        while time.monotonic() < end and job_status(data) != "InProgress":
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        output = first.communicate(timeout=30)[0]
    assert "Estimated cost:" in output and "InProgress" in output, output
    run_id = output.split("batch run ", 1)[1].split(":", 1)[0]
    data = Path(os.environ["GENRE_DESKTOP_DATA_DIR"])
    # The killed session was recorded when it started (never ended: elapsed -1).
    assert sessions_table(run_file(data)) == [(-1.0, 0)]

    # What went up: the Converse request shape, never a path or a label-holding name.
    bucket, key = job.input_uri[5:].split("/", 1)
    lines = batch.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    assert len(lines) == 120
    first_record = json.loads(lines[0])
    assert set(first_record) == {"recordId", "modelInput"}
    assert len(first_record["recordId"]) == 11 and first_record["recordId"].isalnum()
    assert set(first_record["modelInput"]) >= {"messages", "inferenceConfig", "system"}
    assert "modelId" not in first_record["modelInput"]
    body = "\n".join(lines)
    assert "track0" not in body and str(songs) not in body and ".wav" not in body
    assert job.model_id == MODEL and job.role_arn == ROLE

    # On demand now would pay twice for the songs the running job holds: refused.
    twice = classify("--resume", run_id, "--on-demand", out=out)
    assert twice.returncode == 2 and "still InProgress" in twice.stderr, twice.stderr
    assert bedrock_server.count("converse") == 0

    batch.hold.clear()  # the job finishes while no CLI is running
    batch.wait_for("Completed")
    second = classify("--resume", run_id, "--poll-seconds", "0.1", out=out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Following batch job" in second.stdout
    assert len(batch.creates) == 1  # picked up, never submitted again

    db = run_file(Path(os.environ["GENRE_DESKTOP_DATA_DIR"]))
    (killed, resumed) = sessions_table(db)
    assert killed == (-1.0, 0) and resumed[0] > 0 and resumed[1] == 120  # completed at its end
    recs = records_table(db)
    assert len(recs) == 120 and {p for _, p, _ in recs} == {str(p) for p in paths}
    assert all(joined == 1 for _, _, joined in recs)
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    assert sorted(t["file"] for t in tagged) == sorted(p.name for p in paths)
    assert all(t["predicted_genre"] in GENRES for t in tagged)
    # The answers are the server's k-NN vote over the real prompt's examples: mostly right.
    right = sum(t["actual_genre"] == t["predicted_genre"] for t in tagged)
    assert right >= 60
    # Actual cost: the output's usage at half the on-demand price.
    info = ModelRegistry.load().get(MODEL)
    con = sqlite3.connect(db)
    inp, outp, cost = con.execute("SELECT SUM(input_tokens), SUM(output_tokens), SUM(cost_usd)"
                                  " FROM results").fetchone()
    con.close()
    assert inp > 120 * 1000 and cost == pytest.approx(info.cost(inp, outp) * BATCH_PRICE_FACTOR)
    assert f"actual cost ${cost:.4f}" in second.stdout


def test_failed_records_are_reported_then_retried_on_demand(batch, bedrock_server, tmp_path):
    songs = tmp_path / "songs"
    make_songs(songs, per_genre=10)
    out = tmp_path / "out"
    batch.fail_every = 25  # records 0, 25, 50, 75 fail inside the job
    batch.duplicate_first = True  # and one output line comes back twice
    first = classify(*batch_args(songs, batch), out=out)
    assert first.returncode == 0, first.stdout + first.stderr
    assert batch.job().status == "PartiallyCompleted"
    assert "96 classified, 4 failed" in first.stdout
    assert "Skipped 1 repeated" in first.stdout
    assert "--retry-failed" in first.stdout
    db = run_file(Path(os.environ["GENRE_DESKTOP_DATA_DIR"]))
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 100
    assert con.execute("SELECT COUNT(*) FROM results WHERE error_reason = "
                       "'batch_record_failed'").fetchone()[0] == 4
    con.close()

    converse_before = bedrock_server.count("converse")
    retry = classify("--resume", db.stem, "--retry-failed", out=out)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert bedrock_server.count("converse") - converse_before == 4  # only the failed ones
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    assert len(tagged) == 100
    assert len(batch.creates) == 1


def test_too_few_records_offers_on_demand(batch, bedrock_server, tmp_path):
    songs = tmp_path / "songs"
    make_songs(songs, per_genre=1)
    out = tmp_path / "out"
    proc = classify(*batch_args(songs, batch), out=out)
    assert proc.returncode == 2
    assert "at least 100 records" in proc.stderr and "--on-demand" in proc.stderr
    assert batch.creates == []
    run_id = proc.stdout.split("batch run ", 1)[1].split(":", 1)[0]
    now = classify("--resume", run_id, "--on-demand", out=out)
    assert now.returncode == 0, now.stdout + now.stderr
    assert bedrock_server.count("converse") == 10


def test_whole_job_failure_and_cancel_stop_the_job(batch, bedrock_server, tmp_path):
    songs = tmp_path / "songs"
    make_songs(songs, per_genre=10)
    out = tmp_path / "out"
    batch.fail_job = "The service role cannot read the input bucket."
    failed = classify(*batch_args(songs, batch), out=out)
    assert failed.returncode == 1
    assert "cannot read the input bucket" in failed.stderr
    run_id = failed.stdout.split("batch run ", 1)[1].split(":", 1)[0]

    # --resume submits the songs again (a new job); Ctrl+C stops it with StopModelInvocationJob.
    batch.fail_job = None
    batch.hold.set()
    cmd = [sys.executable, "-m", "genre_desktop", "classify", "--no-progress", "--out",
           str(out), "--resume", run_id, "--poll-seconds", "0.1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ)
    job = batch.wait_for("InProgress", timeout_s=240)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    assert batch.stops == [job.arn] and job.status == "Stopped"
    assert "Stopping batch job" in output and "Stopped" in output
    assert len(batch.creates) == 2


def test_the_apps_batch_choice_runs_a_job_through_core_settings(batch, bedrock_server,
                                                                 tmp_path):
    """The app's "Batch job (half price, takes hours)" field: the same core function, no Qt."""
    from genre_desktop.app.core_calls import core_settings, make_run_function
    from genre_desktop.app.settings_data import BackendChoice
    from genre_desktop.core.resources import config_dir

    (config_dir() / "settings.toml").parent.mkdir(parents=True, exist_ok=True)
    (config_dir() / "settings.toml").write_text("batch_poll_s = 0.1\n")
    paths = make_songs(tmp_path / "songs", per_genre=10)
    choice = BackendChoice(backend="bedrock", model=MODEL, batch_s3=f"s3://{batch.bucket}/app",
                           batch_role_arn=ROLE)
    settings = core_settings(choice)
    assert (settings.batch_s3, settings.batch_role_arn) == (f"s3://{batch.bucket}/app", ROLE)
    assert core_settings(BackendChoice(backend="local", batch_s3="s3://x/y")).batch_s3 is None

    events = []
    summary = make_run_function([str(p) for p in paths], choice)(events.append, None)
    assert summary.done == 100 and summary.errors == 0 and not summary.cancelled
    assert len(batch.creates) == 1 and bedrock_server.count("converse") == 0
    joined = [e.latest.path for e in events if e.latest is not None]
    assert sorted(joined) == sorted(str(p) for p in paths)  # each song once, as it joined
    assert events[-1].stage == "finished" and events[-1].cost_usd > 0


def test_a_create_lost_in_a_crash_is_sent_again_as_the_same_job(batch, bedrock_server,
                                                                  tmp_path):
    """In process: the job is recorded before CreateModelInvocationJob; when that call fails
    (or its answer is lost), the next session sends it again with the same token."""
    from bedrock_server import validation_error

    from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig
    from genre_desktop.core.backends.bedrock_batch import (
        BatchConfig,
        BatchError,
        BatchRunner,
        build_records,
        estimate_cost,
    )
    from genre_desktop.core.batch_jobs import BatchJobs
    from genre_desktop.core.songs import Song
    from genre_desktop.core.store import RunStore

    table = load_reference().frame.head(100)
    items = [(Song(f"/music/{row['label']}/song{i}.wav", row["label"]),
              SongFeatures(f"/music/{row['label']}/song{i}.wav",
                           {c: float(row[c]) for c in FEATURE_COLUMNS}, 30.0, 30.0))
             for i, (_, row) in enumerate(table.iterrows())]
    songs = [song for song, _ in items]
    backend = BedrockBackend(BedrockConfig(MODEL))
    config = BatchConfig(f"s3://{batch.bucket}/lost", ROLE, poll_s=0.05)
    with RunStore.create(songs, settings={}) as store:
        with BatchJobs(store.path) as jobs:
            runner = BatchRunner(backend, store, jobs, config, say=lambda _m: None)
            records, failed = build_records(backend, items, 1)
            assert failed == [] and len(records) == 100
            bedrock_server.queue(validation_error("Try again"), op="unknown")
            with pytest.raises(BatchError, match="Try again"):
                runner.submit(records, estimate_cost(backend, records), 1)
            lost = jobs.open_job()
            assert lost is not None and lost.job_arn is None and batch.jobs == {}
        with BatchJobs(store.path) as jobs:  # the next session
            runner = BatchRunner(backend, store, jobs, config, say=lambda _m: None)
            job = runner.wait(jobs.open_job())
            assert job.status == "Completed" and len(batch.jobs) == 1
            again = runner.create(job)  # once more: the token makes it the same job
            assert again.job_arn == job.job_arn and len(batch.jobs) == 1
            summary = runner.join(job)
            assert summary.joined == 100 and summary.duplicates == 0
            assert {r.path for r in store.results()} == {s.path for s in songs}


def test_tag_writing_skips_a_file_changed_after_the_batch_analysis(batch, bedrock_server,
                                                                    tmp_path):
    """A batch job's answers come back without the features: the hash each file had when it
    was analysed is kept from the extraction, so `tag` refuses a file changed since."""
    from genre_desktop.core.tag_journal import TagJournal
    from genre_desktop.core.tagio import read_tags

    songs = tmp_path / "songs"
    paths = make_songs(songs, per_genre=10)
    out = tmp_path / "out"
    first = classify(*batch_args(songs, batch), out=out)
    assert first.returncode == 0, first.stdout + first.stderr
    db = run_file(Path(os.environ["GENRE_DESKTOP_DATA_DIR"]))
    with TagJournal(db) as journal:
        assert all(journal.known_hash(str(p)) == file_sha256(p) for p in paths)
    changed, kept = paths[0], paths[1]
    sf.write(changed, np.zeros(2205, np.float32), 22050)  # someone else's edit, after the run
    tag = subprocess.run([sys.executable, "-m", "genre_desktop", "tag", db.stem, "--all",
                          "--no-progress"], capture_output=True, text=True, timeout=300,
                         env=os.environ)
    assert tag.returncode == 0, tag.stdout + tag.stderr
    assert (f"{changed.name}: left alone: the file changed since it was analysed"
            in tag.stdout), tag.stdout
    assert "Plan: 99 files to write" in tag.stdout
    assert read_tags(changed).genres == ()
    assert read_tags(kept).genres != ()


def _jobs_table(db: Path) -> list[tuple[int, str | None, str, int]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT b.number, b.job_arn, b.status, COUNT(r.record_id) FROM"
                           " batch_jobs b JOIN batch_records r ON r.job = b.number"
                           " GROUP BY b.number ORDER BY b.number").fetchall()
    finally:
        con.close()


def test_a_run_above_the_per_job_maximum_is_split_into_jobs(batch, bedrock_server, tmp_path):
    """120 songs and a per-job maximum of 50 records (a models.toml quota, enforced by the
    server as Bedrock does): three jobs of 40, all recorded at once, a refused create sent
    again on resume, the CLI killed while all three run, each record joined exactly once."""
    from genre_desktop.core.resources import config_dir

    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "models.toml").write_text(
        f'[models."{MODEL}"]\nbatch_max_records = 50\nbatch_min_records = 10\n')
    batch.max_records, batch.min_records = 50, 10
    batch.duplicate_first = True  # each job's output repeats one line
    songs = tmp_path / "songs"
    paths = make_songs(songs, per_genre=12)
    out = tmp_path / "out"
    data = Path(os.environ["GENRE_DESKTOP_DATA_DIR"])
    batch.hold.set()
    batch.refuse_creates = {2}  # the second job's create is refused (too many jobs at once)
    first = classify(*batch_args(songs, batch), out=out)
    assert first.returncode == 2, first.stdout + first.stderr
    assert "3 jobs of 40, 40, 40 records" in first.stdout
    assert "ServiceQuotaExceededException" in first.stderr
    run_id = first.stdout.split("batch run ", 1)[1].split(":", 1)[0]
    db = run_file(data)
    table = _jobs_table(db)
    assert [(n, count) for n, _, _, count in table] == [(1, 40), (2, 40), (3, 40)]
    assert table[0][1] is not None and table[1][1] is None and table[2][1] is None
    assert len(batch.jobs) == 1

    # The next session creates the two missing jobs at once and is killed while they run.
    cmd = [sys.executable, "-m", "genre_desktop", "classify", "--no-progress", "--out",
           str(out), "--resume", run_id, "--poll-seconds", "0.1"]
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=os.environ, start_new_session=True)
    try:
        end = time.monotonic() + 240
        while time.monotonic() < end and not (
                len(batch.jobs) == 3 and all(j.status == "InProgress"
                                             for j in batch.jobs.values())):
            time.sleep(0.1)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.communicate(timeout=30)
    assert len(batch.jobs) == 3 and len(batch.creates) == 4
    assert all(arn is not None for _, arn, _, _ in _jobs_table(db))

    batch.hold.clear()  # the jobs finish while no CLI runs
    for index in range(3):
        batch.wait_for("Completed", index=index)
    third = classify("--resume", run_id, "--poll-seconds", "0.1", out=out)
    assert third.returncode == 0, third.stdout + third.stderr
    assert third.stdout.count("Following batch job") == 3
    assert "Joined 120 record(s) of 3 batch jobs" in third.stdout
    assert "120 classified, 0 failed, 0 missing" in third.stdout
    assert "Skipped 3 repeated" in third.stdout
    assert len(batch.creates) == 4  # followed, never submitted again
    assert sorted(j.total for j in batch.jobs.values()) == [40, 40, 40]
    recs = records_table(db)
    assert len(recs) == 120 and len({rid for rid, _, _ in recs}) == 120
    assert sorted(p for _, p, _ in recs) == sorted(str(p) for p in paths)
    assert all(joined == 1 for _, _, joined in recs)
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    assert sorted(t["file"] for t in tagged) == sorted(p.name for p in paths)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT path) FROM results").fetchone() == (
        120, 120)
    con.close()


def test_split_records_keeps_each_job_within_the_record_and_size_quotas():
    from genre_desktop.core.backends.bedrock_batch import (
        BatchConfig,
        BatchError,
        Record,
        split_records,
    )

    recs = [Record(f"R{i:010d}", f"/m/{i}.wav", {"messages": [{"text": "x" * 1000}]}, "p")
            for i in range(250)]
    size = recs[0].size()
    config = BatchConfig("s3://b/p", ROLE, min_records=10, max_records=100,
                         max_input_bytes=60 * size)
    chunks = split_records(recs, config)  # the file size binds: 5 jobs, not 3
    assert [len(c) for c in chunks] == [50] * 5
    assert [r for c in chunks for r in c] == recs
    assert [len(c) for c in split_records(recs[:90], config)] == [45, 45]  # even, not 60+30
    with pytest.raises(BatchError, match="cannot be split"):  # 2 x 75 < the minimum of 100
        split_records(recs[:150], BatchConfig("s3://b/p", ROLE, max_records=100))
