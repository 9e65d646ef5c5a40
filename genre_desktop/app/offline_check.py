"""Test the offline model from the settings dialog: no credentials, no Bedrock, no retries.

The same rows as the Bedrock setup check (step, PASS | FAIL | SKIP, detail) so the dialog shows
them alike; runs on a worker thread (building the model may train it on first use).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

StepRow = tuple[str, str, str]


def run_offline_check(choice: Any, on_step: Callable[[StepRow], None] | None = None
                      ) -> list[StepRow]:
    """Features of a synthetic clip, then one answer from the offline model."""
    from genre_desktop.app.core_calls import core_settings
    from genre_desktop.core.setupcheck import synthetic_clip

    rows: list[StepRow] = []

    def record(name: str, status: str, detail: str) -> None:
        rows.append((name, status, detail))
        if on_step is not None:
            on_step((name, status, detail))

    features = None
    started = time.monotonic()
    try:
        from genre_desktop.core.features import features_from_signal

        y, sr = synthetic_clip()
        features = features_from_signal(y, sr)
        record("feature_extraction", "PASS",
               f"{len(features)} features from a 30 s test signal "
               f"({time.monotonic() - started:.1f} s).")
    except Exception as exc:
        record("feature_extraction", "FAIL", f"{type(exc).__name__}: {exc} Hint: reinstall "
               "the app if librosa fails to import.")

    started = time.monotonic()
    try:
        from genre_desktop.core.runs import build_backend

        backend = build_backend(core_settings(choice).replace(backend="local"))
        trained = getattr(backend, "trained", None)
        if trained is not None:
            trained()  # trains (or loads) it now, so this step shows the time it takes
        record("offline_model", "PASS",
               f"Offline model ready ({time.monotonic() - started:.1f} s).")
    except Exception as exc:
        record("offline_model", "FAIL", f"{exc} Hint: the reference table in resources/ may "
               "be missing; reinstall.")
        backend = None

    if features is None or backend is None:
        record("answer", "SKIP", "Needs features and the model.")
        return rows
    from genre_desktop.core.types import SongError, SongFeatures

    started = time.monotonic()
    song = SongFeatures(path="", features=features, duration_s=30.0, analysed_s=30.0)
    answer = backend.classify(song)
    if isinstance(answer, SongError):
        record("answer", "FAIL", f"{answer.reason}: {answer.message}")
    else:
        record("answer", "PASS",
               f"The offline model answered {answer.predicted_genre} "
               f"({answer.confidence:.0%}) in {time.monotonic() - started:.2f} s; no AWS "
               "account needed.")
    return rows
