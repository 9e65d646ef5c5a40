"""Which genres to write into a file, given a song's prediction, its current tags and the policy.

- How many: the top prediction alone (``max_genres=1``), or the top one plus the next ones whose
  probability reaches ``threshold``, at most ``max_genres`` in all.
- From which vocabulary: the 10 GTZAN labels (``gtzan``), the genre-like tags of the audio
  tagger when the result carries them (``tags``), or both merged.
- Shown how: a display map turns labels into the names people expect (hiphop -> Hip-Hop).
- Into what: ``replace`` the file's genres, ``add`` ours after the existing ones, or fill only
  files with no genre (``empty``).
- ``min_confidence``: a song whose top probability is below it is not tagged at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from genre_desktop.core.types import Prediction

MODES: tuple[str, ...] = ("replace", "add", "empty")
VOCABULARIES: tuple[str, ...] = ("gtzan", "tags", "both")

DISPLAY_MAP: dict[str, str] = {
    "blues": "Blues", "classical": "Classical", "country": "Country", "disco": "Disco",
    "hiphop": "Hip-Hop", "hip-hop": "Hip-Hop", "jazz": "Jazz", "metal": "Metal", "pop": "Pop",
    "reggae": "Reggae", "rock": "Rock", "rnb": "R&B", "electronica": "Electronica",
    "house": "House", "techno": "Techno", "new age": "New Age", "heavy metal": "Heavy Metal",
    "hard rock": "Hard Rock", "classic rock": "Classic Rock", "progressive rock":
    "Progressive Rock", "indie rock": "Indie Rock", "indie pop": "Indie Pop",
    "alternative rock": "Alternative Rock", "easy listening": "Easy Listening",
}

# The tagger's (musicnn MSD/MTT) tags that name a genre or style; moods, instruments and
# decades are not genres and never go into a genre field.
GENRE_TAGS: frozenset[str] = frozenset({
    "rock", "pop", "alternative", "indie", "electronic", "dance", "alternative rock", "jazz",
    "metal", "chillout", "classic rock", "soul", "indie rock", "electronica", "folk", "punk",
    "blues", "hard rock", "ambient", "experimental", "hip-hop", "hiphop", "country",
    "easy listening", "funk", "electro", "heavy metal", "progressive rock", "rnb", "indie pop",
    "house", "classical", "techno", "new age", "opera", "choral", "reggae", "disco",
})


class PolicyError(ValueError):
    """A policy value that cannot be used."""


@dataclass(frozen=True)
class TagPolicy:
    max_genres: int = 1
    threshold: float = 0.25  # for the 2nd..Nth genre
    min_confidence: float = 0.0
    vocabulary: str = "gtzan"
    mode: str = "replace"
    skip_tagged: bool = False  # leave files an earlier write of ours already tagged
    display: Mapping[str, str] = field(default_factory=lambda: dict(DISPLAY_MAP))

    def validate(self) -> TagPolicy:
        if self.max_genres < 1:
            raise PolicyError("max_genres must be at least 1.")
        for name in ("threshold", "min_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise PolicyError(f"{name} must be between 0 and 1 (got {value}).")
        if self.mode not in MODES:
            raise PolicyError(f"Unknown mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        if self.vocabulary not in VOCABULARIES:
            raise PolicyError(f"Unknown vocabulary {self.vocabulary!r}; choose one of "
                              f"{', '.join(VOCABULARIES)}.")
        return self

    def show(self, label: str) -> str:
        key = label.strip().lower()
        if key in self.display:
            return self.display[key]
        return label.strip().title() if label.strip().islower() else label.strip()


def parse_display_map(text: str) -> dict[str, str]:
    """'hiphop=Hip-Hop, rnb=R&B' -> {'hiphop': 'Hip-Hop', 'rnb': 'R&B'}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise PolicyError(f"Display map entry {part.strip()!r} is not label=Name.")
        out[key.strip().lower()] = value.strip()
    return out


