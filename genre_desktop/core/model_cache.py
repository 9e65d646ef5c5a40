"""The on-disk cache of trained offline models: one pickle per model, written atomically.

Both the 58-feature model (offline_model) and the tagger model (offline_tagger) keep their
trained estimators here, keyed by the caller (table digest, algorithm, training filter). A
missing, stale or damaged file only costs a retrain; a read-only cache only costs a retrain
next time: neither is ever fatal.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genre_desktop.core.resources import cache_dir

log = logging.getLogger(__name__)


def model_cache_dir() -> Path:
    return cache_dir() / "offline_model"


def load_model(path: Path, accept: Callable[[Any], bool], what: str = "model") -> Any | None:
    """The pickled object at `path` if `accept(obj)` says it is the wanted one, else None."""
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as exc:  # stale (old classes) or damaged: retrained, never fatal
        log.warning("ignoring unreadable %s cache %s: %s", what, path, exc)
        return None
    return obj if accept(obj) else None


def store_model(path: Path, obj: Any, what: str = "model") -> None:
    """Pickle `obj` to `path`: written to a temporary file then renamed, so that another
    process never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only or full cache only costs a retrain next time
        log.warning("cannot cache the %s at %s: %s", what, path, exc)
        if os.path.exists(tmp):
            os.unlink(tmp)
