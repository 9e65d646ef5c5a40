"""Plain data shared by every stage of the core: genres, feature columns, songs, answers, errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)

# The 58 columns of the Kaggle features_30_sec.csv, in its order (header minus filename/label).
FEATURE_COLUMNS: tuple[str, ...] = (
    "length",
    "chroma_stft_mean", "chroma_stft_var",
    "rms_mean", "rms_var",
    "spectral_centroid_mean", "spectral_centroid_var",
    "spectral_bandwidth_mean", "spectral_bandwidth_var",
    "rolloff_mean", "rolloff_var",
    "zero_crossing_rate_mean", "zero_crossing_rate_var",
    "harmony_mean", "harmony_var",
    "perceptr_mean", "perceptr_var",
    "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, 21) for stat in ("mean", "var")),
)
assert len(FEATURE_COLUMNS) == 58

Features = dict[str, float]


@dataclass(frozen=True)
class SongError:
    """An error as a value: a batch keeps going and the store, reports and GUI show it.

    `reason` is a short code (``corrupt_audio``, ``throttled``, ``unparseable_answer`` ...),
    `message` one sentence for people. Never put a secret in either.
    """

    reason: str
    message: str
    stage: str = "features"  # "features" | "classify" | "pipeline"
    path: str | None = None
    raw_text: str = ""  # model output kept for unparseable answers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SetupError(RuntimeError):
    """A problem that fails every song alike (no credentials, access denied, model at end of
    life, ...): the run stops once with this sentence and hint instead of failing song by song.

    Backends raise it from `classify` (or a pre-flight); the pipeline stops the run on it and
    the CLI exits non-zero. `reason` is a short code, `message` one sentence, `hint` what to do.
    Never put a secret in either.
    """

    def __init__(self, reason: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


@dataclass(frozen=True)
class RunNotice:
    """One sentence about a run's set-up for people, not an error: the inference profile a
    bare model ID was resolved to, a legacy model's end-of-life date. Shown once per run."""

    text: str

    @property
    def kind(self) -> str:
        return "warning" if self.text.lower().startswith("warning") else "notice"


SignalKind = Literal["music", "silence", "noise"]


@dataclass
class SongFeatures:
    """What extraction yields for one file.

    `features` covers the analysed audio as a whole (comparable with the reference table when
    the file is a 30 s clip). `windows` holds per-30 s window features when the analysed audio
    is long enough to hold more than one window, else it is empty.
    """

    path: str
    features: Features
    duration_s: float  # the whole file
    analysed_s: float  # what was analysed (<= the max-seconds setting)
    limited: bool = False  # True when the file was longer than the limit and cut
    windows: list[Features] = field(default_factory=list)
    content_hash: str = ""
    note: str = ""  # e.g. "analysed the first 120 s of 301 s"
    # What the pretrained tagger heard (core/tagger): msd_tags, mtt_tags (50 probabilities
    # each), msd_embedding, mtt_embedding (200 each); empty without the musicnn weights.
    tagger: dict[str, list[float]] = field(default_factory=dict)
    # Not music at all: any genre guessed for it is meaningless (the note says so too).
    signal: SignalKind = "music"


@dataclass
class Prediction:
    """One backend's answer for one song. Same shape for the offline model and the LLMs."""

    predicted_genre: str
    confidence: float
    reasoning: str
    key_indicators: list[str]
    alternative_genres: list[tuple[str, float]]  # most likely first
    genre_scores: dict[str, float]  # every genre in GENRES -> probability (may be empty for LLMs)
    backend: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    # of input_tokens, how many were read from / written to the prompt cache (Bedrock)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    api_calls: int = 0
    retries: int = 0
    prompt: str = ""  # the exact prompt sent (system + user), empty for the offline model
    raw_response: str = ""
    members: list[Prediction] = field(default_factory=list)  # ensemble: each backend's answer
    # ensemble: the members that failed on this song, as "name: reason" (e.g. "bedrock:
    # throttled"); the vote went on without them.
    member_failures: list[str] = field(default_factory=list)
    # The tagger's strongest tags (genres, styles, moods, instruments, eras), most likely first:
    # multi-label, beside the single genre answer.
    tags: list[tuple[str, float]] = field(default_factory=list)


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class Backend(Protocol):
    """Anything that turns a song's features into a genre."""

    name: str  # "local" | "bedrock" | "ensemble"
    model: str

    def classify(
        self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset(),
        cancel: CancelFlag | None = None,
    ) -> Prediction | SongError:
        """Classify one song; never raise for a per-song problem.

        `exclude_refs` names reference-table rows (their `filename`) that must not be used
        as few-shot examples or neighbours, e.g. the song itself when it is in the table.
        `cancel` is the run's cancel flag: a backend that waits (retries, rate limits) checks
        it and gives up early with a `cancelled` SongError.
        """
        ...
