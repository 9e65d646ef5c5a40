"""Small wording helpers shared by the window's labels (plurals, m:ss times, the run's phase)."""

from __future__ import annotations

from typing import Any


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 error', '2 errors', '0 songs' ('many' for irregular plurals)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def mmss(seconds: float | None, missing: str = "—") -> str:
    """'0:30', '12:05': song lengths, the player's position and a run's ETA (rounded, so the
    browser's Length and the player's total agree); `missing` when there is no value."""
    if seconds is None:
        return missing
    minutes, secs = divmod(max(0, round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


# What a run is doing, for events without the core's `phase_text` (older run processes).
STAGE_LABELS = {"starting": "Starting: loading the songs and the model",
                "finished": "Finished", "cancelled": "Cancelled"}


def phase_text(event: Any) -> str:
    """'Extracting 12/47 · ', 'Compiling the audio kernels (first use only) · ', or ''; no
    count when it is the songs-done count that follows it ('Extracting · 12/50 songs')."""
    text = getattr(event, "phase_text", None)
    step, steps = getattr(event, "step", 0), getattr(event, "steps", 0)
    counted = (getattr(event, "done", None), getattr(event, "total", None))
    if text and steps and (step, steps) == counted and text.endswith(f" {step}/{steps}"):
        # The line goes on with "n/N songs": 'Extracting 3/50 · 3/50 songs' said it twice.
        text = text[: -len(f" {step}/{steps}")]
    if not text:
        text = STAGE_LABELS.get(str(getattr(event, "stage", "")), "")
    return f"{text} · " if text else ""
