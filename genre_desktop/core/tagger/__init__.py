"""What a pretrained music tagger hears in a song: musicnn's MSD and MTT models, without TensorFlow.

`tag_signal(y, sr)` gives, averaged over the song's 3 s patches, 50 MSD and 50 MTT tag
probabilities and both models' 200-value penultimate embeddings. The weights are read from the
checkpoints inside the installed `musicnn` package (0.1.0, ISC licence; installed with
`pip install --no-deps` since its metadata pins TensorFlow and an old numpy) or from the frozen
app's bundle. Without them `available()` is False and callers fall back to the 58 features.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from genre_desktop.core.tagger import musicnn as _net
from genre_desktop.core.tagger.checkpoint import load_checkpoint

# Bump whenever the numbers may change: it keys the cache (features.sqlite3, its own rows).
TAGGER_VERSION = "musicnn-0.1.0/1"
MODELS = ("MSD_musicnn", "MTT_musicnn")
# At most this many 3 s patches per song (evenly spread): a 10-minute song costs as much as a
# one-minute one, and the average of 20 patches is already stable.
MAX_PATCHES = 20
PATCH_BATCH = 4  # patches per matrix product: bounded memory (~50 MB), BLAS-sized products

MSD_LABELS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)
MTT_LABELS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)
# Names of the tagger's columns in a reference table, in order.
TAG_COLUMNS: tuple[str, ...] = (*(f"msd:{t}" for t in MSD_LABELS),
                                *(f"mtt:{t}" for t in MTT_LABELS))
EMBEDDING_COLUMNS: tuple[str, ...] = (*(f"emb_msd_{i}" for i in range(200)),
                                      *(f"emb_mtt_{i}" for i in range(200)))
TAGGER_COLUMNS = TAG_COLUMNS + EMBEDDING_COLUMNS


class TaggerUnavailable(RuntimeError):
    """The musicnn weights are not installed."""


def weights_dir() -> Path | None:
    """The folder holding MSD_musicnn/ and MTT_musicnn/, or None."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen and (Path(frozen) / "musicnn" / MODELS[0]).is_dir():
        return Path(frozen) / "musicnn"
    try:  # find_spec reads no module code: musicnn's modules import TensorFlow
        spec = importlib.util.find_spec("musicnn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder if (folder / MODELS[0] / ".index").is_file() else None


def available() -> bool:
    return weights_dir() is not None


_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _model(name: str) -> _net.Musicnn:
    folder = weights_dir()
    if folder is None:
        raise TaggerUnavailable("the musicnn weights are not installed "
                                "(pip install --no-deps musicnn==0.1.0)")
    # musicnn saved its checkpoints with an empty file prefix inside each model folder
    return _net.from_checkpoint(load_checkpoint(str(folder / name) + "/"))


def _spread(batch: np.ndarray) -> np.ndarray:
    if len(batch) <= MAX_PATCHES:
        return batch
    return batch[np.linspace(0, len(batch) - 1, MAX_PATCHES).round().astype(int)]


def tag_patches(batch: np.ndarray) -> dict[str, list[float]]:
    """Tagger output averaged over log-mel patches (n, 187, 96)."""
    out: dict[str, list[float]] = {}
    for name, key in zip(MODELS, ("msd", "mtt"), strict=True):
        with _LOCK:
            model = _model(name)
        probs, embs = [], []
        for i in range(0, len(batch), PATCH_BATCH):
            p, e = _net.forward(model, batch[i:i + PATCH_BATCH])
            probs.append(p)
            embs.append(e)
        out[f"{key}_tags"] = np.concatenate(probs).mean(axis=0).astype(float).tolist()
        out[f"{key}_embedding"] = np.concatenate(embs).mean(axis=0).astype(float).tolist()
    return out


def tag_signal(y: np.ndarray, sr: int) -> dict[str, list[float]]:
    """Tags and embeddings of mono samples `y` at `sr` (TaggerUnavailable without weights)."""
    return tag_patches(_spread(_net.patches(_net.log_mel(y, sr))))


def as_row(output: dict[str, list[float]]) -> dict[str, float]:
    """Tagger output as the reference table's TAGGER_COLUMNS."""
    values = [*output["msd_tags"], *output["mtt_tags"],
              *output["msd_embedding"], *output["mtt_embedding"]]
    return dict(zip(TAGGER_COLUMNS, map(float, values), strict=True))


def top_tags(output: dict[str, list[float]], n: int = 8) -> list[tuple[str, float]]:
    """The strongest tags of both models, a label once (its higher probability), best first."""
    best: dict[str, float] = {}
    for labels, key in ((MSD_LABELS, "msd_tags"), (MTT_LABELS, "mtt_tags")):
        for label, p in zip(labels, output.get(key, ()), strict=False):
            name = label.lower()
            best[name] = max(best.get(name, 0.0), float(p))
    return sorted(best.items(), key=lambda kv: -kv[1])[:n]


__all__ = [
    "EMBEDDING_COLUMNS", "MODELS", "MSD_LABELS", "MTT_LABELS", "TAGGER_COLUMNS",
    "TAGGER_VERSION", "TAG_COLUMNS", "TaggerUnavailable", "as_row", "available", "tag_signal",
    "top_tags", "weights_dir",
]
