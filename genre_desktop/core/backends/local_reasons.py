"""Plain-language reasons for the offline model's answer, from the features that drove it.

The model itself is a kernel machine with no readable weights, so the reasons come from the
reference table instead: a trait is cited when the song sits far from the table's middle on it
and the winning genre's typical song sits on the same side (more so than the runner-up's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from genre_desktop.core.reference import (
    ReferenceTable,
    feature_value,
    genre_profiles,
    percentile,
)


@dataclass(frozen=True)
class Trait:
    column: str  # a table column or a reference.DERIVED_COLUMNS measure
    low: str
    high: str
    show: Callable[[float], str]  # the measured value, for key indicators


TRAITS: tuple[Trait, ...] = (
    Trait("tempo", "slow tempo", "fast tempo", lambda v: f"tempo {v:.0f} BPM"),
    Trait("spectral_centroid_mean", "dark tone", "bright tone",
          lambda v: f"spectral centroid {v:.0f} Hz"),
    Trait("rms_mean", "quiet mix", "loud mix", lambda v: f"RMS level {v:.3f}"),
    Trait("zero_crossing_rate_mean", "clean sound", "noisy texture",
          lambda v: f"zero-crossing rate {v:.3f}"),
    Trait("harmonic_share", "heavy percussion", "light percussion",
          lambda v: f"harmonic share {v:.0%}"),
    Trait("rms_dynamics", "steady level", "dynamic level",
          lambda v: f"RMS variation {v:.2f}"),
    Trait("spectral_bandwidth_mean", "narrow spectrum", "wide spectrum",
          lambda v: f"spectral bandwidth {v:.0f} Hz"),
    Trait("timbre_variability", "uniform timbre", "changing timbre",
          lambda v: f"MFCC variability {v:.2f}"),
    Trait("chroma_stft_mean", "sparse harmony", "dense harmony",
          lambda v: f"chroma level {v:.2f}"),
)


@dataclass(frozen=True)
class CitedTrait:
    trait: Trait
    value: float
    pct: float  # the song's percentile in the table
    support: float

    @property
    def phrase(self) -> str:
        base = self.trait.high if self.pct >= 50 else self.trait.low
        strong = self.pct >= 90 or self.pct <= 10
        return f"{'very ' if strong else ''}{base} (p{self.pct:.0f} of the table)"

    @property
    def indicator(self) -> str:
        return f"{self.trait.show(self.value)} (p{self.pct:.0f})"


def _side(p: float) -> float:
    return (p - 50.0) / 50.0


def cite_traits(table: ReferenceTable, features: Mapping[str, float], genre: str,
                runner_up: str | None, limit: int = 3) -> list[CitedTrait]:
    """The traits that best explain `genre` over `runner_up` for this song, strongest first."""
    profiles = genre_profiles(table)
    cited = []
    for trait in TRAITS:
        try:
            value = feature_value(features, trait.column)
        except (KeyError, ValueError, ZeroDivisionError):
            continue
        if not math.isfinite(value):
            continue
        pct = percentile(table, trait.column, value)
        song = _side(pct)
        typical = _side(percentile(table, trait.column, profiles[genre][trait.column])) \
            if genre in profiles else 0.0
        other = _side(percentile(table, trait.column, profiles[runner_up][trait.column])) \
            if runner_up in profiles else 0.0
        # Agreement with the winner's typical song, plus how much better than the runner-up's.
        support = song * (typical + 0.5 * (typical - other))
        cited.append(CitedTrait(trait, value, pct, support))
    chosen = [c for c in cited if c.support > 0.02 and abs(c.pct - 50) >= 10]
    chosen.sort(key=lambda c: -c.support)
    if not chosen:  # nothing typical: name what is most unusual about the song instead
        chosen = sorted(cited, key=lambda c: -abs(c.pct - 50))
    return chosen[:limit]


def reasoning_text(genre: str, confidence: float, cited: list[CitedTrait],
                   alternatives: list[tuple[str, float]], context: str = "") -> str:
    """One or two short sentences: the winner, the traits behind it, the runner-up."""
    if cited:
        why = ", ".join(c.phrase for c in cited)
        text = f"Most like {genre} ({confidence:.0%}): {why}."
    else:
        text = f"Most like {genre} ({confidence:.0%})."
    if alternatives:
        alt, conf = alternatives[0]
        text += f" Next: {alt} ({conf:.0%})."
    if context:
        text += f" {context}"
    return text
