"""The tag policy: how many genres, from which vocabulary, shown how, merged how."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from genre_desktop.core.settings import Settings, SettingsError, load_settings
from genre_desktop.core.tag_policy import (
    PolicyError,
    TagPolicy,
    choose_genres,
    merge_genres,
    parse_display_map,
    policy_from_settings,
)
from genre_desktop.core.types import Prediction


def _pred(scores: dict[str, float]) -> Prediction:
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return Prediction(ranked[0][0], ranked[0][1], "", [], ranked[1:], scores, "local", "m")


@dataclass
class _Tagged:  # a result carrying the audio tagger's tags (issue 13), as an attribute
    predicted_genre: str
    confidence: float
    genre_scores: dict[str, float]
    alternative_genres: list[tuple[str, float]] = field(default_factory=list)
    tags: list[tuple[str, float]] = field(default_factory=list)


SCORES = {"hiphop": 0.55, "reggae": 0.30, "pop": 0.10, "rock": 0.05}


def test_top1_uses_the_display_map() -> None:
    assert choose_genres(_pred(SCORES), TagPolicy()) == ["Hip-Hop"]


def test_top_n_above_threshold_at_most_n() -> None:
    assert choose_genres(_pred(SCORES), TagPolicy(max_genres=3, threshold=0.25)) == [
        "Hip-Hop", "Reggae"]
    assert choose_genres(_pred(SCORES), TagPolicy(max_genres=3, threshold=0.05)) == [
        "Hip-Hop", "Reggae", "Pop"]
    assert choose_genres(_pred(SCORES), TagPolicy(max_genres=2, threshold=0.0)) == [
        "Hip-Hop", "Reggae"]


def test_min_confidence_leaves_unsure_songs_untagged() -> None:
    assert choose_genres(_pred(SCORES), TagPolicy(min_confidence=0.6)) == []
    assert choose_genres(_pred(SCORES), TagPolicy(min_confidence=0.5)) == ["Hip-Hop"]


def test_tagger_vocabulary_keeps_genres_and_drops_moods_and_instruments() -> None:
    song = _Tagged("hiphop", 0.55, SCORES,
                   tags=[("guitar", 0.9), ("Hip-Hop", 0.7), ("rnb", 0.4), ("80s", 0.8),
                         ("electronic", 0.3)])
    assert choose_genres(song, TagPolicy(vocabulary="tags", max_genres=3, threshold=0.35)) == [
        "Hip-Hop", "R&B"]
    # both: the GTZAN answer first, hiphop and Hip-Hop merged into one name
    assert choose_genres(song, TagPolicy(vocabulary="both", max_genres=3, threshold=0.3)) == [
        "Hip-Hop", "R&B", "Electronic"]
    as_dict = _Tagged("hiphop", 0.55, SCORES, tags={"rnb": 0.9})  # type: ignore[arg-type]
    assert choose_genres(as_dict, TagPolicy(vocabulary="tags")) == ["R&B"]
    assert choose_genres(_pred(SCORES), TagPolicy(vocabulary="tags")) == []  # no tagger output


def test_modes() -> None:
    assert merge_genres(["Jazz"], ["Blues"], "replace") == ["Blues"]
    assert merge_genres(["Jazz"], ["Blues", "jazz"], "add") == ["Jazz", "Blues"]
    assert merge_genres(["Jazz"], ["Blues"], "empty") is None
    assert merge_genres([], ["Blues"], "empty") == ["Blues"]
    assert merge_genres(["Blues"], ["Blues"], "replace") is None  # nothing to change
    assert merge_genres(["Jazz"], [], "replace") is None  # nothing chosen: left alone


def test_display_map_setting_and_validation(tmp_path) -> None:
    assert parse_display_map("hiphop=Hip Hop, rnb = Rhythm & Blues") == {
        "hiphop": "Hip Hop", "rnb": "Rhythm & Blues"}
    with pytest.raises(PolicyError):
        parse_display_map("hiphop")
    settings = Settings(tag_display_map="hiphop=Hip Hop", tag_max_genres=2, tag_mode="add")
    policy = policy_from_settings(settings, min_confidence=0.4)
    assert policy.show("hiphop") == "Hip Hop" and policy.show("jazz") == "Jazz"
    assert (policy.max_genres, policy.mode, policy.min_confidence) == (2, "add", 0.4)
    with pytest.raises(SettingsError):
        Settings(tag_mode="overwrite").validate()
    with pytest.raises(SettingsError):
        Settings(tag_min_confidence=1.5).validate()
    file = tmp_path / "settings.toml"
    file.write_text('tag_skip_tagged = true\ntag_max_genres = 3\n')
    loaded = load_settings(file, env={})
    assert loaded.tag_skip_tagged is True and loaded.tag_max_genres == 3
