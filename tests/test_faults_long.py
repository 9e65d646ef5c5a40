"""Long files are analysed in blocks (issue 11): bounded memory, the same numbers as whole.

A 3-minute 44.1 kHz stereo WAV (ffmpeg, from a real clip). Analysed whole, its STFT, masks and
tempogram alone took ~1 MiB per 0.6 s of audio (1.27 GiB for 600 s); block by block the peak
stays near that of one 30 s clip. The 30 s clips of the table are still analysed whole
(tests/test_features_fidelity.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from genre_desktop.core import features
from genre_desktop.core.audio import load_audio
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import FEATURE_COLUMNS

_CHILD = """
import json, resource, sys
import numpy as np
from genre_desktop.core import features
features.features_from_signal(np.zeros(22050 * 30, dtype=np.float32))  # warm: a 30 s clip
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
song = features.extract_song(sys.argv[1], use_cache=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ok": hasattr(song, "features"), "extra_mib": (after - before) / 1024}))
"""


@pytest.fixture(scope="module")
def three_minutes(gtzan_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "three_minutes.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "6", "-i",
                    str(gtzan_dir / "genres" / "jazz" / "jazz.00000.wav"), "-ac", "2", "-ar",
                    "44100", "-t", "180", str(path)], check=True)
    return path


def test_a_long_file_costs_little_more_memory_than_a_clip(three_minutes):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(three_minutes)],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["ok"]
    # Whole, this file took ~290 MiB more than a 30 s clip; in blocks well under 150.
    assert result["extra_mib"] < 150, result


def test_blocks_give_the_whole_signal_numbers(three_minutes):
    y = load_audio(three_minutes, sr=features.SR).y
    assert len(y) > features.LONG
    blocks = features.features_from_signal(y)
    whole = features._features(y, features.SR)
    std = load_reference().frame.loc[:, list(FEATURE_COLUMNS)].std()
    worst = max((abs(blocks[c] - whole[c]) / std[c], c) for c in FEATURE_COLUMNS)
    # In standard deviations of the table's columns: block edges and each block's own 80 dB
    # floor of the mel spectrogram move a few values by a few hundredths of one.
    assert worst[0] < 0.05, worst
    assert blocks["length"] == whole["length"] and blocks["tempo"] == whole["tempo"]


def test_long_44k_files_are_resampled_in_blocks_as_whole(three_minutes):
    import soundfile as sf

    from genre_desktop.core import audio

    streamed = load_audio(three_minutes, sr=features.SR).y
    data, sr = sf.read(three_minutes, dtype="float32", always_2d=True)
    import librosa

    whole = librosa.resample(data.mean(axis=1, dtype=np.float32), orig_sr=sr,
                             target_sr=features.SR)
    assert len(streamed) == len(whole)
    assert np.max(np.abs(streamed - whole)) < 1e-4
    assert audio.LONG_S < 180
