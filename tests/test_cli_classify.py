"""`genre-desktop classify` and `download` end to end: real clips, real processes, real boto3."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from batch_helpers import shared_feature_cache  # noqa: F401
from conftest import require

from genre_desktop.cli import main
from genre_desktop.commands import download
from genre_desktop.core.resources import data_dir
from genre_desktop.core.store import RunStore, list_runs


def _small_folder(root: Path, gtzan_dir: Path, genres=("blues", "metal", "classical")) -> Path:
    """A GTZAN-layout folder of a few real clips plus a file that is not audio."""
    for g in genres:
        (root / g).mkdir(parents=True)
        for i in (0, 3):
            name = f"{g}.{i:05d}.wav"
            shutil.copy(gtzan_dir / "genres" / g / name, root / g / name)
    (root / "rock").mkdir()
    (root / "rock" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00not really a wave file")
    return root


@pytest.mark.usefixtures("shared_feature_cache")
def test_classify_offline_writes_reports_and_lists_failures(gtzan_dir, tmp_path, capsys):
    songs = _small_folder(tmp_path / "songs", gtzan_dir)
    out = tmp_path / "out"
    rc = main(["classify", str(songs), "--out", str(out), "--workers", "2",
               "--extract-workers", "1", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text  # a failed song does not fail the run
    assert "FAILED broken.wav" in text and "Reports:" in text
    folder = out / "bedrock_results"
    tagged = json.loads((folder / "tagged_songs.json").read_text())
    assert sorted(t["file"] for t in tagged) == sorted(
        f"{g}.{i:05d}.wav" for g in ("blues", "metal", "classical") for i in (0, 3))
    assert all(t["backend"] == "local" for t in tagged)
    metrics = json.loads((folder / "accuracy_metrics.json").read_text())
    assert metrics["songs_asked"] == 7 and metrics["failed_songs"] == 1
    assert metrics["coverage"] == 1.0
    assert "broken.wav" in (folder / "errors.log").read_text()
    (run,) = list((data_dir() / "runs").glob("*.sqlite"))
    with RunStore.open(run) as store:
        meta = store.meta()
        assert meta["settings"]["backend"] == "local" and meta["app_version"]
        assert len(meta["prompt_template_hash"]) == 16
        assert store.count() == 7


def test_classify_cannot_start(tmp_path, capsys, monkeypatch):
    assert main(["classify", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["classify", str(tmp_path / "empty")]) == 2
    assert main(["classify", "--resume", "19990101-000000-beef"]) == 2
    assert main(["classify"]) == 2
    monkeypatch.setenv("SAMPLES_PER_GENRE", "lots")
    assert main(["classify", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "No such folder" in err and "No audio files" in err and "No run" in err
    assert "SAMPLES_PER_GENRE" in err or "samples_per_genre" in err


def test_classify_refuses_an_unwritable_out_before_classifying(tmp_path, capsys):
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "a.wav").write_bytes(b"RIFF")  # never read: the run must not start
    blocker = tmp_path / "report.txt"
    blocker.write_text("a file, not a folder")
    assert main(["classify", str(songs), "--out", str(blocker / "sub"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Cannot write the reports" in err and "is not a folder" in err
    assert list_runs() == []


def _stored(db: Path) -> set[str]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return {r[0] for r in con.execute("SELECT path FROM results")}
        finally:
            con.close()
    except sqlite3.OperationalError:
        return set()  # the run has not created its tables yet


@pytest.mark.usefixtures("shared_feature_cache")
def test_sigkill_mid_batch_then_resume_loses_nothing(gtzan_dir, tmp_path, bedrock_server):
    bedrock_server.delay_s = 0.4  # slow enough to kill the run mid-batch
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "genre_desktop", "classify", "--no-progress",
           "--backend", "bedrock", "--workers", "1", "--extract-workers", "1",
           "--requests-per-minute", "6000"]
    first = subprocess.Popen(
        [*cmd, str(gtzan_dir / "genres"), "--samples-per-genre", "1", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    runs = data_dir() / "runs"
    deadline = time.monotonic() + 180
    before: set[str] = set()
    while time.monotonic() < deadline and first.poll() is None:
        dbs = list(runs.glob("*.sqlite")) if runs.is_dir() else []
        before = _stored(dbs[0]) if dbs else set()
        if len(before) >= 3:
            break
        time.sleep(0.05)
    assert first.poll() is None, first.stdout.read().decode()
    os.killpg(first.pid, signal.SIGKILL)  # the run and its extraction processes, no warning
    first.wait()
    (db,) = list(runs.glob("*.sqlite"))
    before = _stored(db)
    assert 3 <= len(before) < 10
    calls_before = bedrock_server.count()

    second = subprocess.run([*cmd, "--resume", db.stem], capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Resuming run {db.stem}" in second.stdout
    with RunStore.open(db) as store:
        planned = [s.path for s in store.planned_songs()]
        results = store.results()
    assert len(planned) == 10
    assert sorted(r.path for r in results) == sorted(planned)  # every song exactly once
    assert all(r.ok for r in results)
    listed = subprocess.run([*cmd, "--list-runs"], capture_output=True, text=True, timeout=120)
    assert f"{db.stem}" in listed.stdout and "10/10 songs  complete" in listed.stdout
    # Finished songs were not asked again: one call for each song that was still missing.
    assert bedrock_server.count() - calls_before == 10 - len(before)
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    assert len(tagged) == 10 and {t["backend"] for t in tagged} == {"bedrock"}


@pytest.mark.usefixtures("shared_feature_cache")
def test_ctrl_c_cancels_keeps_results_and_writes_reports(gtzan_dir, tmp_path, bedrock_server):
    bedrock_server.delay_s = 0.4
    songs = _small_folder(tmp_path / "songs", gtzan_dir)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genre_desktop", "classify", str(songs), "--no-progress",
         "--backend", "bedrock", "--workers", "1", "--extract-workers", "1", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = data_dir() / "runs"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        dbs = list(runs.glob("*.sqlite")) if runs.is_dir() else []
        if dbs and len(_stored(dbs[0])) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # what Ctrl+C does to the run (its workers are spared)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "Cancelling" in stderr and "--resume" in stdout
    (db,) = list(runs.glob("*.sqlite"))
    kept = _stored(db)
    assert 2 <= len(kept) < 7
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    # The metrics and plot are not drawn on the way out; `report` writes them from the store.
    assert not (out / "bedrock_results" / "accuracy_metrics.json").exists()
    assert f"genre-desktop report {db.stem}" in stdout
    assert main(["report", db.stem]) == 0
    metrics = json.loads((out / "bedrock_results" / "accuracy_metrics.json").read_text())
    assert len(tagged) + metrics["failed_songs"] == len(kept)
    assert metrics["songs_asked"] == 7 and metrics["coverage"] < 1.0


def test_download_without_kagglehub(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "kagglehub", None)  # import fails as if not installed
    assert main(["download"]) == 1
    assert download.MSG_NO_KAGGLEHUB in capsys.readouterr().err


def test_download_without_network(monkeypatch, capsys, tmp_path):
    require(importlib.util.find_spec("kagglehub") is not None, "kagglehub is not installed")
    # A proxy on a closed local port: no request can leave, as on a machine without network.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NO_PROXY", raising=False)
    for key in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_API_ENVIRONMENT"):
        monkeypatch.delenv(key, raising=False)
    assert main(["download", "--to", str(tmp_path / "gtzan")]) == 1
    assert download.MSG_NO_NETWORK in capsys.readouterr().err


class _Refuse(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"message": "Unauthenticated", "code": 401}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_download_without_credentials(monkeypatch, capsys, tmp_path):
    require(importlib.util.find_spec("kagglehub") is not None, "kagglehub is not installed")
    try:  # kagglehub's TEST environment is http://localhost:7777
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 7777), _Refuse)
    except OSError:
        require(False, "port 7777, which kagglehub's test environment uses, is busy")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
        monkeypatch.setenv("HOME", str(tmp_path))
        for key in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "HTTP_PROXY",
                    "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.delenv(key, raising=False)
        assert main(["download", "--to", str(tmp_path / "gtzan")]) == 1
        assert download.MSG_NO_CREDENTIALS in capsys.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
