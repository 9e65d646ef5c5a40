"""Plain-language descriptions placed by reference percentiles, checked on real clips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genre_desktop.core.describe import (
    ASPECTS,
    LEVELS,
    SCALES,
    describe,
    measures,
    profile_line,
    tempo_class,
)
from genre_desktop.core.reference import ReferenceTable, genre_profiles, load_reference

try:
    from clip_features import clip_features, extractor_available, row
except ImportError:  # tests/ turned into a package
    from tests.clip_features import clip_features, extractor_available, row

from conftest import require

LOUDER_BRIGHTER_NOISIER = ("rms_mean", "spectral_centroid_mean", "zero_crossing_rate_mean")


@pytest.fixture(scope="module")
def table() -> ReferenceTable:
    return load_reference()


def _assert_metal_vs_classical(metal: dict, classical: dict, table: ReferenceTable) -> None:
    m, c = measures(metal, table), measures(classical, table)
    metal_text, classical_text = describe(metal, table=table), describe(classical, table=table)
    for column in LOUDER_BRIGHTER_NOISIER:
        assert m[column].percentile > c[column].percentile, column
        assert m[column].rank > c[column].rank, column  # a different, higher word
        assert m[column].word in metal_text and c[column].word in classical_text


def test_metal_clip_is_brighter_louder_noisier_than_classical(manifest, table) -> None:
    require(extractor_available(), "genre_desktop.core.features is not importable")
    paths = {Path(r["file"]).name: r["path"] for r in manifest}
    metal = clip_features(paths["metal.00000.wav"])
    classical = clip_features(paths["classical.00000.wav"])
    _assert_metal_vs_classical(metal, classical, table)
    metal_text, classical_text = describe(metal, table=table), describe(classical, table=table)
    assert re.search(r"Brightness: (very )?bright", metal_text)
    assert re.search(r"Texture: (very )?noisy", metal_text)
    assert re.search(r"Brightness: (very )?dark", classical_text)
    assert re.search(r"Energy: (very )?quiet", classical_text)
    assert "strongly harmonic" in classical_text


def test_same_holds_for_the_table_rows_of_the_shared_clips(table: ReferenceTable) -> None:
    for i in range(5):
        metal = row(table, f"metal.0000{i}.wav")
        classical = row(table, f"classical.0000{i}.wav")
        _assert_metal_vs_classical(metal, classical, table)


def test_levels_grow_and_cover_every_aspect(table: ReferenceTable) -> None:
    features = row(table, "reggae.00004.wav")
    texts = {level: describe(features, level, table) for level in LEVELS}
    assert len(texts["brief"]) < len(texts["standard"]) < len(texts["detailed"])
    assert "\n" not in texts["brief"]
    for level in ("standard", "detailed"):
        lines = texts[level].splitlines()
        assert [line.split(":")[0] for line in lines] == [f"- {a.capitalize()}" for a in ASPECTS]
    assert "BPM" in texts["brief"]
    assert "Hz" in texts["detailed"] and "Hz" not in texts["standard"]
    with pytest.raises(ValueError):
        describe(features, "verbose", table)


def test_percentiles_drive_the_words(table: ReferenceTable) -> None:
    base = row(table, "rock.00010.wav")
    centroid = table.frame["spectral_centroid_mean"]
    dark = measures({**base, "spectral_centroid_mean": float(centroid.min())}, table)
    bright = measures({**base, "spectral_centroid_mean": float(centroid.max())}, table)
    assert dark["spectral_centroid_mean"].word == SCALES["spectral_centroid_mean"][0]
    assert bright["spectral_centroid_mean"].word == SCALES["spectral_centroid_mean"][4]
    assert (tempo_class(60), tempo_class(100), tempo_class(140), tempo_class(180)) == (
        "slow", "moderate", "fast", "very fast"
    )
    silent = describe({**base, "tempo": 0.0}, "standard", table)
    assert "no steady beat" in silent


def test_no_id_like_numbers_in_any_description(table: ReferenceTable) -> None:
    # Descriptions reach prompts: a zero-padded run could read as a table id ("00042").
    for filename in table.filenames[::25]:
        for level in LEVELS:
            text = describe(row(table, filename), level, table)
            assert not re.search(r"\d{5,}", text), text
            assert filename.split(".")[1] not in text


def test_genre_profile_lines(table: ReferenceTable) -> None:
    profiles = genre_profiles(table)
    lines = {g: profile_line(g, medians, table) for g, medians in profiles.items()}
    assert "dark" in lines["classical"] and "quiet" in lines["classical"]
    assert "bright" in lines["pop"]
    assert "noisy" in lines["metal"]
    assert all(re.match(rf"{g}: tempo mostly \d+-\d+ BPM;", line) for g, line in lines.items())
