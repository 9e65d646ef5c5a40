"""Features in plain language, each placed by its percentile in the reference table.

Six aspects (tempo, brightness, texture, energy, timbre, harmony) at three levels: `brief`
(one or two lines), `standard` (a line per aspect) and `detailed` (the numbers behind them).
Numbers are printed so that no zero-padded run like a table id (``00042``) can appear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genre_desktop.core.reference import (
    ReferenceTable,
    feature_value,
    load_reference,
    percentile,
)

LEVELS: tuple[str, ...] = ("brief", "standard", "detailed")
ASPECTS: tuple[str, ...] = ("tempo", "brightness", "texture", "energy", "timbre", "harmony")

# Five words per measure, lowest to highest percentile (bins: <10, <35, <65, <90, >=90).
SCALES: dict[str, tuple[str, str, str, str, str]] = {
    "tempo": ("much slower than most", "slower than most", "typical", "faster than most",
              "much faster than most"),
    "spectral_centroid_mean": ("very dark", "dark", "balanced", "bright", "very bright"),
    "rolloff_mean": ("very little high-frequency energy", "little high-frequency energy",
                     "moderate high-frequency energy", "strong high-frequency energy",
                     "very strong high-frequency energy"),
    "zero_crossing_rate_mean": ("very smooth", "smooth", "moderately grainy", "noisy",
                                "very noisy"),
    "spectral_bandwidth_mean": ("very narrow", "narrow", "moderate", "wide", "very wide"),
    "harmonic_share": ("strongly percussive", "percussion-leaning", "balanced between tones "
                       "and hits", "tone-leaning", "strongly harmonic, sustained tones"),
    "rms_mean": ("very quiet", "quiet", "moderately loud", "loud", "very loud"),
    "rms_dynamics": ("very steady, compressed", "steady", "moderately varied", "dynamic",
                     "highly dynamic"),
    "mfcc1_mean": ("very low overall spectral energy", "low overall spectral energy",
                   "average overall spectral energy", "high overall spectral energy",
                   "very high overall spectral energy"),
    "mfcc2_mean": ("strongly tilted to the highs, thin and crisp", "tilted to the highs",
                   "evenly tilted", "tilted to the lows, warm",
                   "strongly tilted to the lows, very warm and mellow"),
    "timbre_variability": ("very uniform", "uniform", "moderately changing", "changing",
                           "constantly changing"),
    "chroma_stft_mean": ("very focused on a few pitch classes, a clear tonal centre",
                         "focused on a few pitch classes", "moderately spread over pitch classes",
                         "spread over many pitch classes, dense",
                         "spread over nearly all pitch classes, very dense or noisy"),
    "chroma_stft_var": ("very static", "static", "moderately moving", "moving",
                        "strongly moving"),
    "spectral_centroid_var": ("very stable", "stable", "moderately changing", "changing",
                              "strongly changing"),
}


@dataclass(frozen=True)
class Measure:
    column: str  # a table column or a derived measure of reference.DERIVED_COLUMNS
    value: float
    percentile: float  # 0-100 within the reference table
    word: str  # the SCALES word for that percentile
    rank: int  # 0-4: the position of `word` in its scale


def _bin(pct: float) -> int:
    return 0 if pct < 10 else 1 if pct < 35 else 2 if pct < 65 else 3 if pct < 90 else 4


def measure(features: Mapping[str, float], column: str, table: ReferenceTable) -> Measure:
    value = feature_value(features, column)
    pct = percentile(table, column, value)
    rank = _bin(pct)
    return Measure(column, value, pct, SCALES[column][rank], rank)


def measures(
    features: Mapping[str, float], table: ReferenceTable | None = None
) -> dict[str, Measure]:
    """Every measure of SCALES for one song, by column name."""
    table = table if table is not None else load_reference()
    return {column: measure(features, column, table) for column in SCALES}


def tempo_class(bpm: float) -> str:
    if not bpm or bpm != bpm:
        return "no steady beat"
    if bpm < 80:
        return "slow"
    if bpm < 115:
        return "moderate"
    return "fast" if bpm < 160 else "very fast"


def _ordinal(pct: float) -> str:
    n = round(min(99.0, max(1.0, pct)))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} percentile"


def _hz(value: float) -> str:
    return f"{value:,.0f} Hz"


def _sentences(m: dict[str, Measure]) -> dict[str, str]:
    """One standard-level sentence per aspect."""
    t = m["tempo"]
    tempo = (
        f"{t.value:.0f} BPM, {tempo_class(t.value)} ({t.word} in the reference; "
        f"{_ordinal(t.percentile)})."
        if t.value > 0 else "no steady beat was detected."
    )
    c, r = m["spectral_centroid_mean"], m["rolloff_mean"]
    z, b, h = m["zero_crossing_rate_mean"], m["spectral_bandwidth_mean"], m["harmonic_share"]
    e, d = m["rms_mean"], m["rms_dynamics"]
    m1, m2, tv = m["mfcc1_mean"], m["mfcc2_mean"], m["timbre_variability"]
    cm, cv = m["chroma_stft_mean"], m["chroma_stft_var"]
    return {
        "tempo": tempo,
        "brightness": f"{c.word} (spectral centroid {_ordinal(c.percentile)}), with {r.word} "
        f"(roll-off {_ordinal(r.percentile)}).",
        "texture": f"{z.word} (zero-crossing rate {_ordinal(z.percentile)}), {b.word} "
        f"spectrum (bandwidth {_ordinal(b.percentile)}), {h.word} "
        f"(harmonic share {_ordinal(h.percentile)}).",
        "energy": f"{e.word} (RMS {_ordinal(e.percentile)}), loudness over time {d.word} "
        f"({_ordinal(d.percentile)}).",
        "timbre": f"spectral shape {m2.word} (MFCC 2 {_ordinal(m2.percentile)}), {m1.word} "
        f"(MFCC 1 {_ordinal(m1.percentile)}), tone colour {tv.word} "
        f"(MFCC variance {_ordinal(tv.percentile)}).",
        "harmony": f"pitch content {cm.word} (chroma mean {_ordinal(cm.percentile)}), "
        f"{cv.word} over time (chroma variance {_ordinal(cv.percentile)}).",
    }


def _details(features: Mapping[str, float], m: dict[str, Measure]) -> dict[str, str]:
    """Extra figures per aspect for the detailed level."""
    mfcc = ", ".join(
        f"{i}: {features[f'mfcc{i}_mean']:.1f}" for i in range(1, 8) if f"mfcc{i}_mean" in features
    )
    sv = m["spectral_centroid_var"]
    return {
        "tempo": "Beat trackers sometimes report half or double the felt tempo; weigh it "
        "with the rhythm cues below.",
        "brightness": f"Centroid {_hz(m['spectral_centroid_mean'].value)}, roll-off "
        f"{_hz(m['rolloff_mean'].value)}; brightness is {sv.word} over time "
        f"({_ordinal(sv.percentile)}).",
        "texture": f"Zero-crossing rate {m['zero_crossing_rate_mean'].value:.3f}, bandwidth "
        f"{_hz(m['spectral_bandwidth_mean'].value)}, harmonic share of the signal energy "
        f"{100 * m['harmonic_share'].value:.0f}%.",
        "energy": f"RMS level {m['rms_mean'].value:.3f}; its swings are "
        f"{100 * m['rms_dynamics'].value:.0f}% of the level.",
        "timbre": f"MFCC means (coefficient: value) {mfcc}.",
        "harmony": f"Chroma mean {m['chroma_stft_mean'].value:.2f}, variance "
        f"{m['chroma_stft_var'].value:.3f}.",
    }


def _brief(m: dict[str, Measure]) -> str:
    t = m["tempo"]
    tempo = f"{tempo_class(t.value).capitalize()} tempo ({t.value:.0f} BPM)" if t.value > 0 else (
        "No steady beat"
    )
    words = [
        m["spectral_centroid_mean"].word, m["rms_mean"].word,
        m["zero_crossing_rate_mean"].word, m["harmonic_share"].word,
    ]
    return (
        f"{tempo}; {', '.join(words)}; timbre {m['mfcc2_mean'].word} and "
        f"{m['timbre_variability'].word}; harmony {m['chroma_stft_mean'].word}."
    )


def describe(
    features: Mapping[str, float], level: str = "standard", table: ReferenceTable | None = None
) -> str:
    """Plain-language description of one song's features relative to the reference table."""
    if level not in LEVELS:
        raise ValueError(f"Unknown description level {level!r}; choose one of {LEVELS}")
    m = measures(features, table)
    if level == "brief":
        return _brief(m)
    sentences = _sentences(m)
    details = _details(features, m) if level == "detailed" else {}
    lines = []
    for aspect in ASPECTS:
        line = f"- {aspect.capitalize()}: {sentences[aspect]}"
        if aspect in details:
            line += " " + details[aspect]
        lines.append(line)
    return "\n".join(lines)


