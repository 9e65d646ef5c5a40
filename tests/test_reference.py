"""Reference-table helpers: percentiles, genre profiles, neighbours and self-matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genre_desktop.core.reference import (
    DISTANCE_COLUMNS,
    ReferenceTable,
    feature_value,
    genre_profiles,
    load_reference,
    matching_rows,
    nearest,
    percentile,
)
from genre_desktop.core.types import FEATURE_COLUMNS, GENRES

try:
    from clip_features import clip_features, extractor_available, row, sample_clips
except ImportError:  # tests/ turned into a package
    from tests.clip_features import clip_features, extractor_available, row, sample_clips

from conftest import require


@pytest.fixture(scope="module")
def table() -> ReferenceTable:
    return load_reference()


def test_percentile_bounds_ties_and_order(table: ReferenceTable) -> None:
    tempo = table.frame["tempo"].to_numpy()
    assert percentile(table, "tempo", tempo.min() - 1) == 0.0
    assert percentile(table, "tempo", tempo.max() + 1) == 100.0
    assert 0 < percentile(table, "tempo", tempo.min()) < 1
    median = float(np.median(table.frame["rms_mean"]))
    assert percentile(table, "rms_mean", median) == pytest.approx(50, abs=0.2)
    values = np.linspace(0, 0.4, 30)
    pcts = [percentile(table, "rms_mean", v) for v in values]
    assert pcts == sorted(pcts)
    assert percentile(table, "tempo", float("nan")) == 50.0
    with pytest.raises(KeyError):
        percentile(table, "no_such_column", 1.0)


def test_derived_columns(table: ReferenceTable) -> None:
    metal, classical = row(table, "metal.00002.wav"), row(table, "classical.00002.wav")
    share = feature_value(classical, "harmonic_share")
    assert 0 < share < 1
    assert share > feature_value(metal, "harmonic_share")
    assert 0 <= percentile(table, "harmonic_share", share) <= 100
    assert feature_value(metal, "rms_dynamics") < feature_value(classical, "rms_dynamics")


def test_genre_profiles(table: ReferenceTable) -> None:
    profiles = genre_profiles(table)
    assert list(profiles) == list(GENRES)
    assert genre_profiles(table) is profiles  # cached
    for medians in profiles.values():
        assert set(FEATURE_COLUMNS) <= set(medians)
    assert profiles["classical"]["spectral_centroid_mean"] < profiles["metal"][
        "spectral_centroid_mean"
    ]
    assert profiles["classical"]["rms_mean"] < profiles["pop"]["rms_mean"]
    blues = table.frame.loc[table.frame["label"] == "blues", "tempo"]
    assert profiles["blues"]["tempo"] == pytest.approx(float(blues.median()))


def test_user_table_gets_its_own_cache(tmp_path: Path, table: ReferenceTable) -> None:
    subset = table.frame[table.frame["label"].isin(["metal", "classical"])].iloc[::3]
    path = tmp_path / "mine.csv"
    subset.to_csv(path, index=False)
    mine = load_reference(path)
    assert mine.digest != table.digest
    assert list(genre_profiles(mine)) == ["classical", "metal"]
    hits = nearest(mine, row(table, "metal.00000.wav"), k=3)
    assert {n.filename for n in hits} <= set(subset["filename"])


def test_every_row_matches_itself_and_only_near_copies(table: ReferenceTable) -> None:
    for filename in table.filenames[::19]:
        assert filename in matching_rows(table, row(table, filename))
    # GTZAN holds a few exact duplicates: the same audio under two ids
    assert {"metal.00040.wav", "metal.00061.wav"} <= matching_rows(
        table, row(table, "metal.00040.wav")
    )
    other = row(table, "jazz.00010.wav")
    assert "jazz.00010.wav" in matching_rows(table, other)
    assert len(matching_rows(table, other)) == 1


def test_matching_tolerates_small_extraction_differences(table: ReferenceTable) -> None:
    features = row(table, "pop.00020.wav")
    rng = np.random.default_rng(0)
    noisy = {k: v * (1 + 0.002 * rng.standard_normal()) for k, v in features.items()}
    assert "pop.00020.wav" in matching_rows(table, noisy)
    assert matching_rows(table, noisy, tol=0.0, excerpt_ratio=None) == frozenset()


def test_nearest(table: ReferenceTable) -> None:
    features = row(table, "reggae.00030.wav")
    hits = nearest(table, features, k=5)
    assert len(hits) == 5
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert "reggae.00030.wav" not in {h.filename for h in hits}  # never the song itself
    assert all(set(h.features) == set(FEATURE_COLUMNS) for h in hits)
    assert all(h.label in GENRES for h in hits)
    # length is ignored
    longer = nearest(table, {**features, "length": 99 * features["length"]}, k=5)
    assert [h.filename for h in longer] == [h.filename for h in hits]
    assert "length" not in DISTANCE_COLUMNS
    # exclusions are honoured
    excluded = nearest(table, features, k=5, exclude=frozenset({hits[0].filename}))
    assert hits[0].filename not in {h.filename for h in excluded}
    assert excluded[0].filename == hits[1].filename


def test_nearest_one_per_genre(table: ReferenceTable) -> None:
    hits = nearest(table, row(table, "disco.00040.wav"), k=5, one_per_genre=True)
    assert len(hits) == 5
    assert len({h.label for h in hits}) == 5
    plain = nearest(table, row(table, "disco.00040.wav"), k=1)
    assert hits[0].filename == plain[0].filename  # the most likely genre leads


def test_nearest_finds_same_genre_more_often_than_chance(table: ReferenceTable) -> None:
    # Neighbours are few-shot evidence: they should mostly share the song's genre.
    sample = table.filenames[::7]
    same = sum(
        nearest(table, row(table, f), k=1)[0].label == f.split(".")[0] for f in sample
    )
    assert same / len(sample) > 0.5  # chance is 0.1


def test_extracted_clips_match_their_own_row(manifest, table: ReferenceTable) -> None:
    require(extractor_available(), "genre_desktop.core.features is not importable")
    clips = sample_clips(manifest)
    assert len(clips) == len(GENRES)
    assert {c["clip"] for c in clips} == {"full", "truncated"}
    for clip in clips:
        name = Path(clip["file"]).name
        features = clip_features(clip["path"])
        assert matching_rows(table, features) == {name}, (clip["clip"], name)
        assert name not in {h.filename for h in nearest(table, features, k=5)}
