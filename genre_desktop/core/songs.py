"""Find songs in a folder (GTZAN layout `<genre>/<file>` or any folder) and sample them."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from genre_desktop.core.types import GENRES

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".au", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".opus"}
)
UNKNOWN = "unknown"  # stratum of songs whose folder is not a genre


@dataclass(frozen=True)
class Song:
    path: str  # absolute
    actual_genre: str | None  # the parent folder's name when it is one of GENRES

    @property
    def name(self) -> str:
        return Path(self.path).name


def genre_from_path(path: str | Path) -> str | None:
    parent = Path(path).parent.name.lower()
    return parent if parent in GENRES else None


def discover_songs(root: str | Path) -> list[Song]:
    """Every audio file under `root` (recursive, hidden entries skipped), sorted by path.

    A single file is accepted too, so one song can be classified the same way.
    """
    base = Path(root).expanduser().resolve()
    if base.is_file():
        candidates: Iterable[Path] = [base]
    elif base.is_dir():
        candidates = (
            p for p in base.rglob("*")
            if not any(part.startswith(".") for part in p.relative_to(base).parts)
        )
    else:
        raise FileNotFoundError(f"No such folder: {base}")
    songs = [
        Song(str(p), genre_from_path(p))
        for p in candidates
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
    ]
    songs.sort(key=lambda s: s.path)
    return songs


def sample_songs(songs: list[Song], per_genre: int | None, seed: int = 42) -> list[Song]:
    """A stratified random sample: up to `per_genre` songs of each genre, reproducible by seed.

    Songs of unknown genre form one stratum of their own. `per_genre` None or 0 keeps all.
    The result keeps the input's order so runs read naturally.
    """
    if not per_genre:
        return list(songs)
    strata: dict[str, list[Song]] = defaultdict(list)
    for song in songs:
        strata[song.actual_genre or UNKNOWN].append(song)
    rng = random.Random(seed)
    chosen: set[str] = set()
    for key in sorted(strata):  # sorted: the same seed picks the same songs on every machine
        group = strata[key]
        picked = group if len(group) <= per_genre else rng.sample(group, per_genre)
        chosen.update(s.path for s in picked)
    return [s for s in songs if s.path in chosen]
