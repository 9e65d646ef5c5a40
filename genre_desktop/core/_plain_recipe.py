"""The plain librosa recipe behind the Kaggle table: each call on its own, from the samples.

The table was computed with librosa < 0.10, whose defaults differ from today's in two ways
that matter; with them restored every column of every full clip agrees to float rounding:
- frames were centred with *reflect* padding (today: zeros), for the STFT and for rms;
- effects.hpss inverted the STFTs without `length` and zero-padded the tail to len(y).
It is the reference the fast extractor is checked and timed against (tests and benchmarks).
"""

from __future__ import annotations

import numpy as np

from genre_desktop.core.numba_setup import ensure_librosa
from genre_desktop.core.types import FEATURE_COLUMNS, Features

PAD = "reflect"  # librosa < 0.10 default pad_mode


def hpss_then(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa.effects.hpss(y) as librosa < 0.10 computed it."""
    librosa = ensure_librosa()

    harm, perc = librosa.decompose.hpss(librosa.stft(y, pad_mode=PAD))
    return (
        librosa.util.fix_length(librosa.istft(harm, dtype=y.dtype), size=len(y)),
        librosa.util.fix_length(librosa.istft(perc, dtype=y.dtype), size=len(y)),
    )


def plain_features(y: np.ndarray, sr: int = 22050) -> Features:
    """The 58 columns as the table computed them: librosa defaults of the time, nothing shared."""
    librosa = ensure_librosa()

    out: Features = {"length": float(len(y))}

    def mean_var(name: str, values: np.ndarray) -> None:
        out[f"{name}_mean"] = float(np.mean(values))
        out[f"{name}_var"] = float(np.var(values))

    mean_var("chroma_stft", librosa.feature.chroma_stft(y=y, sr=sr, pad_mode=PAD))
    mean_var("rms", librosa.feature.rms(y=y, pad_mode=PAD))
    mean_var("spectral_centroid", librosa.feature.spectral_centroid(y=y, sr=sr, pad_mode=PAD))
    mean_var("spectral_bandwidth", librosa.feature.spectral_bandwidth(y=y, sr=sr, pad_mode=PAD))
    mean_var("rolloff", librosa.feature.spectral_rolloff(y=y, sr=sr, pad_mode=PAD))
    mean_var("zero_crossing_rate", librosa.feature.zero_crossing_rate(y))
    harmony, perceptr = hpss_then(y)
    mean_var("harmony", harmony)
    mean_var("perceptr", perceptr)
    # beat_track's own onset envelope, only with the padding of the time.
    onset_env = librosa.onset.onset_strength(y=y, sr=sr, aggregate=np.median, pad_mode=PAD)
    tempo, _beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr)
    out["tempo"] = float(np.atleast_1d(tempo)[0])
    mfcc = librosa.feature.mfcc(y=y, sr=sr, pad_mode=PAD)
    for i in range(20):
        mean_var(f"mfcc{i + 1}", mfcc[i])
    return {name: out[name] for name in FEATURE_COLUMNS}
