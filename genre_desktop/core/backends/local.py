"""The built-in offline backend (the default): no account, no network, an answer in milliseconds."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from genre_desktop.core import offline_model as om
from genre_desktop.core import offline_tagger as ot
from genre_desktop.core.backends.local_reasons import cite_traits, reasoning_text
from genre_desktop.core.reference import (
    ReferenceError,
    ReferenceTable,
    load_reference,
    tagger_table_path,
)
from genre_desktop.core.types import (
    FEATURE_COLUMNS,
    GENRES,
    CancelFlag,
    Prediction,
    SongError,
    SongFeatures,
)

# Below this many analysed seconds the reasoning says it heard an excerpt. (The probabilities
# need no extra tempering: on the 36 shared 15-20 s excerpts mean confidence 0.51 matched
# accuracy 0.61 no worse than on full clips.)
SHORT_EXCERPT_S = 25.0
N_ALTERNATIVES = 3


def _usable(features: Mapping[str, float]) -> bool:
    try:
        return all(math.isfinite(float(features[c])) for c in FEATURE_COLUMNS)
    except (KeyError, TypeError, ValueError):
        return False


def default_tagger_table(with_user_rows: bool = False) -> ReferenceTable | None:
    """The shipped reference with tagger output, when the tagger is installed; with
    `with_user_rows`, plus the user's reviewed songs that have tagger output."""
    from genre_desktop.core import tagger

    path = tagger_table_path()
    if not (tagger.available() and path.is_file()):
        return None
    table = load_reference(path)
    if not table.has_tagger:
        return None
    return _plus_user_rows(table) if with_user_rows else table


def _plus_user_rows(table: ReferenceTable) -> ReferenceTable:
    import hashlib

    import pandas as pd

    from genre_desktop.core.tagger import TAGGER_COLUMNS
    from genre_desktop.core.user_reference import load_user_rows

    rows = load_user_rows()
    cols = list(table.frame.columns)
    if not len(rows) or not set(cols) <= set(rows.columns):
        return table
    rows = rows.loc[:, cols].dropna(subset=list(TAGGER_COLUMNS))
    if not len(rows):
        return table
    frame = pd.concat([table.frame, rows], ignore_index=True)
    digest = hashlib.sha256((table.digest + rows.to_csv(index=False)).encode()).hexdigest()
    return ReferenceTable(frame=frame, source=table.source, digest=digest)


