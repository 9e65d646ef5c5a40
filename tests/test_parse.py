"""Answer parsing: strict JSON, JSON in prose or fences, last resorts, typed errors."""

from __future__ import annotations

import json

import pytest

from genre_desktop.core.parse import ParsedAnswer, normalise_genre, parse_answer
from genre_desktop.core.types import GENRES, SongError

GOOD = {
    "predicted_genre": "Metal",
    "confidence": 0.82,
    "reasoning": "Very bright, loud and noisy with fast tempo.",
    "key_indicators": ["high zero-crossing rate", "high RMS"],
    "alternative_genres": [
        {"genre": "rock", "confidence": 0.12},
        {"genre": "Hip-Hop", "confidence": 0.03},
    ],
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hip-hop", "hiphop"), ("Hip Hop", "hiphop"), ("rap", "hiphop"), ("HIPHOP", "hiphop"),
        ("Hip-Hop/Rap", "hiphop"), ("Rock music", "rock"), ("rock", "rock"), ("Rock.", "rock"),
        ("classic", "classical"), ("Classical", "classical"), ("classic rock", "rock"),
        ("blues rock", "rock"), ("Heavy Metal", "metal"), ("death metal", "metal"),
        ("jazz fusion", "jazz"), ("bebop", "jazz"), ("Country & Western", "country"),
        ("dancehall", "reggae"), ("synth-pop", "pop"), ("Disco", "disco"), ("  pop  ", "pop"),
        ("R&B", None), ("rhythm and blues", None), ("soul", None), ("funk", None),
        ("techno", None), ("", None), (None, None), (3, None),
        ("a very long sentence that merely mentions rock somewhere", None),
    ],
)
def test_normalise_genre(name, expected) -> None:
    assert normalise_genre(name) == expected


def test_every_label_maps_to_itself() -> None:
    for genre in GENRES:
        assert normalise_genre(genre) == genre
        assert normalise_genre(genre.upper() + " music") == genre


def test_strict_json() -> None:
    result = parse_answer(json.dumps(GOOD))
    assert isinstance(result, ParsedAnswer)
    assert result.method == "json"
    assert result.predicted_genre == "metal"
    assert result.confidence == pytest.approx(0.82)
    assert result.key_indicators == ["high zero-crossing rate", "high RMS"]
    assert result.alternative_genres == [("rock", 0.12), ("hiphop", 0.03)]
    assert result.notes == []


def test_json_in_fences_and_prose() -> None:
    fenced = "Here is my analysis.\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nThanks!"
    prose = "After weighing the evidence: " + json.dumps(GOOD) + " That is my answer."
    for text in (fenced, prose):
        result = parse_answer(text)
        assert isinstance(result, ParsedAnswer), result
        assert result.method == "embedded_json"
        assert result.predicted_genre == "metal"


def test_echoed_schema_before_answer_is_skipped() -> None:
    text = (
        'The schema is {"predicted_genre": "one of the ten genres", "confidence": 0.0}.\n'
        + json.dumps({**GOOD, "predicted_genre": "jazz"})
    )
    result = parse_answer(text)
    assert isinstance(result, ParsedAnswer)
    assert result.predicted_genre == "jazz"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(85, 0.85), ("85%", 0.85), ("0.7", 0.7), (1.7, 0.017), (-0.2, 0.0), (250, 1.0), (1, 1.0)],
)
def test_confidence_is_clamped_and_percentages_accepted(value, expected) -> None:
    result = parse_answer(json.dumps({**GOOD, "confidence": value}))
    assert isinstance(result, ParsedAnswer)
    assert result.confidence == pytest.approx(expected)
    assert 0.0 <= result.confidence <= 1.0


def test_missing_confidence_is_noted_not_invented_silently() -> None:
    answer = {k: v for k, v in GOOD.items() if k != "confidence"}
    result = parse_answer(json.dumps(answer))
    assert isinstance(result, ParsedAnswer)
    assert result.confidence == 0.5
    assert any("confidence" in note for note in result.notes)


def test_alternatives_in_other_shapes() -> None:
    for alts in ({"rock": 0.2, "pop": 0.1}, [["rock", 0.2], ["pop", 0.1]], ["rock", "pop"]):
        result = parse_answer(json.dumps({**GOOD, "alternative_genres": alts}))
        assert isinstance(result, ParsedAnswer)
        assert [g for g, _ in result.alternative_genres][:2] in (["rock", "pop"],)
    # the predicted genre and unknown names never appear among the alternatives
    result = parse_answer(
        json.dumps({**GOOD, "alternative_genres": [{"genre": "metal"}, {"genre": "techno"}]})
    )
    assert isinstance(result, ParsedAnswer)
    assert result.alternative_genres == []


