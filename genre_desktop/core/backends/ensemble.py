"""Ensemble backend: the offline model and an LLM vote, each weighted by its confidence.

Each member gives a distribution over genres: the offline model its calibrated probabilities
(`genre_scores`), an LLM its predicted genre's confidence plus its alternatives. The ensemble
sums `weight * probability` per genre and normalises. When one member fails (throttled,
unparseable answer ...) the others still decide and the reasoning says so; only when every
member fails is the song an error. Each member's own Prediction is kept in `members`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from genre_desktop.core.types import (
    GENRES,
    Backend,
    CancelFlag,
    Prediction,
    SetupError,
    SongError,
    SongFeatures,
)

DEFAULT_WEIGHTS = {"local": 1.0, "bedrock": 1.0}


def member_distribution(pred: Prediction) -> dict[str, float]:
    """A member's probability per genre (sums to at most 1)."""
    if pred.genre_scores:
        scores = {g: max(0.0, float(p)) for g, p in pred.genre_scores.items() if g in GENRES}
    else:
        scores = {pred.predicted_genre: max(0.0, min(1.0, pred.confidence))}
        for genre, conf in pred.alternative_genres:
            if genre in GENRES and genre not in scores:
                scores[genre] = max(0.0, min(1.0, float(conf)))
    total = sum(scores.values())
    if total > 1.0:  # LLM confidences need not sum to 1: rescale, keep their proportions
        scores = {g: p / total for g, p in scores.items()}
    return scores


class EnsembleBackend:
    """Confidence-weighted vote of several backends (normally local + bedrock)."""

    name = "ensemble"

    def __init__(self, members: Sequence[Backend], weights: dict[str, float] | None = None,
                 *, parallel: bool = True) -> None:
        if not members:
            raise ValueError("An ensemble needs at least one member backend.")
        self.members = list(members)
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        for key, w in self.weights.items():
            if w < 0:
                raise ValueError(f"The weight of {key} must not be negative.")
        self.parallel = parallel
        self.model = "+".join(f"{m.name}:{m.model}" for m in self.members)

    def weight_of(self, member: Backend) -> float:
        """Weight by backend name; a `name:model` key overrides it for one model."""
        return self.weights.get(f"{member.name}:{member.model}", self.weights.get(member.name, 1.0))

    def _run(self, member: Backend, song: SongFeatures, exclude_refs: frozenset[str],
             cancel: CancelFlag | None) -> Prediction | SongError:
        try:
            return member.classify(song, exclude_refs=exclude_refs, cancel=cancel)
        except SetupError:
            raise  # a set-up problem of a member stops the run (see core.types.SetupError)
        except Exception as exc:  # one member's bug must not sink the others
            return SongError("backend_failure",
                             f"The {member.name} backend failed: {type(exc).__name__}: {exc}",
                             stage="classify", path=song.path)

    def classify(self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset(),
                 cancel: CancelFlag | None = None) -> Prediction | SongError:
        if self.parallel and len(self.members) > 1:
            # The offline model is quick; the LLM is I/O bound: run them side by side.
            with ThreadPoolExecutor(max_workers=len(self.members)) as pool:
                futures = [pool.submit(self._run, m, song, exclude_refs, cancel)
                           for m in self.members]
                answers = [f.result() for f in futures]
        else:
            answers = [self._run(m, song, exclude_refs, cancel) for m in self.members]
        return self.combine(answers, path=song.path)

    def combine(self, answers: Sequence[Prediction | SongError], *, path: str | None = None
                ) -> Prediction | SongError:
        preds = [(m, a) for m, a in zip(self.members, answers, strict=True)
                 if isinstance(a, Prediction)]
        errors = [(m, a) for m, a in zip(self.members, answers, strict=True)
                  if isinstance(a, SongError)]
        if not preds:
            first = errors[0][1]
            detail = "; ".join(f"{m.name}: {e.reason}" for m, e in errors)
            return SongError(first.reason, f"Every ensemble member failed ({detail}). "
                             f"{first.message}", stage="classify", path=path,
                             raw_text=first.raw_text)
        votes = dict.fromkeys(GENRES, 0.0)
        for member, pred in preds:
            w = self.weight_of(member)
            for genre, p in member_distribution(pred).items():
                votes[genre] += w * p
        total = sum(votes.values())
        if total <= 0:  # all weights zero: fall back to an unweighted vote
            for _member, pred in preds:
                for genre, p in member_distribution(pred).items():
                    votes[genre] += p
            total = sum(votes.values()) or 1.0
        scores = {g: v / total for g, v in votes.items()}
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        winner, confidence = ranked[0]
        members = [p for _m, p in preds]
        agree = [f"{p.backend} ({p.model}) says {p.predicted_genre} at {p.confidence:.0%}"
                 for p in members]
        reasoning = "Weighted vote: " + "; ".join(agree) + "."
        if errors:
            reasoning += " Not counted: " + "; ".join(
                f"{m.name} failed ({e.reason})" for m, e in errors) + "."
        backing = [p for p in members if p.predicted_genre == winner]
        lead = max(backing, key=lambda p: p.confidence) if backing else None
        if lead is not None and lead.reasoning:
            reasoning += f" {lead.backend}: {lead.reasoning}"
        indicators: list[str] = []
        for p in backing:
            indicators += [k for k in p.key_indicators if k not in indicators]
        return Prediction(
            predicted_genre=winner,
            confidence=confidence,
            reasoning=reasoning,
            key_indicators=indicators,
            alternative_genres=[(g, s) for g, s in ranked[1:4] if s > 0],
            genre_scores=scores,
            backend=self.name,
            model=self.model,
            input_tokens=sum(p.input_tokens for p in members),
            output_tokens=sum(p.output_tokens for p in members),
            cost_usd=sum(p.cost_usd for p in members),
            latency_s=max(p.latency_s for p in members),
            api_calls=sum(p.api_calls for p in members),
            retries=sum(p.retries for p in members),
            prompt=next((p.prompt for p in members if p.prompt), ""),
            raw_response=next((p.raw_response for p in members if p.raw_response), ""),
            members=members,
            member_failures=[f"{m.name}: {e.reason}" for m, e in errors],
        )
