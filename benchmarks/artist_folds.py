"""Artist-separated folds for the benchmarks, from tests/data/gtzan_artists.tsv.

That file maps every GTZAN track to its performing artist (Sturm 2012) and to the
artist-filtered train/valid/test split of Kereliuk, Sturm & Larsen (2015); its header names
both sources. A track of unknown artist, or a file the map does not know (a user's own table),
is a group of its own.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

ARTISTS_TSV = Path(__file__).resolve().parents[1] / "tests" / "data" / "gtzan_artists.tsv"


@lru_cache(maxsize=1)
def load_artists(path: Path = ARTISTS_TSV) -> dict[str, tuple[str, str]]:
    """file name -> (artist or "", filtered split "train"/"valid"/"test" or "")."""
    with open(path, newline="", encoding="utf-8") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        return {r["file"]: (r["artist"].strip(), r["filtered_split"].strip())
                for r in csv.DictReader(lines, delimiter="\t")}


def artist_groups(filenames: Iterable[str]) -> np.ndarray:
    """One group per artist (across genres: an artist is an artist), else one per file."""
    known = load_artists()
    out = []
    for name in filenames:
        artist = known.get(str(name), ("", ""))[0]
        out.append(f"artist:{artist.casefold()}" if artist else f"file:{name}")
    return np.asarray(out)


def filtered_split(filenames: Iterable[str]) -> np.ndarray:
    """Each file's fold in the artist-filtered split ("" when the split leaves it out)."""
    known = load_artists()
    return np.asarray([known.get(str(n), ("", ""))[1] for n in filenames])


def leave_one_artist_out(filenames: Sequence[str]) -> list[np.ndarray]:
    """Row indices of each artist group, in order of first appearance: one test fold each."""
    groups = artist_groups(filenames)
    order = list(dict.fromkeys(groups))
    return [np.flatnonzero(groups == g) for g in order]