class LocalBackend:
    """Classifies with offline models trained on the reference table(s).

    Songs with tagger output are classified by the tagger model when a reference has tagger
    columns (the given table, or with none given the shipped tagger table), its probabilities
    averaged for a "+K58" candidate (the default) with the 58-feature model's on the given
    table (default: the Kaggle table); other songs by that 58-feature model alone.
    Models are cross-fitted (core/offline_tagger): a song matching reference rows is
    classified by the model of the fold that left them out, so its answer never depends on the
    other songs of a run. `exclude_from_training` instead fixes the rows left out (a set of
    table filenames or a predicate on them), for experiments; it disables cross-fitting.
    The tables are read at construction (ReferenceError if unusable); models are trained (or
    loaded from the cache) on first use.
    """

    name = "local"

    def __init__(
        self,
        table: ReferenceTable | str | Path | None = None,
        *,
        exclude_from_training: Callable[[str], bool] | Iterable[str] | None = None,
        algo: str = om.DEFAULT_ALGO,
        tagger_candidate: str | None = ot.DEFAULT_TAGGER_CANDIDATE,
    ) -> None:
        if algo not in om.CANDIDATES:
            raise ValueError(f"unknown offline model {algo!r}")
        if tagger_candidate is not None and tagger_candidate not in ot.TAGGER_CANDIDATES:
            raise ValueError(f"unknown tagger model {tagger_candidate!r}")
        # Read and check the table now (cheap, cached) so a bad one fails at set-up, not per song.
        given = table is not None
        self.table = table if isinstance(table, ReferenceTable) else load_reference(table)
        self.tagger_table: ReferenceTable | None = None
        if tagger_candidate is not None:
            if not given:
                self.tagger_table = default_tagger_table()
            elif self.table.has_tagger:
                self.tagger_table = self.table
            elif self.table.source.name.startswith("reference-with-mine-"):
                # the default reference plus the user's reviewed songs (core/user_reference):
                # the tagger model learns from the shipped tagger table plus those songs
                self.tagger_table = default_tagger_table(with_user_rows=True)
        if exclude_from_training is not None and not callable(exclude_from_training):
            exclude_from_training = frozenset(str(n) for n in exclude_from_training)
        self._exclude = exclude_from_training
        self.algo = algo
        self.tagger_candidate = tagger_candidate or ot.DEFAULT_TAGGER_CANDIDATE
        self.model = (f"offline-tagger-{self.tagger_candidate}-v{ot.TAGGER_MODEL_VERSION}"
                      if self.tagger_table is not None
                      else f"offline-{algo}-v{om.MODEL_VERSION}")
        self._lock = threading.Lock()

    def _skipped(self, table: ReferenceTable, song: SongFeatures) -> tuple[str, ...]:
        if self._exclude is not None:
            return om.excluded_rows(table, self._exclude)
        return ot.held_out_rows(table, song.features)

    def trained(self, song: SongFeatures | None = None) -> om.OfflineModel:
        """The 58-feature model for `song` (the full one without a song); raises on a bad
        table."""
        skipped = self._skipped(self.table, song) if song is not None else (
            om.excluded_rows(self.table, self._exclude))
        with self._lock:
            return om.get_model(self.table, self.algo, skipped)

    def _tagger_model(self, song: SongFeatures) -> ot.TaggerModel | None:
        """The cross-fitted tagger model for `song`; None when the song or the reference has
        no tagger output (the 58-feature model then answers)."""
        if self.tagger_table is None or not song.tagger:
            return None
        skipped = self._skipped(self.tagger_table, song)
        with self._lock:
            return ot.get_tagger_model(self.tagger_table,
                                       ot.base_candidate(self.tagger_candidate), skipped)

    def classify(
        self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset(),
        cancel: CancelFlag | None = None,
    ) -> Prediction | SongError:
        # exclude_refs matters for few-shot examples; training rows are set at construction.
        # One song takes milliseconds once trained: nothing to cancel part-way.
        del exclude_refs, cancel
        if not _usable(song.features):
            return SongError("bad_features", "The song's features are missing or not numbers.",
                             stage="classify", path=song.path)
        windows = [w for w in song.windows if _usable(w)]
        try:
            tagger_model = self._tagger_model(song)
            blend = tagger_model is not None and ot.blends_58(self.tagger_candidate)
            model = self.trained(song) if tagger_model is None or blend else None
        except (ReferenceError, ValueError, OSError, KeyError) as exc:
            return SongError("model_unavailable", f"The offline model cannot be trained: {exc}",
                             stage="classify", path=song.path)
        # Timed from here: the first songs' latency was the model's training time (seconds).
        t0 = time.perf_counter()
        if tagger_model is not None:
            heard = tagger_model.song_proba(song.features, song.tagger)
            model_id = tagger_model.model_id
            if blend:  # both cross-fitted: neither was trained on this song
                assert model is not None
                heard = (heard + model.song_proba(song.features, windows)) / 2
                model_id = self.model
            probs = list(heard)
        else:
            assert model is not None
            probs, model_id = list(model.song_proba(song.features, windows)), model.model_id
        ranked = sorted(zip(GENRES, (float(p) for p in probs), strict=True),
                        key=lambda gp: -gp[1])
        genre, confidence = ranked[0]
        alternatives = [(g, round(p, 4)) for g, p in ranked[1:1 + N_ALTERNATIVES]]
        cited = cite_traits(self.table, song.features, genre, ranked[1][0])
        return Prediction(
            predicted_genre=genre,
            confidence=round(confidence, 4),
            reasoning=reasoning_text(
                genre, confidence, cited, alternatives, _context(song, windows)
            ),
            key_indicators=[c.indicator for c in cited],
            alternative_genres=alternatives,
            genre_scores={g: round(p, 4) for g, p in zip(GENRES, map(float, probs), strict=True)},
            backend=self.name,
            model=model_id,
            latency_s=time.perf_counter() - t0,
        )


def _context(song: SongFeatures, windows: list[Mapping[str, float]]) -> str:
    parts = []
    if len(windows) >= 2:
        parts.append(f"Combined over {len(windows)} 30 s windows.")
    elif 0 < song.analysed_s < SHORT_EXCERPT_S:
        parts.append(f"Judged from a {song.analysed_s:.0f} s excerpt.")
    if song.tagger:
        from genre_desktop.core import tagger

        heard = ", ".join(name for name, _ in tagger.top_tags(song.tagger, 4))
        parts.append(f"The tagger hears: {heard}.")
    return " ".join(parts)
