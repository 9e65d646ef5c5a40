"""Run metrics as a plain dict (scikit-learn for the classification scores) and the targets.

Songs without a known genre are tagged but left out of every accuracy figure; failed songs
count in coverage, failure rate and API error rate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from genre_desktop.core.results import SongResult, format_value
from genre_desktop.core.types import GENRES

ECE_BINS = 10
# Errors worth retrying are the API's fault; a song that failed at "classify" is an API error.
API_STAGE = "classify"


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def labels_for(y_true: Sequence[str], y_pred: Sequence[str]) -> list[str]:
    """The genres present in either list, in GENRES order (what scikit-learn reports on)."""
    present = set(y_true) | set(y_pred)
    return [g for g in GENRES if g in present] + sorted(present - set(GENRES))


def calibration_bins(confidences: Sequence[float], correct: Sequence[bool]) -> list[dict]:
    """Equal-width confidence bins: count, mean confidence and accuracy of each."""
    conf = np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0)
    hit = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    # Bin i holds (edge_i, edge_i+1]; a confidence of exactly 0 goes into the first bin.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, ECE_BINS - 1)
    bins = []
    for i in range(ECE_BINS):
        mask = idx == i
        n = int(mask.sum())
        bins.append({
            "lower": float(edges[i]), "upper": float(edges[i + 1]), "count": n,
            "mean_confidence": float(conf[mask].mean()) if n else None,
            "accuracy": float(hit[mask].mean()) if n else None,
        })
    return bins


def expected_calibration_error(bins: list[dict]) -> float | None:
    total = sum(b["count"] for b in bins)
    if not total:
        return None
    return float(sum(
        b["count"] / total * abs(b["accuracy"] - b["mean_confidence"]) for b in bins if b["count"]
    ))


def _top2_hit(result: SongResult) -> bool:
    p = result.prediction
    assert p is not None
    ranked = [p.predicted_genre] + [g for g, _ in p.alternative_genres if g != p.predicted_genre]
    return result.actual_genre in ranked[:2]


def compute_metrics(
    results: Sequence[SongResult],
    *,
    songs_asked: int | None = None,
    elapsed_s: float | None = None,
) -> dict[str, Any]:
    """Every figure of `accuracy_metrics.json` from the results of one run.

    A song given twice counts once (its last result), so coverage never passes 100%.
    """
    results = list({r.path: r for r in results}.values())
    ok = [r for r in results if r.prediction is not None]
    failed = [r for r in results if r.prediction is None]
    scored = [r for r in ok if r.actual_genre is not None]
    asked = songs_asked if songs_asked is not None else len(results)
    attempted = len(ok) + len(failed)
    preds = [r.prediction for r in ok]

    y_true = [r.actual_genre for r in scored]
    y_pred = [r.prediction.predicted_genre for r in scored]  # type: ignore[union-attr]
    labels = labels_for(y_true, y_pred)
    m: dict[str, Any] = {
        "songs_asked": asked,
        "songs_processed": attempted,
        "songs_tagged": len(ok),
        "songs_scored": len(scored),
        "songs_unknown_genre": len(ok) - len(scored),
        # A fraction like accuracy (shown as a percent); never above 1: songs outside the
        # `asked` set (an earlier run's) cannot make it 104%.
        "coverage": min(1.0, attempted / asked) if asked else None,
        "failed_songs": len(failed),
        "failed_rate": len(failed) / attempted if attempted else None,
        "failed_files": [r.file for r in failed],
        # Ensemble songs decided without a member that failed ("bedrock: throttled" -> n):
        # 0 failed songs can still mean the LLM half never answered.
        "member_failures": dict(Counter(f for r in ok for f in r.prediction.member_failures)),
        "labels": labels,
    }
    if scored:
        confs = [float(r.prediction.confidence) for r in scored]  # type: ignore[union-attr]
        hits = [t == p for t, p in zip(y_true, y_pred, strict=True)]
        prec, rec, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        per_genre = {
            g: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                "support": int(support[i])}
            for i, g in enumerate(labels)
        }
        # Accuracy on the songs of each genre (= recall), only for genres that had songs.
        genre_acc = {g: v["recall"] for g, v in per_genre.items() if v["support"] > 0}
        bins = calibration_bins(confs, hits)
        cm = confusion_matrix(y_true, y_pred, labels=list(GENRES))
        m.update({
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                       zero_division=0)),
            "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted",
                                          zero_division=0)),
            "top2_accuracy": float(np.mean([_top2_hit(r) for r in scored])),
            "per_genre": per_genre,
            "per_genre_accuracy": genre_acc,
            "genre_balance": {
                "min": min(genre_acc.values()), "max": max(genre_acc.values()),
                "spread": max(genre_acc.values()) - min(genre_acc.values()),
                "std": float(np.std(list(genre_acc.values()))),
            },
            "mean_confidence": float(np.mean(confs)),
            "mean_confidence_correct": _mean([c for c, h in zip(confs, hits, strict=True) if h]),
            "mean_confidence_incorrect": _mean(
                [c for c, h in zip(confs, hits, strict=True) if not h]
            ),
            "calibration_bins": bins,
            "expected_calibration_error": expected_calibration_error(bins),
            "confusion_matrix": {"labels": list(GENRES), "matrix": cm.tolist()},
        })
    else:
        m.update({k: None for k in (
            "accuracy", "macro_f1", "weighted_f1", "top2_accuracy", "genre_balance",
            "mean_confidence", "mean_confidence_correct", "mean_confidence_incorrect",
            "expected_calibration_error")})
        m.update({"per_genre": {}, "per_genre_accuracy": {}, "calibration_bins": [],
                  "confusion_matrix": {"labels": list(GENRES),
                                       "matrix": [[0] * len(GENRES) for _ in GENRES]}})

    api_calls = sum(p.api_calls for p in preds)
    retries = sum(p.retries for p in preds)
    api_failures = [r for r in failed if r.error is not None and r.error.stage == API_STAGE]
    # Each retry answers a failed request; each failed song ended on one. Calls include both.
    requests = api_calls + len(api_failures)
    latencies = [float(p.latency_s) for p in preds]
    cost = float(sum(p.cost_usd for p in preds))
    m.update({
        "api_calls": api_calls,
        "retries": retries,
        "api_errors": retries + len(api_failures),
        # None without a single request (e.g. the offline model): nothing was measured
        "api_error_rate": (retries + len(api_failures)) / requests if requests else None,
        "input_tokens": int(sum(p.input_tokens for p in preds)),
        "output_tokens": int(sum(p.output_tokens for p in preds)),
        "total_cost_usd": cost,
        "cost_per_song_usd": cost / len(ok) if ok else None,
        "cost_per_1000_songs_usd": 1000 * cost / len(ok) if ok else None,
        "latency_p50_s": _pct(latencies, 50),
        "latency_p95_s": _pct(latencies, 95),
        "latency_mean_s": _mean(latencies),
        "elapsed_s": elapsed_s,
        "seconds_per_song": elapsed_s / attempted if elapsed_s and attempted else None,
        "songs_per_minute": 60 * attempted / elapsed_s if elapsed_s and attempted else None,
        "backends": sorted({p.backend for p in preds}),
        "models": sorted({p.model for p in preds}),
    })
    m["targets"] = evaluate_targets(m)
    return _finite(m)


TARGET_KINDS: dict[str, str] = {
    "accuracy": "pct", "coverage": "pct", "time per song": "s", "cost per 1,000 songs": "usd",
    "failed songs": "pct", "confidence when correct": "num", "confidence when wrong": "num",
    "API errors": "pct",
}


def evaluate_targets(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The mission's targets, each with the measured value and whether the run met it."""

    def target(name: str, goal: str, value: float | None, met: bool | None) -> dict[str, Any]:
        # `shown`: the value as the report and the app print it (62.5%, 1.20 s, $0.0100).
        shown = format_value(value, TARGET_KINDS.get(name, "num"), missing="n/a")
        return {"name": name, "goal": goal, "value": value, "met": met, "shown": shown}

    def below(value: float | None, limit: float) -> bool | None:
        return None if value is None else bool(value < limit)

    def above(value: float | None, limit: float) -> bool | None:
        return None if value is None else bool(value > limit)

    acc, cov, sps = m.get("accuracy"), m.get("coverage"), m.get("seconds_per_song")
    per_k, fail = m.get("cost_per_1000_songs_usd"), m.get("failed_rate")
    cc, ci = m.get("mean_confidence_correct"), m.get("mean_confidence_incorrect")
    api = m.get("api_error_rate")
    return [
        target("accuracy", "> 70%", acc, above(acc, 0.70)),
        target("coverage", "100%", cov, None if cov is None else cov >= 1.0),
        target("time per song", "< 5 s", sps, below(sps, 5.0)),
        target("cost per 1,000 songs", "< $10", per_k, below(per_k, 10.0)),
        target("failed songs", "< 1%", fail, below(fail, 0.01)),
        target("confidence when correct", "> 0.8 on average", cc, above(cc, 0.8)),
        target("confidence when wrong", "< 0.5 on average", ci, below(ci, 0.5)),
        target("API errors", "< 5%", api, below(api, 0.05)),
    ]


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: such values become None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
