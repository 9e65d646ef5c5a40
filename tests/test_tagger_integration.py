"""The tagger through the product: `reference build`, the pool and cache, tagged_songs.json tags,
the prompt's description and embedding-space examples."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import require

from genre_desktop.cli import main
from genre_desktop.core import tagger
from genre_desktop.core.cache import FeatureCache
from genre_desktop.core.features import EXTRACTOR_VERSION, cache_settings, extract_many
from genre_desktop.core.prompt import build_prompt
from genre_desktop.core.reference import load_reference, tagger_table_path
from genre_desktop.core.results import SongResult
from genre_desktop.core.types import Prediction, SongFeatures

pytestmark = pytest.mark.slow

CLIPS = ("blues/blues.00004.wav", "rock/rock.00004.wav", "jazz/jazz.00004.wav")


@pytest.fixture(scope="module")
def installed() -> None:
    require(tagger.available(), "musicnn weights missing: pip install --no-deps musicnn==0.1.0")


@pytest.fixture(scope="module")
def tree(gtzan_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labelled")
    for rel in CLIPS:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(gtzan_dir / "genres" / rel, root / rel)
    return root


def test_reference_build_writes_features_and_tagger_output(installed, tree: Path,
                                                           tmp_path: Path, capsys) -> None:
    out = tmp_path / "ref.csv"
    assert main(["reference", "build", str(tree), "-o", str(out), "--workers", "1",
                 "--quiet"]) == 0
    table = load_reference(out)
    assert table.has_tagger and len(table) == 3
    assert sorted(table.labels) == ["blues", "jazz", "rock"]
    tags = table.tagger_matrix("tags")
    assert ((tags > 0) & (tags < 1)).all() and table.tagger_matrix("embeddings").std() > 0
    # every song went through the feature cache with its tagger output in its own rows
    with FeatureCache() as cache:
        hits = [r for _, r in extract_many([str(tree / c) for c in CLIPS], workers=1)]
        assert all(isinstance(h, SongFeatures) and h.tagger for h in hits)
        row = cache._payload(hits[0].content_hash, tagger.TAGGER_VERSION,
                             cache_settings(120.0, 30.0))
        assert row and len(row["msd_embedding"]) == 200
        assert cache._payload(hits[0].content_hash, EXTRACTOR_VERSION,
                              cache_settings(120.0, 30.0))["tagger"] == {}
    assert main(["reference", "build", str(tree / "blues"), "-o", str(out)]) == 2
    assert "two label folders" in capsys.readouterr().err


def test_tags_reach_tagged_songs_json() -> None:
    p = Prediction("blues", 0.7, "r", [], [], {}, "local", "m",
                   tags=[("blues", 0.61), ("guitar", 0.4)])
    entry = SongResult("/x/blues/a.wav", "blues", prediction=p).tagged()
    assert entry["tags"] == [{"tag": "blues", "probability": 0.61},
                             {"tag": "guitar", "probability": 0.4}]
    json.dumps(entry)


def test_prompt_says_what_the_tagger_hears_and_picks_examples_by_embedding(
        installed, gtzan_dir: Path) -> None:
    path = tagger_table_path()
    require(path.is_file(), f"{path} missing")
    ref = load_reference(path)
    song_path = gtzan_dir / "genres" / "rock" / "rock.00002.wav"
    [(_, song)] = list(extract_many([str(song_path)], workers=1, use_cache=False))
    assert isinstance(song, SongFeatures) and song.tagger
    msgs = build_prompt(song.features, load_reference(), tagger=song.tagger)
    text = msgs.full_text
    assert "pretrained music tagger hears" in text
    top = tagger.top_tags(song.tagger, 3)
    assert all(name in text for name, _ in top)
    # examples come from the tagger reference, never the song itself
    assert msgs.examples and set(msgs.examples) <= set(ref.filenames)
    assert "rock.00002.wav" not in msgs.examples
    for fragment in (str(song_path), song_path.name, song_path.stem, "genres/", ".wav"):
        assert fragment not in text
    assert not re.search(r"\d{5,}", text)
    plain = build_prompt(song.features, load_reference())
    assert "tagger" not in plain.full_text and plain.examples != msgs.examples


def test_details_pane_lists_the_tags() -> None:
    from genre_desktop.app.results import details_html

    p = Prediction("jazz", 0.6, "r", [], [], {}, "local", "m",
                   tags=[("jazz", 0.55), ("piano", 0.3)])
    html = details_html(SongResult("/x/jazz/a.wav", "jazz", prediction=p))
    assert "<b>Tags</b>: jazz (0.55), piano (0.30)" in html
