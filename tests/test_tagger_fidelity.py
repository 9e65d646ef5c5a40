"""The numpy musicnn equals musicnn's own TensorFlow extractor on the 50 shared clips.

tests/data/musicnn_reference.npz was made once by benchmarks/musicnn_tf.py (musicnn 0.1.0 on
tensorflow-cpu 2.21, float16 overflow fixed) from the shared clips: per clip, both models' tag
probabilities and penultimate embeddings averaged over the 3 s patches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, require

from genre_desktop.core import tagger
from genre_desktop.core.audio import load_audio
from genre_desktop.core.tagger.checkpoint import CheckpointError, read_index

REFERENCE = REPO / "tests" / "data" / "musicnn_reference.npz"


@pytest.fixture(scope="module")
def weights() -> Path:
    folder = tagger.weights_dir()
    require(folder is not None, "musicnn weights missing: pip install --no-deps musicnn==0.1.0")
    assert folder is not None
    return folder


def test_checkpoint_index_lists_every_layer(weights: Path) -> None:
    entries = read_index(weights / "MSD_musicnn" / ".index")
    assert entries["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert entries["dense_1/kernel"].shape == (200, 50)
    assert sum(1 for n in entries if n.endswith("moving_mean")) == 11


def test_a_file_that_is_not_an_index_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.index"
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError):
        read_index(bad)


def test_equal_to_musicnn_on_the_shared_clips(weights: Path, gtzan_dir: Path) -> None:
    ref = np.load(REFERENCE)
    files = {p.name: p for p in (gtzan_dir / "genres").rglob("*.wav")}
    names = [str(n) for n in ref["names"]]
    require(set(names) <= set(files), "the shared clips are not all there")
    assert len(names) == 50
    worst = {k: 0.0 for k in ("msd_tags", "mtt_tags", "msd_embedding", "mtt_embedding")}
    for i, name in enumerate(names):
        audio = load_audio(files[name], sr=22050)  # as the app loads a song
        out = tagger.tag_signal(audio.y, audio.sr)
        for key in worst:
            model = "MSD_musicnn" if key.startswith("msd") else "MTT_musicnn"
            want = ref[f"{model}_{key.split('_', 1)[1]}"][i]
            worst[key] = max(worst[key], float(np.abs(np.asarray(out[key]) - want).max()))
    assert worst["msd_tags"] <= 1e-3 and worst["mtt_tags"] <= 1e-3, worst
    assert worst["msd_embedding"] <= 1e-3 and worst["mtt_embedding"] <= 1e-3, worst
