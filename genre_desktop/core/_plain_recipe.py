"""The plain librosa recipe behind the Kaggle table: each call on its own, from the samples.

It is the reference the fast extractor is checked and timed against (tests and benchmarks).
"""

from __future__ import annotations

import numpy as np

from genre_desktop.core.types import FEATURE_COLUMNS, Features


def plain_features(y: np.ndarray, sr: int = 22050) -> Features:
    """The 58 columns as the table computed them: librosa defaults, nothing shared."""
    import librosa

    out: Features = {"length": float(len(y))}

    def mean_var(name: str, values: np.ndarray) -> None:
        out[f"{name}_mean"] = float(np.mean(values))
        out[f"{name}_var"] = float(np.var(values))

    mean_var("chroma_stft", librosa.feature.chroma_stft(y=y, sr=sr))
    mean_var("rms", librosa.feature.rms(y=y))
    mean_var("spectral_centroid", librosa.feature.spectral_centroid(y=y, sr=sr))
    mean_var("spectral_bandwidth", librosa.feature.spectral_bandwidth(y=y, sr=sr))
    mean_var("rolloff", librosa.feature.spectral_rolloff(y=y, sr=sr))
    mean_var("zero_crossing_rate", librosa.feature.zero_crossing_rate(y))
    harmony, perceptr = librosa.effects.hpss(y)
    mean_var("harmony", harmony)
    mean_var("perceptr", perceptr)
    tempo, _beats = librosa.beat.beat_track(y=y, sr=sr)
    out["tempo"] = float(np.atleast_1d(tempo)[0])
    mfcc = librosa.feature.mfcc(y=y, sr=sr)
    for i in range(20):
        mean_var(f"mfcc{i + 1}", mfcc[i])
    return {name: out[name] for name in FEATURE_COLUMNS}
