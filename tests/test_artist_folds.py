"""The artist map behind the benchmarks' artist-separated folds (tests/data/gtzan_artists.tsv)."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from genre_desktop.core.reference import load_reference, tagger_table_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import artist_folds as af


def test_every_reference_row_has_an_entry_and_the_filtered_split_separates_artists() -> None:
    known = af.load_artists()
    assert len(known) == 1000
    for path in (None, tagger_table_path()):
        names = {str(n) for n in load_reference(path).filenames}
        assert names <= set(known), sorted(names - set(known))[:5]
    parts: dict[str, set[str]] = defaultdict(set)
    for artist, split in known.values():
        if artist and split:
            parts[artist.casefold()].add(split)
    assert not {a: p for a, p in parts.items() if len(p) > 1}
    assert {s for _, s in known.values()} == {"train", "valid", "test", ""}


def test_groups_are_artists_across_genres_and_unknown_files_stand_alone() -> None:
    names = ["blues.00000.wav", "blues.00004.wav", "blues.00012.wav", "country.00002.wav",
             "country.00003.wav", "jazz.00000.wav", "classical.00047.wav", "mine.wav"]
    g = af.artist_groups(names)
    assert g[0] == g[1] != g[2]  # John Lee Hooker twice, then Robert Johnson
    assert g[5] == g[6]  # Leonard Bernstein in jazz and in classical
    assert g[3] == "file:country.00002.wav" and g[7] == "file:mine.wav"  # artist unknown
    folds = af.leave_one_artist_out(names)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(names)))
    assert [0, 1] in [f.tolist() for f in folds]
