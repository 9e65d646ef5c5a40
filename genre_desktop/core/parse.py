"""Turn a model's text answer into a genre, or a typed error that keeps the raw text.

Order of attempts: the whole text as strict JSON; JSON in ``` fences or inside prose; then a
last resort (a quoted "predicted_genre" field, or a single genre named in a short answer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from genre_desktop.core.types import GENRES, SongError

# Aliases that are not just the label with other spacing or a "music" suffix.
_ALIASES: dict[str, str] = {
    "hip hop": "hiphop", "hip-hop": "hiphop", "rap": "hiphop", "hip hop rap": "hiphop",
    "trap": "hiphop", "gangsta rap": "hiphop", "boom bap": "hiphop",
    "classic": "classical", "orchestral": "classical", "baroque": "classical",
    "symphonic": "classical", "opera": "classical", "chamber": "classical",
    "romantic": "classical", "western classical": "classical",
    "heavy metal": "metal", "thrash": "metal", "death metal": "metal",
    "rock and roll": "rock", "rock n roll": "rock", "rock 'n' roll": "rock",
    "punk": "rock", "grunge": "rock", "alternative": "rock", "indie": "rock",
    "classic rock": "rock", "hard rock": "rock",
    "bluegrass": "country", "country and western": "country", "country & western": "country",
    "americana": "country", "honky tonk": "country",
    "bebop": "jazz", "swing": "jazz", "big band": "jazz", "fusion": "jazz", "bossa nova": "jazz",
    "ska": "reggae", "dub": "reggae", "dancehall": "reggae", "rocksteady": "reggae",
    "synthpop": "pop", "synth pop": "pop", "electropop": "pop", "dance pop": "pop",
    "boogie": "disco", "euro disco": "disco", "eurodisco": "disco",
}
# Deliberately unmapped: R&B, soul, funk, electronic. They straddle several of the ten labels
# (pop, hiphop, disco, blues), so any mapping would invent an answer; they come back as
# unknown_genre with the raw text kept.
_UNMAPPED = frozenset({
    "r&b", "rnb", "r and b", "rhythm and blues", "r'n'b", "soul", "funk", "electronic",
    "edm", "electronica", "world", "folk", "latin", "gospel",
})
# Words that count as naming a genre in free prose (aliases like "swing" or "alternative" are
# ordinary words there).
_PROSE_NAMES = {**{g: g for g in GENRES}, "hip hop": "hiphop", "hip-hop": "hiphop", "rap": "hiphop"}

# Hedges ("I can't be certain, but ...") are not refusals.
_HEDGE = r"(?!\s+(?:be\s+(?:\w+\s+)?(?:sure|certain)|say\s+for\s+(?:sure|certain)))"
_REFUSAL = re.compile(
    rf"\b(i\s*(?:can(?:no|')t|cannot|am\s+(?:not\s+able|unable)|'m\s+(?:not\s+able|unable)|"
    rf"won't|will\s+not|must\s+decline){_HEDGE}|as\s+an\s+ai\b|i\s+apologi[sz]e,?\s+but|"
    r"i'?m\s+sorry,?\s+but|unable\s+to\s+(?:classify|determine|help|assist|comply))",
    re.IGNORECASE,
)
# Bedrock stop reasons that mean a guardrail or filter replaced the answer.
_BLOCKED_STOPS = frozenset({"guardrail_intervened", "content_filtered"})
_FIELD = re.compile(r'["\']?predicted[_ ]genre["\']?\s*[:=]\s*["\']([^"\'\n]{1,40})["\']', re.I)
_CONF = re.compile(r'["\']?confidence["\']?\s*[:=]\s*["\']?([0-9]*\.?[0-9]+)\s*(%?)', re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_LONE_MAX_WORDS = 40  # a lone genre word is trusted only in a short answer


@dataclass
class ParsedAnswer:
    predicted_genre: str
    confidence: float
    reasoning: str
    key_indicators: list[str]
    alternative_genres: list[tuple[str, float]]
    method: str = "json"  # json | embedded_json | field_regex | lone_genre
    notes: list[str] = field(default_factory=list)  # e.g. "confidence missing, 0.5 assumed"


def _tokens(name: str) -> str:
    text = name.lower().strip().replace("_", " ")
    text = re.sub(r"[\"'`.,;:!?()\[\]{}]+$", "", text)
    text = re.sub(r"^[\"'`(\[{]+", "", text)
    text = re.sub(r"\b(music|genre|style|songs?|tracks?)\b", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def normalise_genre(name: Any) -> str | None:
    """Map a model's genre name onto one of GENRES; None when it is not one of them."""
    if not isinstance(name, str):
        return None
    text = _tokens(name.replace("/", " "))
    if not text or text in _UNMAPPED:
        return None
    squashed = text.replace(" ", "").replace("-", "")
    if squashed in GENRES:
        return squashed
    if text in _ALIASES:
        return _ALIASES[text]
    dashless = text.replace("-", " ")
    if dashless in _ALIASES:
        return _ALIASES[dashless]
    # Compound names ("blues rock", "hard bop jazz", "pop punk"): the last word is the head.
    words = dashless.split()
    if len(words) > 4:
        return None
    for i in range(len(words) - 1, -1, -1):
        for span in (words[i - 1 : i + 1] if i else [], words[i : i + 1]):
            key = " ".join(span)
            if not key:
                continue
            if key.replace(" ", "") in GENRES:
                return key.replace(" ", "")
            if key in _ALIASES:
                return _ALIASES[key]
    return None


