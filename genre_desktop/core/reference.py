"""The labelled reference table (Kaggle features_30_sec.csv or a user table, same columns)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genre_desktop.core.resources import resource
from genre_desktop.core.types import FEATURE_COLUMNS, GENRES

DEFAULT_TABLE = "features_30_sec.csv"
# Built by `genre-desktop reference build` from the 50 shared GTZAN clips: the 58 features and
# the tagger's output per song. The offline model and the prompt's examples use it by default
# when the tagger is installed; the Kaggle table stays the 58-feature reference.
TAGGER_TABLE = "gtzan_shared_tagger.csv"


class ReferenceError(ValueError):
    """The table cannot serve as a reference (missing columns, no labels, unreadable)."""


@dataclass(frozen=True)
class ReferenceTable:
    frame: pd.DataFrame  # columns: filename, the 58 features, label
    source: Path
    digest: str  # sha256 of the file bytes: keys caches of anything trained on it

    @property
    def X(self) -> np.ndarray:  # the usual name for a feature matrix
        return self.frame.loc[:, list(FEATURE_COLUMNS)].to_numpy(dtype=float)

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=str)

    @property
    def filenames(self) -> np.ndarray:
        return self.frame["filename"].to_numpy(dtype=str)

    @property
    def has_tagger(self) -> bool:
        """True when every row also holds the tagger's tags and embeddings."""
        from genre_desktop.core.tagger import TAGGER_COLUMNS

        return all(c in self.frame.columns for c in TAGGER_COLUMNS)

    def tagger_matrix(self, part: str) -> np.ndarray:
        """"tags" (n, 100) or "embeddings" (n, 400), in tagger.TAG/EMBEDDING_COLUMNS order."""
        from genre_desktop.core.tagger import EMBEDDING_COLUMNS, TAG_COLUMNS

        cols = TAG_COLUMNS if part == "tags" else EMBEDDING_COLUMNS
        return self.frame.loc[:, list(cols)].to_numpy(dtype=float)

    def __len__(self) -> int:
        return len(self.frame)


def default_table_path() -> Path:
    return resource(DEFAULT_TABLE)


def tagger_table_path() -> Path:
    return resource(TAGGER_TABLE)


@lru_cache(maxsize=4)
def load_reference(path: str | Path | None = None) -> ReferenceTable:
    """Load and validate a reference table; the shipped Kaggle table when `path` is None."""
    source = Path(path) if path is not None else default_table_path()
    try:
        raw = source.read_bytes()
        frame = pd.read_csv(source)
    except (OSError, ValueError) as exc:
        raise ReferenceError(f"Cannot read the reference table {source.name}: {exc}") from exc
    missing = [c for c in ("filename", *FEATURE_COLUMNS, "label") if c not in frame.columns]
    if missing:
        raise ReferenceError(
            f"The reference table {source.name} lacks {len(missing)} column(s): "
            + ", ".join(missing[:5])
        )
    for column in FEATURE_COLUMNS:  # a word or an infinity in a column: refused, with its line
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values.isna() & frame[column].notna()) | np.isinf(values.fillna(0.0))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ReferenceError(
                f"The reference table {source.name} has {frame[column].iloc[row]!r} in column "
                f"{column} on line {row + 2}; every feature must be a finite number.")
        frame[column] = values
    frame = frame.dropna(subset=["label", *FEATURE_COLUMNS]).reset_index(drop=True)
    from genre_desktop.core.tagger import TAGGER_COLUMNS

    # Tagger columns are kept only when every row has them (a table built by `reference
    # build`); a table mixing rows with and without them is a 58-feature table.
    extra = list(TAGGER_COLUMNS) if all(c in frame.columns for c in TAGGER_COLUMNS) else []
    if extra and frame[extra].isna().to_numpy().any():
        extra = []
    if frame.empty:
        raise ReferenceError(f"The reference table {source.name} has no labelled rows.")
    frame = frame.loc[:, ["filename", *FEATURE_COLUMNS, *extra, "label"]]
    return ReferenceTable(frame=frame, source=source, digest=hashlib.sha256(raw).hexdigest())