def _error(text: str, **kw) -> SongError:
    result = parse_answer(text, **kw)
    assert isinstance(result, SongError), result
    assert result.stage == "classify"
    assert result.raw_text == text
    assert result.message
    return result


def test_unknown_genre() -> None:
    text = json.dumps({**GOOD, "predicted_genre": "Techno"})
    assert _error(text).reason == "unknown_genre"
    assert _error(json.dumps({**GOOD, "predicted_genre": "R&B"})).reason == "unknown_genre"
    assert _error('I think "predicted_genre": "polka" fits.').reason == "unknown_genre"


def test_refusal() -> None:
    assert _error("I'm sorry, but I can't help with classifying this audio.").reason == "refusal"
    assert _error("As an AI, I am unable to listen to music.").reason == "refusal"
    text = json.dumps({"predicted_genre": "", "reasoning": "I cannot determine the genre."})
    assert _error(text).reason == "refusal"


def test_truncated() -> None:
    full = json.dumps(GOOD)
    cut = full[: len(full) // 2]
    assert _error(cut).reason == "truncated_answer"
    assert _error(cut, stop_reason="max_tokens").reason == "truncated_answer"
    assert _error("```json\n" + cut).reason == "truncated_answer"
    assert _error("", stop_reason="max_tokens").reason == "truncated_answer"
    # a complete answer is fine even when the model then ran out of tokens
    result = parse_answer(full + "\nFurther notes: the", stop_reason="max_tokens")
    assert isinstance(result, ParsedAnswer)


def test_garbage() -> None:
    for text in ("", "   ", "lorem ipsum dolor sit amet", "<html>502 Bad Gateway</html>",
                 "It could be rock, or maybe jazz, or blues."):
        assert _error(text).reason == "unparseable_answer"


def test_last_resorts() -> None:
    result = parse_answer('predicted_genre: "reggae", confidence: 70%, because of the offbeat')
    assert isinstance(result, ParsedAnswer)
    assert (result.predicted_genre, result.method) == ("reggae", "field_regex")
    assert result.confidence == pytest.approx(0.7)
    result = parse_answer("Genre: Hip-Hop")
    assert isinstance(result, ParsedAnswer)
    assert (result.predicted_genre, result.method) == ("hiphop", "lone_genre")
    assert result.notes  # says how it was recovered and that confidence was assumed
    # prose words that are aliases elsewhere do not count as naming a genre
    assert _error("The swing feel suggests an alternative take.").reason == "unparseable_answer"


def test_near_json_is_repaired() -> None:
    mixtral = json.dumps(GOOD).replace("_", "\\_")  # Mixtral escapes underscores
    trailing = json.dumps(GOOD)[:-1] + ",}"
    curly = json.dumps(GOOD).replace('"predicted_genre"', "\u201cpredicted_genre\u201d")
    for text in (mixtral, trailing, curly):
        result = parse_answer(text)
        assert isinstance(result, ParsedAnswer), (text, result)
        assert result.predicted_genre == "metal"
        assert result.confidence == pytest.approx(0.82)


def test_confidence_words() -> None:
    result = parse_answer(json.dumps({**GOOD, "confidence": "High"}))
    assert isinstance(result, ParsedAnswer)
    assert result.confidence == pytest.approx(0.8)
    assert result.notes == []


def test_cut_answer_never_becomes_its_runner_up() -> None:
    full = json.dumps(GOOD)
    cut = full[: full.index('{"genre": "Hip-Hop"') + 5]  # after the first alternative item
    assert '{"genre": "rock", "confidence": 0.12}' in cut
    assert _error(cut).reason == "truncated_answer"
    assert _error(cut, stop_reason="max_tokens").reason == "truncated_answer"
    # a model that used "genre" for its answer is still understood
    result = parse_answer('{"genre": "Pop", "confidence": 0.6}')
    assert isinstance(result, ParsedAnswer) and result.predicted_genre == "pop"


def test_hedges_are_not_refusals_and_filters_are() -> None:
    result = parse_answer("I can't be fully certain, but this sounds like jazz.")
    assert isinstance(result, ParsedAnswer) and result.predicted_genre == "jazz"
    blocked = "Sorry, the model cannot answer this request."
    assert _error(blocked, stop_reason="content_filtered").reason == "refusal"
    assert _error(blocked, stop_reason="guardrail_intervened").reason == "refusal"