_CONFIDENCE_WORDS = {"very high": 0.9, "high": 0.8, "medium": 0.6, "moderate": 0.6, "low": 0.4,
                     "very low": 0.2}


def _confidence(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().lower() in _CONFIDENCE_WORDS:
        return _CONFIDENCE_WORDS[value.strip().lower()]
    if isinstance(value, str):
        match = re.search(r"([0-9]*\.?[0-9]+)\s*(%?)", value)
        if not match:
            return None
        number = float(match.group(1))
        if match.group(2):
            number /= 100.0
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return None
    else:
        number = float(value)
    if number != number:  # NaN
        return None
    if 1.0 < number <= 100.0:  # a percentage
        number /= 100.0
    return min(1.0, max(0.0, number))


def _alternatives(value: Any, predicted: str) -> list[tuple[str, float]]:
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                items.append((item.get("genre") or item.get("name"), item.get("confidence")))
            elif isinstance(item, list | tuple) and item:
                items.append((item[0], item[1] if len(item) > 1 else None))
            else:
                items.append((item, None))
    out: list[tuple[str, float]] = []
    for name, conf in items:
        genre = normalise_genre(name)
        if genre is None or genre == predicted or any(genre == g for g, _ in out):
            continue
        out.append((genre, _confidence(conf) or 0.0))
    return sorted(out, key=lambda pair: -pair[1])


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def _error(reason: str, message: str, raw: str) -> SongError:
    return SongError(reason=reason, message=message, stage="classify", raw_text=raw)


def _from_object(obj: dict[str, Any], raw: str, method: str) -> ParsedAnswer | SongError:
    lowered = {str(k).lower().replace(" ", "_").replace("-", "_"): v for k, v in obj.items()}
    name = next(
        (lowered[k] for k in ("predicted_genre", "predictedgenre", "genre", "prediction")
         if k in lowered),
        None,
    )
    reasoning = lowered.get("reasoning") or lowered.get("reason") or ""
    reasoning = reasoning if isinstance(reasoning, str) else json.dumps(reasoning)
    genre = normalise_genre(name)
    if genre is None:
        if (name is None or name == "") and _REFUSAL.search(reasoning):
            return _error("refusal", "The model declined to classify the song.", raw)
        shown = str(name)[:40] if name not in (None, "") else "nothing"
        return _error(
            "unknown_genre", f"The model answered {shown!r}, which is not one of the ten genres.",
            raw,
        )
    notes: list[str] = []
    confidence = _confidence(lowered.get("confidence"))
    if confidence is None:
        confidence = 0.5
        notes.append("confidence missing or unreadable, 0.5 assumed")
    return ParsedAnswer(
        predicted_genre=genre,
        confidence=confidence,
        reasoning=reasoning.strip(),
        key_indicators=_strings(lowered.get("key_indicators")),
        alternative_genres=_alternatives(lowered.get("alternative_genres"), genre),
        method=method,
        notes=notes,
    )


def _repair(text: str) -> str:
    """Fix the near-JSON models often write: Mixtral's escaped underscores (predicted\\_genre),
    typographic quotes, trailing commas."""
    text = text.replace("\\_", "_").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r",\s*([}\]])", r"\1", text)


