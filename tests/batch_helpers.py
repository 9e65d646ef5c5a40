"""Helpers for the batch tests: predictions and results built from plain values, a tiny backend."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from genre_desktop.core.features import tagger_version
from genre_desktop.core.results import SongResult
from genre_desktop.core.types import GENRES, CancelFlag, Prediction, SongError, SongFeatures


def prediction(genre: str, confidence: float, *, second: str | None = None,
               backend: str = "test", tokens: tuple[int, int] = (0, 0), cost: float = 0.0,
               latency: float = 0.1, api_calls: int = 0, retries: int = 0) -> Prediction:
    others = [g for g in GENRES if g != genre]
    if second is not None:
        others.remove(second)
        others.insert(0, second)
    rest = (1.0 - confidence) / len(others)
    scores = {genre: confidence, **{g: rest for g in others}}
    if second is not None:
        scores[second] = rest + 1e-3
    alternatives = [(g, scores[g]) for g in others[:2]]
    return Prediction(
        predicted_genre=genre, confidence=confidence, reasoning=f"sounds like {genre}",
        key_indicators=["tempo", "brightness"], alternative_genres=alternatives,
        genre_scores=scores, backend=backend, model=f"{backend}-model",
        input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost, latency_s=latency,
        api_calls=api_calls, retries=retries, prompt=f"PROMPT for a {genre}-ish song",
        raw_response=f'{{"predicted_genre": "{genre}"}}',
    )


def result(path: str, actual: str | None, pred: Prediction | None = None,
           error: SongError | None = None) -> SongResult:
    return SongResult(path, actual, prediction=pred, error=error, seconds=0.2,
                      finished_at=time.time())


class SlowEchoBackend:
    """A tiny deterministic backend: predicts from the tempo feature, sleeps `delay` per song.

    It never looks at the path (like the real ones); it records which songs it saw and how many
    ran at once, so tests can check the pool bound.
    """

    name = "echo"
    model = "echo-1"

    def __init__(self, delay: float = 0.0, fail_every: int = 0) -> None:
        self.delay = delay
        self.fail_every = fail_every
        self.seen: list[str] = []
        self.excluded: list[frozenset[str]] = []
        self._lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def classify(self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset(),
                 cancel: CancelFlag | None = None):
        with self._lock:
            self.seen.append(song.path)
            self.excluded.append(exclude_refs)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            n = len(self.seen)
        try:
            time.sleep(self.delay)
            if self.fail_every and n % self.fail_every == 0:
                return SongError("unparseable_answer", "The model answered nonsense.",
                                 stage="classify", path=song.path, raw_text="???")
            tempo = song.features.get("tempo", 120.0)
            genre = GENRES[int(tempo) % len(GENRES)]
            return prediction(genre, 0.6, backend=self.name, tokens=(100, 20), cost=0.001)
        finally:
            with self._lock:
                self.running -= 1


def fake_extract(paths, *, workers=None, progress=None, cancel=None, max_seconds=120.0,
                 use_cache=True):
    """Stands in for extract_many where a test is about the pipeline's own logic only."""
    for p in paths:
        if cancel is not None and cancel.is_set():
            return
        if Path(p).suffix == ".bad":
            yield p, SongError("corrupt_audio", "The file is not audio.", path=p)
            continue
        yield p, SongFeatures(path=p, features={"tempo": float(len(Path(p).name) * 7)},
                              duration_s=30.0, analysed_s=30.0)


@pytest.fixture
def shared_feature_cache(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> Path:
    """One feature/model cache for the batch tests: each real clip is analysed once a session."""
    root = tmp_path_factory.getbasetemp() / "batch-cache"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("GENRE_DESKTOP_CACHE_DIR", str(root))
    return root


def tagger_rows() -> tuple[str | None, dict[str, list[dict]]]:
    """(tagger cache version, genre -> tagger outputs of the shipped clips of that genre).

    A cached song needs tagger rows too, or the pool extracts it again (and a 0.1 s WAV is
    too short). Real tagger output of a clip of the song's genre keeps the prompt's examples
    (nearest in embedding space) as telling as the song's features."""
    from genre_desktop.core.reference import _row_tagger, load_reference, tagger_table_path

    version = tagger_version()
    if version is None:
        return None, {}
    table = load_reference(tagger_table_path())
    heard: dict[str, list[dict]] = {}
    for i, label in enumerate(table.labels):
        heard.setdefault(str(label), []).append(_row_tagger(table, i))
    return version, heard
