"""The user's own reference: songs the user accepted or corrected, as labelled table rows.

Each row holds the song's 58 features, the audio tagger's output when the tagger is installed
(core.tagger's TAGGER_COLUMNS) and the label the user gave, in `my_reference.csv` under the
data folder (one row per file content: a later correction replaces the earlier label).

Runs use it at once: `with_user_rows(settings)` points the run at a table made of the chosen
reference (shipped or the user's `reference` setting) plus these rows, so they are few-shot
examples for the LLM and training rows for the offline model. `retrain` fits the offline model
on that table (the app calls it on a worker right after a review), so the next run finds it
in the model cache. A song's own row is never its own example or training row: rows are named
by the song's file name, and runs leave out rows named like the songs they classify
(runs._local_kwargs, the pipeline's exclude_refs) or matching their features.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from genre_desktop.core.resources import data_dir
from genre_desktop.core.types import FEATURE_COLUMNS, GENRES

USER_TABLE = "my_reference.csv"
_LOCK = threading.Lock()


def user_table_path() -> Path:
    return data_dir() / USER_TABLE


def training_label(genre: str) -> str | None:
    """A review genre as a GTZAN label ('Hip-Hop' -> 'hiphop'), or None when it is none of
    them: the offline model and the prompt know only those ten, so other genres still go into
    the file but not into the reference."""
    key = "".join(ch for ch in genre.lower() if ch.isalnum())
    return key if key in GENRES else None


def _tagger_row(path: str) -> dict[str, float]:
    """The tagger's columns for one file, or {} when the tagger is not installed."""
    try:
        from genre_desktop.core import tagger
        from genre_desktop.core.audio import load_audio

        if not tagger.available():
            return {}
        audio = load_audio(path, sr=16000, max_seconds=120.0)
        return tagger.as_row(tagger.tag_signal(audio.y, audio.sr))
    except Exception:  # the tagger is optional: a row with the 58 features still teaches
        return {}


def _features(path: str, max_seconds: float) -> dict[str, float] | None:
    from genre_desktop.core.features import extract_song
    from genre_desktop.core.types import SongError

    # Same max_seconds as the analysis, so this is a feature-cache hit, not a new extraction.
    song = extract_song(path, max_seconds=max_seconds, use_cache=True)
    if isinstance(song, SongError):
        return None
    return dict(song.features)


def load_user_rows() -> pd.DataFrame:
    path = user_table_path()
    if not path.is_file():
        return pd.DataFrame(columns=["filename", *FEATURE_COLUMNS, "label", "content_hash"])
    return pd.read_csv(path)


def _save(frame: pd.DataFrame) -> None:
    path = user_table_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def learn_from_review(pairs: Sequence[tuple[Any, str]], *,
                      max_seconds: float | None = None) -> int:
    """Add (SongResult, genre) pairs to the user's reference; returns how many rows it holds
    new or changed. Songs whose audio cannot be analysed or whose genre is not a GTZAN label
    are left out."""
    from genre_desktop.core.cache import file_sha256

    if max_seconds is None:
        from genre_desktop.core.settings import load_settings

        try:
            max_seconds = load_settings().max_seconds
        except ValueError:
            max_seconds = 120.0
    rows = []
    for result, genre in pairs:
        label = training_label(genre)
        if label is None:
            continue
        try:
            digest = file_sha256(result.path)
        except OSError:
            continue
        features = _features(result.path, max_seconds)
        if features is None:
            continue
        rows.append({"filename": Path(result.path).name, **features,
                     **_tagger_row(result.path), "label": label, "content_hash": digest})
    if not rows:
        return 0
    with _LOCK:
        old = load_user_rows()
        fresh = pd.DataFrame(rows)
        keep = old[~old["content_hash"].isin(set(fresh["content_hash"]))] if len(old) else old
        frames = [f for f in (keep, fresh) if len(f)]
        _save(pd.concat(frames, ignore_index=True) if len(frames) > 1 else fresh)
    return len(rows)


def forget(paths_or_hashes: Sequence[str]) -> int:
    """Drop rows by file content hash (or by the file's current hash, given a path)."""
    from genre_desktop.core.cache import file_sha256

    hashes = set()
    for item in paths_or_hashes:
        hashes.add(file_sha256(item) if os.path.isfile(item) else item)
    with _LOCK:
        old = load_user_rows()
        kept = old[~old["content_hash"].isin(hashes)]
        if len(kept) != len(old):
            _save(kept)
        return len(old) - len(kept)


def combined_table(base: str | Path | None = None) -> Path | None:
    """A table of `base` (None: the shipped one) plus the user's rows, or None without rows.

    Named by both tables' contents, so it is written once per change and caches keyed by the
    table's digest (the trained offline model) stay valid.
    """
    from genre_desktop.core.reference import default_table_path

    user = user_table_path()
    if not user.is_file():
        return None
    source = Path(base) if base else default_table_path()
    digest = hashlib.sha256(source.read_bytes() + b"\0" + user.read_bytes()).hexdigest()[:16]
    out = data_dir() / f"reference-with-mine-{digest}.csv"
    if out.is_file():
        return out
    with _LOCK:
        mine = load_user_rows().drop(columns=["content_hash"], errors="ignore")
        if mine.empty:
            return None
        frame = pd.concat([pd.read_csv(source), mine], ignore_index=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
        for old in data_dir().glob("reference-with-mine-*.csv"):  # earlier versions
            if old != out:
                old.unlink(missing_ok=True)
    return out


def with_user_rows(settings: Any) -> Any:
    """The settings with `reference` pointing at the combined table when the user has rows
    (and `learn_from_review` is on); unchanged otherwise."""
    if not getattr(settings, "learn_from_review", True):
        return settings
    base = settings.reference
    if base and Path(base).name.startswith("reference-with-mine-"):
        return settings  # already combined (a resumed run records the combined path)
    table = combined_table(base)
    if table is None:
        return settings
    return settings.replace(reference=str(table))


def retrain(settings: Any = None) -> str | None:
    """Fit (or load) the offline model on the reference with the user's rows; its model id."""
    from genre_desktop.core import offline_model as om
    from genre_desktop.core.reference import load_reference

    base = getattr(settings, "reference", None) if settings is not None else None
    table = combined_table(base)
    if table is None:
        return None
    return om.get_model(load_reference(table)).model_id
