"""The labelled reference table (Kaggle features_30_sec.csv or a user's own with the same columns)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from genre_desktop.core.resources import resource
from genre_desktop.core.types import FEATURE_COLUMNS

DEFAULT_TABLE = "features_30_sec.csv"


class ReferenceError(ValueError):
    """The table cannot serve as a reference (missing columns, no labels, unreadable)."""


@dataclass(frozen=True)
class ReferenceTable:
    frame: pd.DataFrame  # columns: filename, the 58 features, label
    source: Path
    digest: str  # sha256 of the file bytes: keys caches of anything trained on it

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - the usual name for a feature matrix
        return self.frame.loc[:, list(FEATURE_COLUMNS)].to_numpy(dtype=float)

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=str)

    @property
    def filenames(self) -> np.ndarray:
        return self.frame["filename"].to_numpy(dtype=str)

    def __len__(self) -> int:
        return len(self.frame)


def default_table_path() -> Path:
    return resource(DEFAULT_TABLE)


@lru_cache(maxsize=4)
def load_reference(path: str | Path | None = None) -> ReferenceTable:
    """Load and validate a reference table; the shipped Kaggle table when `path` is None."""
    source = Path(path) if path is not None else default_table_path()
    try:
        raw = source.read_bytes()
        frame = pd.read_csv(source)
    except (OSError, ValueError) as exc:
        raise ReferenceError(f"Cannot read the reference table {source.name}: {exc}") from exc
    missing = [c for c in ("filename", *FEATURE_COLUMNS, "label") if c not in frame.columns]
    if missing:
        raise ReferenceError(
            f"The reference table {source.name} lacks {len(missing)} column(s): "
            + ", ".join(missing[:5])
        )
    frame = frame.dropna(subset=["label", *FEATURE_COLUMNS]).reset_index(drop=True)
    if frame.empty:
        raise ReferenceError(f"The reference table {source.name} has no labelled rows.")
    frame = frame.loc[:, ["filename", *FEATURE_COLUMNS, "label"]]
    return ReferenceTable(frame=frame, source=source, digest=hashlib.sha256(raw).hexdigest())
