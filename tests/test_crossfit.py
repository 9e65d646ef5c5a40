"""Cross-fitted offline models: a song's answer never depends on the other songs of the run,
and a song whose audio is in the reference is never classified by a model trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from clip_features import SAMPLE_FILES
from conftest import require

from genre_desktop.core import offline_tagger as ot
from genre_desktop.core.backends.local import LocalBackend
from genre_desktop.core.features import extract_many
from genre_desktop.core.reference import default_table_path, load_reference
from genre_desktop.core.runs import build_backend
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song, discover_songs
from genre_desktop.core.types import GENRES, Prediction, SongFeatures

pytestmark = pytest.mark.slow  # extracts ten shared clips


@pytest.fixture(scope="module")
def ten(gtzan_dir: Path) -> list[tuple[Song, SongFeatures]]:
    songs = [s for s in discover_songs(gtzan_dir / "genres") if s.name in SAMPLE_FILES]
    assert len(songs) == 10
    feats = dict(extract_many([s.path for s in songs], workers=1, use_cache=False))
    out = []
    for s in songs:
        assert isinstance(feats[s.path], SongFeatures), feats[s.path]
        out.append((s, feats[s.path]))
    return out


@pytest.mark.parametrize("reference", ["default", "kaggle"])
def test_same_song_same_answer_alone_and_in_a_batch(ten, reference: str) -> None:
    settings = Settings(reference=None if reference == "default" else str(default_table_path()))
    songs = [s for s, _ in ten]
    batch = build_backend(settings, songs)
    for song, features in ten[:3]:
        alone = build_backend(settings, [song]).classify(features)
        together = batch.classify(features)
        assert isinstance(alone, Prediction) and isinstance(together, Prediction)
        assert alone.genre_scores == together.genre_scores, song.name
        assert alone.predicted_genre == together.predicted_genre


def test_folds_of_a_five_song_per_label_table_are_ids_0_2_and_3_4() -> None:
    from genre_desktop.core.reference import tagger_table_path

    path = tagger_table_path()
    require(path.is_file(), f"{path} missing")
    table = load_reference(path)
    folds = ot.fold_of(table)
    assert ot.n_folds(table) == 2
    for name, fold in folds.items():
        assert fold == (0 if int(name.split(".")[1]) <= 2 else 1), name


def test_a_reference_song_is_classified_by_a_model_that_never_saw_it(ten) -> None:
    backend = LocalBackend()
    require(backend.tagger_table is not None, "the tagger or its reference is not installed")
    assert backend.tagger_table is not None
    for song, features in ten:
        assert features.tagger, "extraction gave no tagger output"
        skipped = ot.held_out_rows(backend.tagger_table, features.features)
        assert song.name in skipped  # its own row, and the rest of its fold
        model = ot.get_tagger_model(backend.tagger_table,
                                    ot.base_candidate(backend.tagger_candidate), skipped)
        assert song.name in model.excluded and model.n_train < len(backend.tagger_table)
    # the 58-feature model on the Kaggle table: the same rule
    kaggle = LocalBackend(str(default_table_path()))
    song, features = ten[0]
    model = kaggle.trained(features)
    assert song.name in model.excluded and model.n_train < len(kaggle.table)


def test_a_blend_averages_the_tagger_and_58_feature_models_neither_trained_on_the_song(
        ten) -> None:
    # chosen on artist-separated folds (benchmarks/bench_models.py): the Kaggle table's many
    # artists make up for the 50 tagger rows, where four genres have a single artist each
    backend = LocalBackend(tagger_candidate="emb+feat+K58")
    require(backend.tagger_table is not None, "the tagger or its reference is not installed")
    assert backend.tagger_table is not None and ot.blends_58(backend.tagger_candidate)
    for song, features in ten[:2]:
        pred = backend.classify(features)
        assert isinstance(pred, Prediction), pred
        heard = ot.get_tagger_model(backend.tagger_table,
                                    ot.base_candidate(backend.tagger_candidate),
                                    ot.held_out_rows(backend.tagger_table, features.features))
        k58 = backend.trained(features)
        assert song.name in heard.excluded and song.name in k58.excluded
        expected = (heard.song_proba(features.features, features.tagger)
                    + k58.song_proba(features.features, features.windows)) / 2
        assert pred.genre_scores == {g: round(float(p), 4)
                                     for g, p in zip(GENRES, expected, strict=True)}
        assert pred.model == backend.model == (
            f"offline-tagger-{backend.tagger_candidate}-v{ot.TAGGER_MODEL_VERSION}")
