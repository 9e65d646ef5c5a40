"""The built-in offline backend (the default): no account, no network, an answer in milliseconds."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from genre_desktop.core import offline_model as om
from genre_desktop.core.backends.local_reasons import cite_traits, reasoning_text
from genre_desktop.core.reference import ReferenceError, ReferenceTable, load_reference
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


class LocalBackend:
    """Classifies with the offline model trained on the reference table.

    `exclude_from_training` leaves table rows out of training: a set of table filenames or a
    predicate on them (e.g. to measure accuracy on songs whose own rows are in the table).
    The table is read at construction (ReferenceError if unusable); the model is trained (or
    loaded from the cache) on first use, once per backend.
    """

    name = "local"

    def __init__(
        self,
        table: ReferenceTable | str | Path | None = None,
        *,
        exclude_from_training: Callable[[str], bool] | Iterable[str] | None = None,
        algo: str = om.DEFAULT_ALGO,
    ) -> None:
        if algo not in om.CANDIDATES:
            raise ValueError(f"unknown offline model {algo!r}")
        # Read and check the table now (cheap, cached) so a bad one fails at set-up, not per song.
        self.table = table if isinstance(table, ReferenceTable) else load_reference(table)
        if exclude_from_training is not None and not callable(exclude_from_training):
            exclude_from_training = frozenset(str(n) for n in exclude_from_training)
        self._exclude = exclude_from_training
        self.algo = algo
        self.model = f"offline-{algo}-v{om.MODEL_VERSION}"
        self._trained: om.OfflineModel | None = None
        self._lock = threading.Lock()

    def trained(self) -> om.OfflineModel:
        """The fitted model (trains or loads it on first call; raises on a bad table)."""
        with self._lock:
            if self._trained is None:
                self._trained = om.get_model(self.table, self.algo, self._exclude)
            return self._trained

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
        try:
            model = self.trained()
        except (ReferenceError, ValueError, OSError) as exc:
            return SongError("model_unavailable", f"The offline model cannot be trained: {exc}",
                             stage="classify", path=song.path)
        # Timed from here: the first songs' latency was the model's training time (seconds).
        t0 = time.perf_counter()
        windows = [w for w in song.windows if _usable(w)]
        probs = model.song_proba(song.features, windows)
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
            model=self.model,
            latency_s=time.perf_counter() - t0,
        )


def _context(song: SongFeatures, windows: list[Mapping[str, float]]) -> str:
    if len(windows) >= 2:
        return f"Combined over {len(windows)} 30 s windows."
    if 0 < song.analysed_s < SHORT_EXCERPT_S:
        return f"Judged from a {song.analysed_s:.0f} s excerpt."
    return ""
