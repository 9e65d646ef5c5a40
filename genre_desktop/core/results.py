"""One song's outcome in a batch run, and its entry in the standard `tagged_songs.json`."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre_desktop.core.types import Prediction, SongError


@dataclass
class SongResult:
    """Either a prediction or an error for one song (errors are values, never exceptions)."""

    path: str
    actual_genre: str | None
    prediction: Prediction | None = None
    error: SongError | None = None
    seconds: float = 0.0  # time this song spent in classification (wall)
    note: str = ""  # from extraction, e.g. "analysed the first 120 s of 301 s"
    finished_at: float = 0.0  # unix time
    # A failed attempt keeps the song's last good answer (from this run or an earlier run of
    # the same folder) beside its error; never counted in metrics, shown so it is not lost.
    last_good: Prediction | None = None
    content_hash: str = ""  # sha256 of the file when it was analysed (writing tags checks it)

    @property
    def file(self) -> str:
        return Path(self.path).name

    @property
    def ok(self) -> bool:
        return self.prediction is not None

    @property
    def is_correct(self) -> bool | None:
        if self.prediction is None or self.actual_genre is None:
            return None
        return self.prediction.predicted_genre == self.actual_genre

    def relative_path(self, root: str | Path | None) -> str:
        """The path below `root` (the run's folder) with / separators; absolute if outside."""
        path = Path(self.path)
        if root is not None:
            with contextlib.suppress(ValueError):
                return path.relative_to(Path(root)).as_posix()
        return path.as_posix()

    def tagged(self, root: str | Path | None = None) -> dict[str, Any]:
        """The standard tagged-song object plus our extra keys. Only for successful songs.

        `file` stays the bare name (the standard format); `path` tells songs of the same name
        in different folders apart (relative to the run's folder `root`).
        """
        p = self.prediction
        if p is None:
            raise ValueError("a failed song has no tagged entry")
        return {
            "file": self.file,
            "path": self.relative_path(root),
            "actual_genre": self.actual_genre,
            "predicted_genre": p.predicted_genre,
            "confidence": round(float(p.confidence), 4),
            "is_correct": self.is_correct,
            "reasoning": p.reasoning,
            "key_indicators": [str(k) for k in p.key_indicators],
            "alternative_genres": [str(g) for g, _ in p.alternative_genres],
            "genre_scores": {g: round(float(s), 4) for g, s in p.genre_scores.items()},
            "backend": p.backend,
            "model": p.model,
            "input_tokens": int(p.input_tokens),
            "output_tokens": int(p.output_tokens),
            "cost_usd": round(float(p.cost_usd), 6),
            "latency_s": round(float(p.latency_s), 3),
            "tags": [{"tag": str(t), "probability": round(float(q), 4)} for t, q in p.tags],
        }


def prediction_to_dict(p: Prediction) -> dict[str, Any]:
    data = dataclasses.asdict(p)
    data["alternative_genres"] = [[g, float(c)] for g, c in p.alternative_genres]
    data["members"] = [prediction_to_dict(m) for m in p.members]
    data["tags"] = [[t, float(q)] for t, q in p.tags]
    return data


def prediction_from_dict(data: dict[str, Any]) -> Prediction:
    fields = {f.name for f in dataclasses.fields(Prediction)}
    values = {k: v for k, v in data.items() if k in fields}
    values["alternative_genres"] = [(str(g), float(c)) for g, c in data["alternative_genres"]]
    values["members"] = [prediction_from_dict(m) for m in data.get("members", [])]
    values["tags"] = [(str(t), float(q)) for t, q in data.get("tags", [])]
    return Prediction(**values)


def error_from_dict(data: dict[str, Any]) -> SongError:
    fields = {f.name for f in dataclasses.fields(SongError)}
    return SongError(**{k: v for k, v in data.items() if k in fields})


def result_to_dict(r: SongResult) -> dict[str, Any]:
    """A whole result as JSON-ready values (the answers a full disk kept out of the store)."""
    return {"path": r.path, "actual_genre": r.actual_genre, "seconds": r.seconds,
            "note": r.note, "finished_at": r.finished_at, "content_hash": r.content_hash,
            "prediction": prediction_to_dict(r.prediction) if r.prediction else None,
            "error": r.error.to_dict() if r.error else None}


def result_from_dict(data: dict[str, Any]) -> SongResult:
    pred, err = data.get("prediction"), data.get("error")
    return SongResult(
        str(data["path"]), data.get("actual_genre"),
        prediction=prediction_from_dict(pred) if pred else None,
        error=error_from_dict(err) if err else None, seconds=float(data.get("seconds", 0.0)),
        note=str(data.get("note", "")), finished_at=float(data.get("finished_at", 0.0)),
        content_hash=str(data.get("content_hash", "")))


def format_value(value: Any, kind: str = "", missing: str = "n/a") -> str:
    """A metric for people: kind is pct, usd, s (seconds), rate or anything else (plain)."""
    if value is None:
        return missing
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "usd":
        return f"${value:.4f}"
    if kind == "s":
        return f"{value:.2f} s"
    if kind == "rate":
        return f"{value:.1f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
