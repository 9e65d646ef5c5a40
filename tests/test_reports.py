"""The standard report set: schema of every file, metrics equal scikit-learn's, atomic writes."""

from __future__ import annotations

import csv
import json
import os
import random
import stat

import numpy as np
import pytest
from batch_helpers import prediction, result
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from genre_desktop.core import reports
from genre_desktop.core.metrics import calibration_bins, compute_metrics
from genre_desktop.core.reports import REPORT_FILES, write_reports
from genre_desktop.core.types import GENRES, SongError

# The standard tagged-song keys (tools reading the usual format rely on them) plus ours.
TAGGED_SCHEMA = {
    "file": str, "path": str, "actual_genre": (str, type(None)), "predicted_genre": str,
    "confidence": float, "is_correct": (bool, type(None)), "reasoning": str,
    "key_indicators": list, "alternative_genres": list, "genre_scores": dict,
    "backend": str, "model": str, "input_tokens": int, "output_tokens": int,
    "cost_usd": float, "latency_s": float,
}
METRICS_SCHEMA = {
    "accuracy": float, "macro_f1": float, "top2_accuracy": float, "per_genre": dict,
    "mean_confidence_correct": float, "mean_confidence_incorrect": float,
    "expected_calibration_error": float, "per_genre_accuracy": dict, "genre_balance": dict,
    "coverage": float, "failed_songs": int, "failed_rate": float, "api_calls": int,
    "retries": int, "api_error_rate": float, "songs_per_minute": float,
    "total_cost_usd": float, "cost_per_song_usd": float, "latency_p50_s": float,
    "latency_p95_s": float, "songs_asked": int, "songs_scored": int, "targets": list,
}
TARGET_NAMES = {
    "accuracy", "coverage", "time per song", "cost per 1,000 songs", "failed songs",
    "confidence when correct", "confidence when wrong", "API errors",
}


def _check(obj: dict, schema: dict) -> None:
    for key, kind in schema.items():
        assert key in obj, f"missing key {key}"
        assert isinstance(obj[key], kind), f"{key}: {type(obj[key]).__name__} is not {kind}"


def _known_results(n: int = 60, seed: int = 3):
    """Random but fixed predictions; a few unknown-genre songs and two failures."""
    rng = random.Random(seed)
    out, truth, preds = [], [], []
    for i in range(n):
        actual = GENRES[i % len(GENRES)]
        guess = actual if rng.random() < 0.6 else rng.choice(GENRES)
        second = rng.choice([g for g in GENRES if g != guess])
        conf = round(rng.uniform(0.2, 0.99), 3)
        out.append(result(f"/m/{actual}/{actual}.{i:05d}.wav", actual,
                          prediction(guess, conf, second=second, tokens=(1500, 90), cost=0.0005,
                                     latency=0.5 + i / 10, api_calls=1 + (i % 7 == 0),
                                     retries=int(i % 7 == 0))))
        truth.append(actual)
        preds.append(guess)
    out.append(result("/m/mix/a.wav", None, prediction("jazz", 0.9)))
    out.append(result("/m/mix/b.wav", None, prediction("pop", 0.4)))
    out.append(result("/m/rock/bad.wav", "rock",
                      error=SongError("corrupt_audio", "Not audio.", path="/m/rock/bad.wav")))
    out.append(result("/m/jazz/x.wav", "jazz",
                      error=SongError("throttled", "Still throttled\nafter 8 tries.",
                                      stage="classify")))
    return out, truth, preds


def test_metrics_equal_scikit_learn_on_known_inputs():
    results, y_true, y_pred = _known_results()
    m = compute_metrics(results, songs_asked=70, elapsed_s=120.0)
    assert m["songs_scored"] == 60 and m["songs_unknown_genre"] == 2
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(GENRES),
                                                 zero_division=0)
    for i, g in enumerate(GENRES):
        got = m["per_genre"][g]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i]))
        assert m["per_genre_accuracy"][g] == pytest.approx(r[i])
    cm = confusion_matrix(y_true, y_pred, labels=list(GENRES))
    assert m["confusion_matrix"]["matrix"] == cm.tolist()
    # 64 processed of 70 asked, 2 failed; API errors: each retry plus the failed classify call.
    assert m["coverage"] == pytest.approx(64 / 70)
    assert m["failed_songs"] == 2 and m["failed_rate"] == pytest.approx(2 / 64)
    retries = sum(1 for i in range(60) if i % 7 == 0)
    assert m["retries"] == retries and m["api_calls"] == 60 + retries
    assert m["api_error_rate"] == pytest.approx((retries + 1) / (60 + retries + 1))
    assert m["songs_per_minute"] == pytest.approx(64 / 2.0)
    conf = np.array([x.prediction.confidence for x in results[:60]])
    hit = np.array(y_true) == np.array(y_pred)
    assert m["mean_confidence_correct"] == pytest.approx(conf[hit].mean())
    assert m["mean_confidence_incorrect"] == pytest.approx(conf[~hit].mean())
    lat = [x.prediction.latency_s for x in results if x.prediction]
    assert m["latency_p95_s"] == pytest.approx(np.percentile(lat, 95))
    assert m["total_cost_usd"] == pytest.approx(0.0005 * 60)