def _embedded_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object found in fences or prose, fenced ones first, then repaired text."""
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    chunks = [*_FENCE.findall(text), text]
    repaired = _repair(text)
    if repaired != text:
        chunks += [*_FENCE.findall(repaired), repaired]
    for chunk in chunks:
        for start in [m.start() for m in re.finditer(r"\{", chunk)]:
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj not in found:
                found.append(obj)
    return found


def _answer_rank(obj: dict[str, Any]) -> int:
    """How much an object looks like the answer: an alternative_genres item has a "genre" key
    too, so a whole answer with "predicted_genre" or reasons comes first; 3 = not an answer."""
    keys = {str(k).lower().replace("\\", "") for k in obj}
    if "predicted_genre" in keys or "predictedgenre" in keys:
        return 0
    if "genre" in keys or "prediction" in keys:
        return 1 if keys & {"reasoning", "reason", "key_indicators"} else 2
    return 3


def _looks_cut(text: str) -> bool:
    # An object was opened after the last complete one and never closed.
    body = text.rstrip().removesuffix("```").rstrip()
    return body.count("{") > body.count("}") or (
        "predicted_genre" in body and not body.endswith(("}", "]"))
        and body.rfind("{") > body.rfind("}")
    )


def parse_answer(text: str, *, stop_reason: str | None = None) -> ParsedAnswer | SongError:
    """Parse a model answer; never raises. Errors have stage="classify" and keep the text."""
    raw = text or ""
    stripped = raw.strip()
    truncated_by_model = (stop_reason or "").lower() in ("max_tokens", "length")
    if not stripped:
        if truncated_by_model:
            return _error("truncated_answer", "The answer was cut off before any text.", raw)
        return _error("unparseable_answer", "The model returned an empty answer.", raw)

    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    candidates: list[tuple[dict[str, Any], str]] = []
    if isinstance(whole, dict):
        candidates.append((whole, "json"))
    else:
        candidates.extend((obj, "embedded_json") for obj in _embedded_objects(stripped))

    first_error: SongError | None = None
    # A bare {"genre", "confidence"} is an alternative_genres item when the text names the
    # predicted_genre key: taking it would turn a cut answer into its runner-up.
    worst = 1 if "predicted_genre" in _repair(stripped).lower() else 2
    for obj, method in sorted(candidates, key=lambda c: _answer_rank(c[0])):
        if _answer_rank(obj) > worst:
            continue
        result = _from_object(obj, raw, method)
        if isinstance(result, ParsedAnswer):
            return result
        first_error = first_error or result
    if first_error is not None:
        return first_error

    if (stop_reason or "").lower() in _BLOCKED_STOPS:
        return _error("refusal", f"The answer was blocked ({stop_reason}).", raw)
    if truncated_by_model or _looks_cut(stripped):
        return _error(
            "truncated_answer",
            "The answer was cut off before its JSON was complete (raise the max tokens).", raw,
        )
    field_match = _FIELD.search(stripped)
    if field_match:
        genre = normalise_genre(field_match.group(1))
        if genre is None:
            return _error(
                "unknown_genre",
                f"The model answered {field_match.group(1)[:40]!r}, not one of the ten genres.",
                raw,
            )
        return _salvage(genre, stripped, "field_regex")
    if _REFUSAL.search(stripped):
        return _error("refusal", "The model declined to classify the song.", raw)
    named = _genres_named(stripped)
    if len(named) == 1 and len(stripped.split()) <= _LONE_MAX_WORDS:
        return _salvage(named.pop(), stripped, "lone_genre")
    return _error("unparseable_answer", "The answer held no readable genre.", raw)


def _genres_named(text: str) -> set[str]:
    named: set[str] = set()
    words = re.findall(r"[a-z-]+", text.lower())
    for i in range(len(words)):
        for span in (words[i : i + 2], words[i : i + 1]):
            key = " ".join(span)
            if key in _PROSE_NAMES:
                named.add(_PROSE_NAMES[key])
    return named


def _salvage(genre: str, text: str, method: str) -> ParsedAnswer:
    conf_match = _CONF.search(text)
    notes = [f"recovered by {method.replace('_', ' ')}: no valid JSON in the answer"]
    confidence = None
    if conf_match:
        confidence = _confidence(conf_match.group(1) + conf_match.group(2))
    if confidence is None:
        confidence = 0.5
        notes.append("confidence missing, 0.5 assumed")
    return ParsedAnswer(
        predicted_genre=genre,
        confidence=confidence,
        reasoning=text[:500],
        key_indicators=[],
        alternative_genres=[],
        method=method,
        notes=notes,
    )
