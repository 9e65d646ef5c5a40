"""Features of shared clips for the reference/describe/prompt tests, extracted once per session."""

from __future__ import annotations

from functools import cache

import numpy as np

from genre_desktop.core.reference import ReferenceTable
from genre_desktop.core.types import FEATURE_COLUMNS, GENRES


@cache
def clip_features(path: str) -> dict[str, float]:
    from genre_desktop.core.features import extract_features

    return dict(extract_features(path))


def extractor_available() -> bool:
    try:
        from genre_desktop.core.features import extract_features  # noqa: F401
    except ImportError:
        return False
    return True


# One clip per genre, alternating full 30 s clips (id 00000) and 15-20 s excerpts (id 00003):
# both kinds of song, while keeping extraction to about ten seconds per session.
SAMPLE_FILES: tuple[str, ...] = tuple(
    f"{genre}.{'00000' if i % 2 == 0 else '00003'}.wav" for i, genre in enumerate(GENRES)
)


def sample_clips(manifest: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in manifest if r["file"].rsplit("/", 1)[-1] in SAMPLE_FILES]


def row(table: ReferenceTable, filename: str) -> dict[str, float]:
    """The features of one reference-table row, by its file name."""
    index = int(np.flatnonzero(table.filenames == filename)[0])
    return {c: float(table.frame.loc[index, c]) for c in FEATURE_COLUMNS}