MIN_ROWS_PER_GENRE = 5  # the offline model calibrates on 5 folds of each genre


def training_problem(table: ReferenceTable, exclude: Sequence[str] = ()) -> str | None:
    """Why the offline model cannot be trained on `table` (minus rows named in `exclude`),
    as a sentence; None when it can."""
    labels = table.frame.loc[~table.frame["filename"].isin(set(exclude)), "label"]
    counts = labels.astype(str).value_counts()
    name = table.source.name
    if len(counts) < 2:
        return (f"The reference table {name} has {len(counts)} genre(s); the offline model "
                "needs at least 2 to tell apart.")
    small = counts[counts < MIN_ROWS_PER_GENRE]
    if len(small):
        return (f"The reference table {name} has only {int(small.iloc[-1])} row(s) of "
                f"{small.index[-1]!r}; the offline model needs at least {MIN_ROWS_PER_GENRE} "
                "of every genre.")
    return None


# --- Helpers over a table: percentiles, genre profiles, neighbours, self-matches -------------

# `length` encodes how long the clip was, not what it sounds like: left out of every distance.
DISTANCE_COLUMNS: tuple[str, ...] = tuple(c for c in FEATURE_COLUMNS if c != "length")

# Same-audio threshold: median absolute standardised difference over DISTANCE_COLUMNS.
# Re-extracting a shipped 30 s clip gives about 0.001; the closest two distinct songs of the
# Kaggle table are about 0.06 apart, except GTZAN's known duplicates (the same audio twice),
# which are rightly caught too.
SAME_AUDIO_TOL = 0.05
# Excerpt guard (see matching_rows): measured on the 36 shared 15-20 s excerpts, whose own
# row sits 0.05-0.31 away and at most 0.79 times the gap to the next row.
EXCERPT_MAX_GAP = 0.35
EXCERPT_RATIO = 0.85


def _harmonic_share(get: Callable[[str], Any]) -> Any:
    h, p = get("harmony_var"), get("perceptr_var")
    return h / (h + p + 1e-12)


def _rms_dynamics(get: Callable[[str], Any]) -> Any:
    # coefficient of variation of the RMS envelope: loudness swings relative to the level
    return np.sqrt(np.maximum(get("rms_var"), 0.0)) / (get("rms_mean") + 1e-12)


def _timbre_variability(get: Callable[[str], Any]) -> Any:
    return sum(np.log1p(np.maximum(get(f"mfcc{i}_var"), 0.0)) for i in range(2, 14)) / 12.0


# Derived measures that `percentile` also accepts as a column name.
DERIVED_COLUMNS: dict[str, Callable[[Callable[[str], Any]], Any]] = {
    "harmonic_share": _harmonic_share,
    "rms_dynamics": _rms_dynamics,
    "timbre_variability": _timbre_variability,
}


_VAR_MASK = np.array([c.endswith("_var") for c in DISTANCE_COLUMNS])


def _distance_space(x: np.ndarray) -> np.ndarray:
    # Variances are heavily right-skewed: on a log scale they stop drowning the other columns
    # (leave-one-artist-out 1-NN accuracy on the Kaggle table: 58.9% raw, 60.4% with logs).
    out = x.copy()
    out[:, _VAR_MASK] = np.log(np.maximum(out[:, _VAR_MASK], 1e-12))
    return out


@dataclass(frozen=True)
class Neighbour:
    filename: str  # table row id: holds the label, never shown in a prompt
    label: str
    distance: float  # root-mean-square standardised difference (cosine in embedding space)
    features: dict[str, float]
    tagger: dict[str, list[float]] = field(default_factory=dict)  # with embedding neighbours


@dataclass(frozen=True)
class _Stats:
    mean: np.ndarray
    std: np.ndarray
    z: np.ndarray  # standardised DISTANCE_COLUMNS of every row
    sorted_columns: dict[str, np.ndarray]  # every feature and derived column, sorted
    profiles: dict[str, dict[str, float]]