def test_top2_and_calibration_by_hand():
    rs = [
        result("/a/rock/1.wav", "rock", prediction("rock", 0.9)),           # top1
        result("/a/rock/2.wav", "rock", prediction("metal", 0.7, second="rock")),  # top2
        result("/a/rock/3.wav", "rock", prediction("pop", 0.3, second="jazz")),    # miss
        result("/a/jazz/4.wav", "jazz", prediction("jazz", 0.95)),
    ]
    m = compute_metrics(rs)
    assert m["top2_accuracy"] == pytest.approx(3 / 4)
    # Bins: 0.3 -> (0.2,0.3], 0.7 -> (0.6,0.7], 0.9 -> (0.8,0.9], 0.95 -> (0.9,1.0]
    ece = (abs(0 - 0.3) + abs(0 - 0.7) + abs(1 - 0.9) + abs(1 - 0.95)) / 4
    assert m["expected_calibration_error"] == pytest.approx(ece)
    bins = calibration_bins([0.0, 1.0, 0.55], [True, True, False])
    assert bins[0]["count"] == 1 and bins[9]["count"] == 1 and bins[5]["count"] == 1


def test_targets_report_met_and_missed():
    rs = [result(f"/a/rock/{i}.wav", "rock", prediction("rock", 0.95, cost=0.001))
          for i in range(9)] + [result("/a/pop/9.wav", "pop", prediction("rock", 0.3))]
    m = compute_metrics(rs, songs_asked=10, elapsed_s=10.0)
    verdict = {t["name"]: t["met"] for t in m["targets"]}
    assert set(verdict) == TARGET_NAMES
    assert verdict["accuracy"] is True  # 90%
    assert verdict["coverage"] is True and verdict["failed songs"] is True
    assert verdict["cost per 1,000 songs"] is True  # $0.90 per 1,000
    assert verdict["confidence when correct"] is True and verdict["confidence when wrong"] is True
    m2 = compute_metrics(rs[:5], songs_asked=10, elapsed_s=100.0)
    verdict2 = {t["name"]: t["met"] for t in m2["targets"]}
    assert verdict2["coverage"] is False and verdict2["time per song"] is False
    assert verdict2["confidence when wrong"] is None  # nothing wrong: not measured


