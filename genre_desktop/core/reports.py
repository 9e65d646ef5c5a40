"""The standard report set, written atomically to OUT/bedrock_results/.

tagged_songs.json, accuracy_metrics.json, confusion_matrix.csv, classification_report.txt,
classification_results.png and errors.log. `compute_metrics` and `make_figure` are re-exported
so the app draws and shows exactly what the files hold.

scikit-learn and matplotlib are imported only to write the metrics and the plot (3-5 s on a
loaded machine): `write_song_reports` writes the songs' files without them, which is what a
run stopped by Ctrl+C does on its way out (the rest comes from `genre-desktop report RUN`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genre_desktop.core.redact import redact
from genre_desktop.core.results import SongResult
from genre_desktop.core.results import format_value as _fmt

if TYPE_CHECKING:  # imported on first use by __getattr__ below
    from genre_desktop.core.metrics import compute_metrics
    from genre_desktop.core.plots import make_figure

__all__ = ["REPORT_FILES", "compute_metrics", "make_figure", "write_reports",
           "write_song_reports"]

RESULTS_FOLDER = "bedrock_results"
REPORT_FILES: tuple[str, ...] = (
    "tagged_songs.json", "accuracy_metrics.json", "confusion_matrix.csv",
    "classification_report.txt", "classification_results.png", "errors.log",
)
SONG_FILES: tuple[str, ...] = ("tagged_songs.json", "errors.log")  # no metrics, no plot
DEFERRED_FILES: tuple[str, ...] = tuple(f for f in REPORT_FILES if f not in SONG_FILES)


def __getattr__(name: str) -> Any:
    """The re-exports, imported on first use (each pulls in scikit-learn or matplotlib)."""
    if name == "compute_metrics":
        from genre_desktop.core.metrics import compute_metrics

        return compute_metrics
    if name == "make_figure":
        from genre_desktop.core.plots import make_figure

        return make_figure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 would survive the rename and make the reports private to us.
    # Mode 0o666 lets the user's umask decide, as for any file they write.
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(value: Any) -> Any:
    """NaN and infinities as null: json.dumps would write NaN, which is not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(obj: Any) -> bytes:
    text = json.dumps(_finite(obj), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def unique_by_path(results: Sequence[SongResult]) -> list[SongResult]:
    """One result per song path (the last one given wins), in first-seen order."""
    latest: dict[str, SongResult] = {}
    for r in results:
        latest[r.path] = r  # a dict keeps the first position of a key and the last value
    return list(latest.values())


def tagged_songs(results: Sequence[SongResult],
                 root: str | Path | None = None) -> list[dict[str, Any]]:
    return [r.tagged(root) for r in unique_by_path(results) if r.prediction is not None]


def confusion_csv(metrics: dict[str, Any]) -> str:
    labels = metrics["confusion_matrix"]["labels"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["", *labels])
    for label, row in zip(labels, metrics["confusion_matrix"]["matrix"], strict=True):
        writer.writerow([label, *row])
    return buf.getvalue()


def report_text(metrics: dict[str, Any], results: Sequence[SongResult]) -> str:
    """scikit-learn's classification report, then a summary and every target with its verdict."""
    from sklearn.metrics import classification_report

    scored = [r for r in results if r.prediction is not None and r.actual_genre is not None]
    lines = ["Classification report", "=" * 21, ""]
    if scored:
        y_true = [r.actual_genre for r in scored]
        y_pred = [r.prediction.predicted_genre for r in scored]  # type: ignore[union-attr]
        lines.append(classification_report(
            y_true, y_pred, labels=metrics["labels"], digits=3, zero_division=0
        ))
    else:
        lines.append("No song with a known genre was classified: nothing to score.\n")
    m = metrics
    lines += [
        "Summary", "-" * 7,
        f"Songs asked: {m['songs_asked']}, processed: {m['songs_processed']}, "
        f"tagged: {m['songs_tagged']}, scored (known genre): {m['songs_scored']}, "
        f"failed: {m['failed_songs']}",
        f"Accuracy: {_fmt(m['accuracy'], 'pct')}   macro F1: {_fmt(m['macro_f1'], 'num')}   "
        f"top-2 accuracy: {_fmt(m['top2_accuracy'], 'pct')}",
        f"Mean confidence correct: {_fmt(m['mean_confidence_correct'], 'num')}   "
        f"incorrect: {_fmt(m['mean_confidence_incorrect'], 'num')}   "
        f"ECE: {_fmt(m['expected_calibration_error'], 'num')}",
        f"Backends: {', '.join(m['backends']) or 'n/a'}   "
        f"models: {', '.join(m['models']) or 'n/a'}",
        f"API calls: {m['api_calls']}, retries: {m['retries']}, "
        f"API error rate: {_fmt(m['api_error_rate'], 'pct')}",
        f"Tokens in/out: {m['input_tokens']}/{m['output_tokens']}   "
        f"cost: {_fmt(m['total_cost_usd'], 'usd')} "
        f"({_fmt(m['cost_per_song_usd'], 'usd')} per song)",
        f"Latency p50/p95: {_fmt(m['latency_p50_s'], 's')} / {_fmt(m['latency_p95_s'], 's')}   "
        f"songs per minute: {_fmt(m['songs_per_minute'], 'rate')}",
        "",
        "Targets", "-" * 7,
    ]
    for t in m["targets"]:
        verdict = {True: "MET", False: "NOT MET", None: "NOT MEASURED"}[t["met"]]
        value = t["shown"]
        lines.append(f"[{verdict:>12}] {t['name']}: goal {t['goal']}, measured {value}")
    if m["failed_files"]:
        lines += ["", f"Failed songs ({m['failed_songs']}): see errors.log"]
    return "\n".join(lines) + "\n"


def errors_log(results: Sequence[SongResult]) -> str:
    """One line per failed song: file, stage, reason code, the human sentence."""
    lines = []
    for r in results:
        if r.error is not None:
            e = r.error
            message = " ".join(e.message.split())
            lines.append(f"{r.file}\t{e.stage}\t{e.reason}\t{message}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_reports(
    results: Sequence[SongResult],
    out_dir: str | Path,
    *,
    songs_asked: int | None = None,
    elapsed_s: float | None = None,
    run_info: dict[str, Any] | None = None,
    root: str | Path | None = None,
) -> dict[str, Path]:
    """Write the six files to `out_dir/bedrock_results/` and return their paths by name.

    `root` is the run's folder: each tagged song's `path` is relative to it. A song given
    twice is reported once (its last result).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from genre_desktop.core.metrics import compute_metrics
    from genre_desktop.core.plots import make_figure

    results = unique_by_path(results)
    metrics = compute_metrics(results, songs_asked=songs_asked, elapsed_s=elapsed_s)
    if run_info:
        metrics["run"] = run_info
    paths = write_song_reports(results, out_dir, root=root)
    put = _writer(paths)
    put("accuracy_metrics.json", _json(metrics))
    put("confusion_matrix.csv", confusion_csv(metrics).encode("utf-8"))
    put("classification_report.txt", report_text(metrics, results).encode("utf-8"))
    fig = make_figure(metrics, results)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    atomic_write(paths["classification_results.png"], buf.getvalue())
    return paths


def write_song_reports(results: Sequence[SongResult], out_dir: str | Path, *,
                       root: str | Path | None = None, stale: bool = False) -> dict[str, Path]:
    """Only tagged_songs.json and errors.log (every finished song's answer or error), in
    milliseconds: no scikit-learn, no matplotlib. Returns the paths of all six files.

    `stale`: remove the metrics, report and plot an earlier write left in the folder, which
    no longer match these songs (they are written again by `write_reports`).
    """
    folder = Path(out_dir) / RESULTS_FOLDER
    results = unique_by_path(results)
    paths = {name: folder / name for name in REPORT_FILES}
    put = _writer(paths)
    put("tagged_songs.json", _json(tagged_songs(results, root)))
    put("errors.log", errors_log(results).encode("utf-8"))
    if stale:
        for name in DEFERRED_FILES:
            paths[name].unlink(missing_ok=True)
    return paths


def _writer(paths: dict[str, Path]) -> Any:
    def put(name: str, data: bytes) -> None:  # an error may quote a credential: mask it
        atomic_write(paths[name], redact(data.decode("utf-8")).encode("utf-8"))

    return put

