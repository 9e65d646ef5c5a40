"""Bedrock as it is today, through the real CLI and boto3 against the local server: current
models and their inference profiles, set-up problems that stop a run once (non-zero exit),
legacy warnings, and cancel / dropped connections / hung endpoints (issue 11 items 1 and 6)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from batch_helpers import shared_feature_cache  # noqa: F401
from bedrock_server import access_denied, drop, error, hang, throttle
from test_bedrock_client import fast_config, request

from genre_desktop.cli import main
from genre_desktop.core.backends.bedrock import BedrockBackend
from genre_desktop.core.backends.registry import (
    CLAUDE_3_HAIKU,
    HAIKU_45,
    MIXTRAL_8X7B,
    SONNET_45,
)
from genre_desktop.core.setupcheck import FAIL, run_checks
from genre_desktop.core.types import SongError

pytestmark = pytest.mark.usefixtures("shared_feature_cache")


def classify(gtzan_dir: Path, out: Path, *extra: str) -> int:
    return main(["classify", str(gtzan_dir / "genres"), "--backend", "bedrock",
                 "--samples-per-genre", "1", "--workers", "2", "--extract-workers", "1",
                 "--requests-per-minute", "6000", "--no-progress", "--out", str(out), *extra])


def metrics(out: Path) -> dict:
    return json.loads((out / "bedrock_results" / "accuracy_metrics.json").read_text())


@pytest.mark.parametrize("model", [None, HAIKU_45, SONNET_45])
def test_ten_songs_with_current_models_succeed_at_a_cost(gtzan_dir, tmp_path, bedrock_server,
                                                         capsys, model):
    out = tmp_path / "out"
    rc = classify(gtzan_dir, out, *(["--model", model] if model else []))
    text = capsys.readouterr().out
    assert rc == 0, text
    m = metrics(out)
    assert m["songs_tagged"] == 10 and m["failed_songs"] == 0
    assert m["total_cost_usd"] > 0
    called = {c.model_id for c in bedrock_server.converse_calls()}
    wanted = model or HAIKU_45  # the default model is Claude Haiku 4.5
    # the bare ID cannot be called on demand: the run resolved it and said which profile
    assert called == {f"us.{wanted}"}
    assert f"Using inference profile us.{wanted}" in text
    assert bedrock_server.count("list_profiles") == 1 and bedrock_server.count() == 10


def test_sonnet_45_reads_the_cached_prefix_after_the_first_song(gtzan_dir, tmp_path,
                                                                bedrock_server):
    out = tmp_path / "out"
    assert classify(gtzan_dir, out, "--model", SONNET_45, "--workers", "1") == 0
    calls = bedrock_server.converse_calls()
    assert all(any("cachePoint" in b for b in c.body["system"]) for c in calls)
    usages = [c.reply.body["usage"] for c in calls]
    assert usages[0].get("cacheWriteInputTokens", 0) > 1024
    assert all(u.get("cacheReadInputTokens", 0) > 1024 for u in usages[1:])
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    assert len(tagged) == 10
    # cost: cache reads at $0.30/1M instead of $3/1M input (+10% through a us. profile)
    first = usages[0]
    assert metrics(out)["total_cost_usd"] < 10 * (first["inputTokens"] + first[
        "cacheWriteInputTokens"]) * 3.0 * 1.1 / 1e6


def test_an_end_of_life_model_stops_the_run_at_set_up(gtzan_dir, tmp_path, bedrock_server,
                                                      capsys):
    rc = classify(gtzan_dir, tmp_path / "out", "--model", CLAUDE_3_HAIKU)
    captured = capsys.readouterr()
    assert rc != 0
    assert captured.err.count("end of life") == 1 and "2026-09-10" in captured.err
    assert len(bedrock_server.calls) == 0  # the registry knows: not one request


def test_a_model_bedrock_retired_stops_after_one_control_plane_request(
        gtzan_dir, tmp_path, bedrock_server, capsys):
    bedrock_server.models["anthropic.claude-v2:1"] = "EOL"  # unknown to the registry
    rc = classify(gtzan_dir, tmp_path / "out", "--model", "anthropic.claude-v2:1")
    err = capsys.readouterr().err
    assert rc != 0 and "end of its life" in err
    assert len(bedrock_server.calls) == 1 and bedrock_server.count() == 0


@pytest.mark.parametrize(("setup", "args", "words"), [
    ("no_credentials", [], "No AWS credentials"),
    ("none", ["--profile", "no-such-profile"], "no-such-profile"),
    ("none", ["--region", "bad region!"], "region"),
    ("expired", [], "session token has expired"),
    ("unreachable", ["--endpoint-url", "http://127.0.0.1:9"], "Cannot connect"),
])
def test_set_up_problems_stop_before_the_first_song_in_one_sentence(
        gtzan_dir, tmp_path, bedrock_server, capsys, monkeypatch, setup, args, words):
    if setup == "no_credentials":
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(key)
    if setup == "expired":
        bedrock_server.queue(error(403, "ExpiredTokenException", "The security token included "
                                   "in the request is expired"), op="get_model")
    rc = classify(gtzan_dir, tmp_path / "out", *args)
    captured = capsys.readouterr()
    assert rc == 2, captured
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], lines
    assert bedrock_server.count() == 0


def test_access_denied_at_the_first_song_stops_the_run_once(gtzan_dir, tmp_path, bedrock_server,
                                                            capsys):
    bedrock_server.queue(access_denied(), times=50)
    rc = classify(gtzan_dir, tmp_path / "out", "--workers", "1")
    captured = capsys.readouterr()
    assert rc == 1
    assert captured.err.count("denied") == 1 and "#/modelaccess" in captured.err
    assert "FAILED" not in captured.out  # not one error per song
    assert bedrock_server.count() == 1


def test_a_profile_only_model_unknown_to_the_registry_is_resolved_or_stops(
        gtzan_dir, tmp_path, bedrock_server, capsys):
    from bedrock_catalog import Offer

    bedrock_server.catalog.offers["meta.llama5-test-v1:0"] = Offer(profile_only=True)
    # GetFoundationModel says INFERENCE_PROFILE only: resolved through ListInferenceProfiles
    assert classify(gtzan_dir, tmp_path / "a", "--model", "meta.llama5-test-v1:0") == 0
    assert {c.model_id for c in bedrock_server.converse_calls()} == {"us.meta.llama5-test-v1:0"}
    capsys.readouterr()
    # when the control plane cannot tell, Bedrock's on-demand refusal stops the run once
    bedrock_server.queue(error(403, "AccessDeniedException", "no"), op="get_model")
    before = bedrock_server.count()
    rc = classify(gtzan_dir, tmp_path / "b", "--model", "meta.llama5-test-v1:0", "--workers", "1")
    err = capsys.readouterr().err
    assert rc == 1 and err.count("on-demand throughput") == 1 and "inference profile" in err
    assert bedrock_server.count() - before == 1


def test_a_legacy_model_warns_with_its_end_of_life_date_and_goes_on(gtzan_dir, tmp_path,
                                                                    bedrock_server, capsys):
    bedrock_server.models[MIXTRAL_8X7B] = "LEGACY"
    bedrock_server.catalog.offers[MIXTRAL_8X7B].eol_date = "2027-01-15"
    rc = classify(gtzan_dir, tmp_path / "out", "--model", MIXTRAL_8X7B)
    text = capsys.readouterr().out
    assert rc == 0 and "legacy" in text and "2027-01-15" in text
    assert metrics(tmp_path / "out")["songs_tagged"] == 10


# ---- cancel, hung endpoints and dropped connections (issue 11 items 1 and 6) ----------------

def _cancel_soon(seconds: float = 0.5) -> threading.Event:
    flag = threading.Event()
    threading.Timer(seconds, flag.set).start()
    return flag


def test_cancel_abandons_a_call_the_endpoint_never_answers(bedrock_server):
    bedrock_server.queue(hang())
    backend = BedrockBackend(fast_config(read_timeout_s=30.0))
    response, _ = backend.converse(request(backend), cancel=_cancel_soon())
    # without cancel this would be a read timeout after 30 s (reason "timeout")
    assert isinstance(response, SongError) and response.reason == "cancelled"


def test_cancel_stops_the_backoff_in_a_throttle_storm(bedrock_server):
    bedrock_server.queue(throttle(), times=200)
    backend = BedrockBackend(fast_config(max_retries=50, backoff_base_s=0.2, backoff_max_s=0.2))
    response, attempts = backend.converse(request(backend), cancel=_cancel_soon())
    assert isinstance(response, SongError) and response.reason == "cancelled"
    assert attempts < 50 and bedrock_server.pending() > 100


def test_dropped_connections_are_retried(bedrock_server):
    bedrock_server.queue(drop(), times=3)
    backend = BedrockBackend(fast_config(max_retries=4))
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError) and attempts == 4


def test_a_60_percent_drop_rate_loses_no_song(gtzan_dir, tmp_path, bedrock_server, capsys):
    bedrock_server.drop_rate = 0.6
    out = tmp_path / "out"
    assert classify(gtzan_dir, out) == 0, capsys.readouterr()
    m = metrics(out)
    assert m["songs_tagged"] == 10 and m["failed_songs"] == 0
    assert bedrock_server.count() > 10  # drops happened and were retried


def test_check_against_a_hung_endpoint_is_bounded_and_says_so(bedrock_server):
    bedrock_server.queue(hang(), op="list_models")
    bedrock_server.queue(hang())
    steps = {s.name: s for s in run_checks(model=MIXTRAL_8X7B, timeout_s=1.0)}
    assert steps["bedrock_reachable"].status == FAIL
    assert "one attempt" in steps["bedrock_reachable"].reason
    assert steps["inference"].status == FAIL and "one attempt" in steps["inference"].hint.lower()
    assert bedrock_server.count() == 1  # no retry of the hung call


@pytest.mark.parametrize("endpoint", ["hangs", "throttles"])
def test_ctrl_c_stops_a_bedrock_run_whatever_the_endpoint_does(gtzan_dir, tmp_path,
                                                               bedrock_server, endpoint):
    import contextlib
    import sqlite3
    import subprocess
    import sys
    import time

    from bedrock_server import Reply, sensible_answer

    from genre_desktop.core.resources import data_dir
    from genre_desktop.core.store import RunStore

    bedrock_server.queue(sensible_answer, times=3)  # three finished songs the stop must keep
    if endpoint == "hangs":
        bedrock_server.default = lambda call: Reply(action="hang")
    else:
        bedrock_server.queue(throttle(), times=100_000)
    out = tmp_path / "out" / "bedrock_results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genre_desktop", "classify", str(gtzan_dir / "genres"),
         "--samples-per-genre", "1", "--backend", "bedrock", "--workers", "2",
         "--extract-workers", "1", "--no-progress", "--requests-per-minute", "6000",
         "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def stored_now() -> int:
        dbs = list((data_dir() / "runs").glob("*.sqlite"))
        try:
            with contextlib.closing(sqlite3.connect(dbs[0])) as con:
                return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except (IndexError, sqlite3.OperationalError):
            return 0

    want = 5 if endpoint == "hangs" else 6  # the three answers, then calls hanging/throttled
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and (
            bedrock_server.count() < want or stored_now() < 3):
        time.sleep(0.05)
    assert proc.poll() is None and bedrock_server.count() >= want and stored_now() == 3
    calls = bedrock_server.count()
    proc.send_signal(2)  # SIGINT, once: what Ctrl+C does
    # Old code waited for every read timeout (120 s x 3 x 6) or all 18 attempts with backoff,
    # song after song: far past this bound. The time itself is benchmarks/bench_stop.py's.
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    # At most the request each of the two workers had on its way when the signal came.
    assert bedrock_server.count() - calls <= 2
    (db,) = list((data_dir() / "runs").glob("*.sqlite"))
    with RunStore.open(db) as store:
        stored = store.results()
    # the three answered songs are kept; none stored as "throttled" or "cancelled"
    assert len(stored) == 3 and all(r.ok for r in stored), [(r.path, r.error) for r in stored]
    # On the way out only the songs' files (no scikit-learn, no matplotlib: seconds saved),
    # said in one line; `report` writes the rest from the store.
    assert len(json.loads((out / "tagged_songs.json").read_text())) == 3
    assert sorted(p.name for p in out.iterdir()) == ["errors.log", "tagged_songs.json"]
    assert (f"Stopped: only tagged_songs.json and errors.log were written; write the metrics "
            f"and plot with: genre-desktop report {db.stem}") in stdout
    assert main(["report", db.stem]) == 0
    assert metrics(tmp_path / "out")["songs_tagged"] == 3
    assert (out / "classification_results.png").stat().st_size > 0