def test_write_reports_files_and_schemas(tmp_path):
    results, y_true, y_pred = _known_results()
    paths = write_reports(results, tmp_path, songs_asked=70, elapsed_s=60.0,
                          run_info={"run_id": "r1"})
    folder = tmp_path / "bedrock_results"
    assert {p.name for p in folder.iterdir()} == set(REPORT_FILES)  # no temp files left
    assert set(paths) == set(REPORT_FILES)

    tagged = json.loads((folder / "tagged_songs.json").read_text())
    assert len(tagged) == 62  # every classified song, unknown genres included; failures not
    for entry in tagged:
        _check(entry, TAGGED_SCHEMA)
        assert "/" not in entry["file"]
        assert entry["predicted_genre"] in GENRES
        assert all(isinstance(k, str) for k in entry["key_indicators"])
        assert all(g in GENRES for g in entry["alternative_genres"])
        assert entry["predicted_genre"] not in entry["alternative_genres"]
        assert set(entry["genre_scores"]) == set(GENRES)
        assert 0.0 <= entry["confidence"] <= 1.0
    unknown = [e for e in tagged if e["actual_genre"] is None]
    assert len(unknown) == 2 and all(e["is_correct"] is None for e in unknown)

    metrics = json.loads((folder / "accuracy_metrics.json").read_text())
    _check(metrics, METRICS_SCHEMA)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics["run"] == {"run_id": "r1"}
    assert {t["name"] for t in metrics["targets"]} == TARGET_NAMES
    for g, v in metrics["per_genre"].items():
        assert g in GENRES and set(v) == {"precision", "recall", "f1", "support"}

    with open(folder / "confusion_matrix.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["", *GENRES]
    assert [r[0] for r in rows[1:]] == list(GENRES)
    matrix = [[int(x) for x in r[1:]] for r in rows[1:]]
    assert matrix == confusion_matrix(y_true, y_pred, labels=list(GENRES)).tolist()

    text = (folder / "classification_report.txt").read_text()
    assert classification_report(y_true, y_pred, labels=list(GENRES), digits=3,
                                 zero_division=0) in text
    for name in TARGET_NAMES:
        assert name in text
    assert "NOT MET" in text or "MET" in text

    log = (folder / "errors.log").read_text().splitlines()
    assert log == ["bad.wav\tfeatures\tcorrupt_audio\tNot audio.",
                   "x.wav\tclassify\tthrottled\tStill throttled after 8 tries."]

    png = (folder / "classification_results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_reports_with_nothing_scored(tmp_path):
    rs = [result("/m/mix/a.wav", None, prediction("jazz", 0.9)),
          result("/m/mix/b.wav", None, error=SongError("corrupt_audio", "Not audio."))]
    write_reports(rs, tmp_path)
    m = json.loads((tmp_path / "bedrock_results" / "accuracy_metrics.json").read_text())
    assert m["accuracy"] is None and m["songs_tagged"] == 1 and m["failed_songs"] == 1
    assert "nothing to score" in (tmp_path / "bedrock_results" /
                                  "classification_report.txt").read_text()


def test_api_errors_are_not_measured_when_no_request_was_made():
    # the offline model makes no API call: "API errors < 5%: MET" would claim what nobody saw
    rs = [result("/m/rock/a.wav", "rock", prediction("rock", 0.9, backend="local"))]
    m = compute_metrics(rs)
    assert m["api_calls"] == 0 and m["api_error_rate"] is None
    target = next(t for t in m["targets"] if t["name"] == "API errors")
    assert target["met"] is None and target["value"] is None


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "tagged_songs.json"
    target.write_text("old")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(reports.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        reports.atomic_write(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tagged_songs.json"]


def test_report_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        paths = write_reports([result("/m/rock/a.wav", "rock", prediction("rock", 0.9))],
                              tmp_path)
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE(p.stat().st_mode) for name, p in paths.items()}
    assert modes == {name: 0o644 for name in REPORT_FILES}
    assert not [p for p in (tmp_path / "bedrock_results").iterdir() if p.suffix == ".tmp"]


def test_make_figure_has_the_four_panels():
    results, _, _ = _known_results(20)
    m = compute_metrics(results)
    fig = reports.make_figure(m, results)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert any("Confusion" in t for t in titles) and any("per genre" in t for t in titles)
    assert any("Confidence" in t for t in titles) and any("Reliability" in t for t in titles)


def test_rows_are_unique_by_path_and_coverage_is_a_percent(tmp_path):
    """Two folders holding songs of the same name: one row each, `path` tells them apart; a
    song given twice counts once; coverage never passes 100%, printed as a percent."""
    root = tmp_path / "music"
    a = [result(str(root / d / "blues" / "blues.00000.wav"), "blues", prediction(g, 0.7))
         for d, g in (("one", "blues"), ("two", "country"))]
    again = result(a[0].path, "blues", prediction("rock", 0.5))  # re-classified later
    results = [*a, again]
    m = compute_metrics(results, songs_asked=1)
    assert m["coverage"] == 1.0 and m["songs_processed"] == 2
    cov = next(t for t in m["targets"] if t["name"] == "coverage")
    assert cov["shown"] == "100.0%"
    paths = write_reports(results, tmp_path / "out", songs_asked=2, root=root)
    tagged = json.loads(paths["tagged_songs.json"].read_text())
    assert [(t["file"], t["path"], t["predicted_genre"]) for t in tagged] == [
        ("blues.00000.wav", "one/blues/blues.00000.wav", "rock"),
        ("blues.00000.wav", "two/blues/blues.00000.wav", "country"),
    ]
    assert "measured 100.0%" in paths["classification_report.txt"].read_text()


def test_the_songs_files_alone_need_neither_scikit_learn_nor_matplotlib(tmp_path):
    """What a run stopped by Ctrl+C writes on its way out: importing scikit-learn and
    matplotlib and drawing the plot took 3-5 s of the exit on a loaded machine."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from batch_helpers import prediction, result\n"
        "from genre_desktop.core.reports import write_song_reports\n"
        "rs = [result('/m/rock/a.wav', 'rock', prediction('rock', 0.9))]\n"
        f"paths = write_song_reports(rs, {str(tmp_path)!r}, stale=True)\n"
        "print(json.dumps([sorted(k for k in ('sklearn', 'matplotlib') if k in sys.modules),"
        " len(json.loads(paths['tagged_songs.json'].read_text()))]))\n"
    )
    folder = tmp_path / reports.RESULTS_FOLDER
    folder.mkdir()
    (folder / "classification_results.png").write_bytes(b"an earlier session's plot")
    (folder / "accuracy_metrics.json").write_text("{}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=os.path.dirname(__file__), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[], 1]
    # The earlier metrics and plot no longer match these songs: gone until `report` runs.
    assert sorted(p.name for p in folder.iterdir()) == ["errors.log", "tagged_songs.json"]