def policy_from_settings(settings: Any, **overrides: Any) -> TagPolicy:
    """The policy the Settings' tag_* fields describe; `overrides` (None skipped) win."""
    display = dict(DISPLAY_MAP)
    display.update(parse_display_map(getattr(settings, "tag_display_map", "") or ""))
    values: dict[str, Any] = {
        "max_genres": settings.tag_max_genres, "threshold": settings.tag_threshold,
        "min_confidence": settings.tag_min_confidence, "vocabulary": settings.tag_vocabulary,
        "mode": settings.tag_mode, "skip_tagged": bool(settings.tag_skip_tagged),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TagPolicy(display=display, **values).validate()


def tagger_tags(prediction: Any) -> list[tuple[str, float]]:
    """The tagger's tags on a prediction (issue 13's `tags`), in any of the shapes it may use:
    {tag: p}, [(tag, p)], [{"tag"/"name": ..., "probability"/"p"/"score": ...}]."""
    raw = getattr(prediction, "tags", None)
    if raw is None and isinstance(prediction, Mapping):
        raw = prediction.get("tags")
    if not raw:
        return []
    items: Iterable[Any] = raw.items() if isinstance(raw, Mapping) else raw
    out = []
    for item in items:
        if isinstance(item, Mapping):
            name = item.get("tag") or item.get("name")
            prob = next((item[k] for k in ("probability", "p", "score", "confidence")
                         if k in item), None)
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) >= 2:
            name, prob = item[0], item[1]
        else:
            continue
        if name is not None and prob is not None:
            out.append((str(name), float(prob)))
    return out


def ranked_candidates(prediction: Prediction, policy: TagPolicy) -> list[tuple[str, float]]:
    """(display name, probability), best first, from the policy's vocabulary, deduplicated.

    With the GTZAN labels in the vocabulary the predicted genre always comes first: it is the
    classification's answer, and its confidence is what `min_confidence` gates.
    """
    scored: dict[str, float] = {}
    first: str | None = None
    if policy.vocabulary in ("gtzan", "both"):
        scores = dict(prediction.genre_scores or {})
        for g, p in prediction.alternative_genres:
            scores.setdefault(g, float(p))
        scores[prediction.predicted_genre] = float(prediction.confidence)
        for g, p in scores.items():
            name = policy.show(g)
            scored[name] = max(scored.get(name, 0.0), float(p))
        first = policy.show(prediction.predicted_genre)
    if policy.vocabulary in ("tags", "both"):
        for tag, p in tagger_tags(prediction):
            if tag.strip().lower() in GENRE_TAGS:
                name = policy.show(tag)
                scored[name] = max(scored.get(name, 0.0), p)
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
    if first is not None:
        ranked = [(first, scored[first])] + [kv for kv in ranked if kv[0] != first]
    return ranked


def choose_genres(prediction: Prediction, policy: TagPolicy) -> list[str]:
    """The genres this song should get, or [] when it is not sure enough to tag."""
    ranked = ranked_candidates(prediction, policy)
    if not ranked or ranked[0][1] < policy.min_confidence:
        return []
    chosen = [ranked[0][0]]
    for name, p in ranked[1:]:
        if len(chosen) >= policy.max_genres:
            break
        if p >= policy.threshold:
            chosen.append(name)
    return chosen


def merge_genres(old: Sequence[str], new: Sequence[str], mode: str) -> list[str] | None:
    """The file's genres after the write, or None when the file is to be left alone."""
    if not new:
        return None
    if mode == "empty":
        result = list(new) if not any(g.strip() for g in old) else list(old)
    elif mode == "add":
        have = {g.strip().lower() for g in old}
        result = list(old) + [g for g in new if g.strip().lower() not in have]
    else:
        result = list(new)
    return None if list(result) == list(old) else result


def doubt(prediction: Prediction | None) -> float:
    """1 - (top probability - runner-up's): 1 when two genres tie, 0 when one is certain; how
    the review sorts the songs the model hesitated on first."""
    if prediction is None:
        return 1.0
    second = max((float(c) for g, c in prediction.alternative_genres
                  if g != prediction.predicted_genre), default=0.0)
    return max(0.0, min(1.0, 1.0 - (float(prediction.confidence) - second)))