def _strength(p: float) -> str:
    return ("very strongly" if p >= 0.6 else "strongly" if p >= 0.4 else "clearly" if p >= 0.25
            else "somewhat" if p >= 0.12 else "faintly")


def describe_tags(output: Mapping[str, Sequence[float]], n: int = 8) -> str:
    """What the pretrained tagger hears (core/tagger), its top tags with their strength in
    words: "strongly blues (0.52), clearly guitar (0.31), ..."."""
    from genre_desktop.core.tagger import top_tags

    tags = top_tags(output, n)
    if not tags:
        return ""
    heard = ", ".join(f"{_strength(p)} {name} ({p:.2f})" for name, p in tags)
    return f"- Tagger: a pretrained music tagger hears {heard}."


def profile_line(genre: str, medians: Mapping[str, float], table: ReferenceTable) -> str:
    """A short profile of a genre from its median features (see reference.genre_profiles)."""
    m = measures(medians, table)
    # Tempo estimates cluster on a few values (medians are often exactly 123 BPM): the middle
    # half of the genre's clips says more.
    tempos = table.frame.loc[table.frame["label"] == genre, "tempo"]
    low, high = (tempos.quantile(q) for q in (0.25, 0.75)) if len(tempos) else (0.0, 0.0)
    return (
        f"{genre}: tempo mostly {low:.0f}-{high:.0f} BPM; {m['spectral_centroid_mean'].word} "
        f"(centroid {_hz(m['spectral_centroid_mean'].value)}); {m['rms_mean'].word}, "
        f"loudness {m['rms_dynamics'].word}; {m['zero_crossing_rate_mean'].word}; "
        f"{m['harmonic_share'].word}; timbre {m['mfcc2_mean'].word}, "
        f"{m['timbre_variability'].word}; pitch content {m['chroma_stft_mean'].word}."
    )


def tagger_examples(
    features: Mapping[str, float], output: Mapping[str, list[float]], table: ReferenceTable,
    k: int, exclude: frozenset[str], one_per_genre: bool = False,
) -> list[Any] | None:
    """Few-shot examples nearest in the tagger's embedding space: from `table` when it has
    embeddings, else from the shipped tagger reference; None when neither can serve (the
    caller then takes the 58-feature neighbours)."""
    from genre_desktop.core.reference import nearest_by_embedding, tagger_table_path

    if not table.has_tagger:
        path = tagger_table_path()
        if not path.is_file():
            return None
        table = load_reference(path)
        if not table.has_tagger:
            return None
    return nearest_by_embedding(table, features, output, k, exclude, one_per_genre) or None
