"""Corrections teach the model: reviewed songs become rows of the user's own reference, used as
few-shot examples and offline training rows at once, never for the song itself."""

from __future__ import annotations

import pandas as pd
import pytest
from batch_helpers import prediction, result
from tag_files import make_song

from genre_desktop.core import user_reference as ur
from genre_desktop.core.features import extract_song
from genre_desktop.core.prompt import build_prompt
from genre_desktop.core.reference import default_table_path, load_reference
from genre_desktop.core.runs import build_backend
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_reviewed_songs_join_the_reference_and_teach_both_backends(tmp_path):
    a = make_song(tmp_path, "flac", name="mine-a.flac", freq=440, seconds=2.0)
    b = make_song(tmp_path, "flac", name="mine-b.flac", freq=1200, seconds=2.0)
    near_a = make_song(tmp_path, "flac", name="other.flac", freq=330, seconds=3.0)
    ra, rb = result(str(a), None, prediction("pop", 0.4)), result(str(b), None, prediction(
        "rock", 0.5))
    assert ur.with_user_rows(Settings()).reference is None  # nothing reviewed yet

    # Accepted as Hip-Hop (the display name), and a genre outside GTZAN's ten
    assert ur.learn_from_review([(ra, "Hip-Hop"), (rb, "Soul")], max_seconds=120.0) == 1
    rows = ur.load_user_rows()
    assert list(rows["filename"]) == ["mine-a.flac"] and list(rows["label"]) == ["hiphop"]
    features = extract_song(str(a), max_seconds=120.0)
    assert rows.iloc[0]["mfcc1_mean"] == pytest.approx(features.features["mfcc1_mean"])

    # Corrected later: the same file's row changes label, no second row
    assert ur.learn_from_review([(ra, "jazz")], max_seconds=120.0) == 1
    assert list(ur.load_user_rows()["label"]) == ["jazz"]

    settings = ur.with_user_rows(Settings())
    table = load_reference(settings.reference)
    assert len(table) == len(pd.read_csv(default_table_path()).dropna()) + 1
    assert "mine-a.flac" in set(table.filenames)

    # A few-shot example at once for a similar song, never for the song itself
    other = extract_song(str(near_a), max_seconds=120.0).features
    assert "mine-a.flac" in build_prompt(other, table).examples
    own = build_prompt(features.features, table, exclude_refs=frozenset({"mine-a.flac"}))
    assert "mine-a.flac" not in own.examples
    assert "mine-a.flac" not in build_prompt(features.features, table).examples  # same audio

    # Offline: the backend trains on the combined table, without the row of a song it runs on
    backend = build_backend(Settings())
    assert "mine-a.flac" in set(backend.table.filenames)
    # cross-fitted (issue 13): the model for the song itself left its row (and fold) out
    song = extract_song(str(a), max_seconds=120.0)
    assert "mine-a.flac" in build_backend(Settings(), [Song(str(a), None)]).trained(
        song).excluded
    assert ur.retrain() == backend.trained().model_id
    assert build_backend(Settings(learn_from_review=False)).table.source == default_table_path()

    # Rejected afterwards: the row goes
    assert ur.forget([str(a)]) == 1
    assert ur.with_user_rows(Settings()).reference is None