_STATS: dict[tuple[str, int, int], _Stats] = {}


def _stats(table: ReferenceTable) -> _Stats:
    # Keyed by content digest (and shape, for tables built in memory); a table is immutable.
    key = (table.digest, len(table.frame), id(table.frame) if not table.digest else 0)
    cached = _STATS.get(key)
    if cached is not None:
        return cached
    frame = table.frame
    x = _distance_space(frame.loc[:, list(DISTANCE_COLUMNS)].to_numpy(dtype=float))
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    columns = {c: np.sort(frame[c].to_numpy(dtype=float)) for c in FEATURE_COLUMNS}

    def get(c: str) -> np.ndarray:
        return frame[c].to_numpy(dtype=float)

    for name, fn in DERIVED_COLUMNS.items():
        columns[name] = np.sort(np.asarray(fn(get), dtype=float))
    profiles: dict[str, dict[str, float]] = {}
    labels = frame["label"].astype(str)
    ordered = [g for g in GENRES if g in set(labels)] + sorted(set(labels) - set(GENRES))
    for genre in ordered:
        rows = frame.loc[labels == genre]
        medians = {c: float(rows[c].median()) for c in FEATURE_COLUMNS}
        for name, fn in DERIVED_COLUMNS.items():
            medians[name] = float(np.median(fn(lambda c, r=rows: r[c].to_numpy(dtype=float))))
        profiles[genre] = medians
    stats = _Stats(mean, std, (x - mean) / std, columns, profiles)
    if len(_STATS) > 8:
        _STATS.clear()
    _STATS[key] = stats
    return stats


def feature_value(features: Mapping[str, float], column: str) -> float:
    """A column of the table or a DERIVED_COLUMNS measure, from one song's features."""
    if column in DERIVED_COLUMNS:
        return float(DERIVED_COLUMNS[column](lambda c: float(features[c])))
    return float(features[column])


def percentile(table: ReferenceTable, column: str, value: float) -> float:
    """Share of reference rows below `value` (ties count half), 0-100."""
    ordered = _stats(table).sorted_columns.get(column)
    if ordered is None:
        raise KeyError(f"Unknown reference column {column!r}")
    if not np.isfinite(value):
        return 50.0
    below = np.searchsorted(ordered, value, side="left")
    upto = np.searchsorted(ordered, value, side="right")
    return float(100.0 * (below + 0.5 * (upto - below)) / len(ordered))


def genre_profiles(table: ReferenceTable) -> dict[str, dict[str, float]]:
    """Per label, the median of every feature (and derived measure). Cached per table."""
    return _stats(table).profiles


def _standardise(table: ReferenceTable, features: Mapping[str, float]) -> np.ndarray:
    stats = _stats(table)
    values = np.array([float(features.get(c, np.nan)) for c in DISTANCE_COLUMNS])
    return (_distance_space(values[None, :])[0] - stats.mean) / stats.std


def _row_gaps(table: ReferenceTable, features: Mapping[str, float]) -> np.ndarray:
    z = _standardise(table, features)
    known = np.isfinite(z)
    if not known.any():
        raise ValueError("The song has none of the reference feature columns.")
    return np.abs(_stats(table).z[:, known] - z[known])


def matching_rows(
    table: ReferenceTable,
    features: Mapping[str, float],
    tol: float = SAME_AUDIO_TOL,
    excerpt_ratio: float | None = EXCERPT_RATIO,
) -> frozenset[str]:
    """Filenames of rows holding the song's own audio: its row, duplicates, or its full clip.

    Lets callers keep a song from being its own example without knowing its table filename.
    Rows within `tol` are the same audio. A 15-20 s excerpt of a table song is further from
    its own row (up to ~0.3) but that row stands out: when the closest row is within
    EXCERPT_MAX_GAP and at most `excerpt_ratio` times the next distinct row's gap, it (and its
    duplicates) is taken as the same recording. That also drops an unrelated song's closest
    row for about a fifth of songs: a small price next to a song labelling itself.
    """
    gaps = np.median(_row_gaps(table, features), axis=1)
    same = gaps <= tol
    if excerpt_ratio and not same.any():
        order = np.argsort(gaps, kind="stable")
        best = gaps[order[0]]
        # the next row that is not a duplicate of the closest one
        z = _stats(table).z
        dup = np.median(np.abs(z[order] - z[order[0]]), axis=1) <= tol
        rest = gaps[order][~dup]
        if best <= EXCERPT_MAX_GAP and (rest.size == 0 or best <= excerpt_ratio * rest[0]):
            same = np.zeros_like(same)
            same[order[dup]] = True
    return frozenset(table.filenames[same].tolist())


def _row_features(table: ReferenceTable, index: int) -> dict[str, float]:
    row = table.frame.iloc[index]
    return {c: float(row[c]) for c in FEATURE_COLUMNS}


def nearest(
    table: ReferenceTable,
    features: Mapping[str, float],
    k: int = 5,
    exclude: frozenset[str] = frozenset(),
    one_per_genre: bool = False,
) -> list[Neighbour]:
    """The k closest rows by standardised distance (without `length`), closest first.

    Rows named in `exclude` and rows matching the song's own audio are never returned. With
    `one_per_genre`, the closest row of each of the k most likely genres (ranked by the mean
    distance of their three closest rows).
    """
    gaps = _row_gaps(table, features)
    distance = np.sqrt(np.mean(gaps**2, axis=1))
    banned = set(exclude) | matching_rows(table, features)
    names = table.filenames
    labels = table.labels
    allowed = np.array([n not in banned for n in names])
    order = [int(i) for i in np.argsort(distance, kind="stable") if allowed[i]]
    if one_per_genre:
        by_genre: dict[str, list[int]] = {}
        for i in order:
            by_genre.setdefault(str(labels[i]), []).append(i)
        ranked = sorted(by_genre, key=lambda g: float(np.mean(distance[by_genre[g][:3]])))
        chosen = [by_genre[g][0] for g in ranked[:k]]
    else:
        chosen = order[:k]
    return [
        Neighbour(str(names[i]), str(labels[i]), float(distance[i]), _row_features(table, i))
        for i in chosen
    ]


def _row_tagger(table: ReferenceTable, index: int) -> dict[str, list[float]]:
    tags = table.tagger_matrix("tags")[index]
    emb = table.tagger_matrix("embeddings")[index]
    return {"msd_tags": tags[:50].tolist(), "mtt_tags": tags[50:].tolist(),
            "msd_embedding": emb[:200].tolist(), "mtt_embedding": emb[200:].tolist()}


def nearest_by_embedding(
    table: ReferenceTable,
    features: Mapping[str, float],
    output: Mapping[str, list[float]],
    k: int = 5,
    exclude: frozenset[str] = frozenset(),
    one_per_genre: bool = False,
) -> list[Neighbour]:
    """The k rows closest in the tagger's embedding space (cosine distance of standardised
    embeddings), closest first; `table` must have tagger columns. As in `nearest`, rows in
    `exclude` and rows holding the song's own audio are never returned."""
    emb = table.tagger_matrix("embeddings")
    mean, std = emb.mean(axis=0), emb.std(axis=0)
    std[std == 0] = 1.0
    rows = (emb - mean) / std
    song = (np.asarray([*output["msd_embedding"], *output["mtt_embedding"]]) - mean) / std
    cos = rows @ song / (np.linalg.norm(rows, axis=1) * np.linalg.norm(song) + 1e-12)
    distance = 1.0 - cos
    banned = set(exclude) | matching_rows(table, features)
    names, labels = table.filenames, table.labels
    order = [int(i) for i in np.argsort(distance, kind="stable") if names[i] not in banned]
    if one_per_genre:
        seen: set[str] = set()
        order = [i for i in order if not (labels[i] in seen or seen.add(str(labels[i])))]
    return [
        Neighbour(str(names[i]), str(labels[i]), float(distance[i]), _row_features(table, i),
                  _row_tagger(table, i))
        for i in order[:k]
    ]
