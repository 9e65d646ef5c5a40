"""The 58 GTZAN features of the Kaggle table, faithful to it and fast.

The table was made with librosa defaults on 22,050 Hz mono audio: each librosa.feature call on
its own, librosa.effects.hpss for the harmonic/percussive waveforms and librosa.beat.beat_track
for the tempo (see `genre_desktop.core._plain_recipe`). This module computes the same numbers
from one shared STFT, with an exact faster median filter inside HPSS, and skips the beat
tracker's dynamic programme (the tempo comes before it and is all the table keeps).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from genre_desktop.core.resources import cache_dir

# numba compiles librosa's kernels on first use; keeping the compiled code in a writable cache
# folder (a frozen app's own folder is read-only) saves seconds on every later start.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))

from genre_desktop.core.audio import AudioLoadError, load_audio
from genre_desktop.core.types import FEATURE_COLUMNS, Features


def _librosa_version() -> str:
    try:
        return version("librosa")
    except PackageNotFoundError:  # frozen builds may lack the metadata
        import librosa

        return str(librosa.__version__)


# Bump the leading number whenever the numbers this module produces may change.
EXTRACTOR_VERSION = f"1/librosa-{_librosa_version()}"
DEFAULT_MAX_SECONDS = 600.0
SR = 22050
N_FFT = 2048
HOP = 512


def _mean_var(out: Features, name: str, values: np.ndarray) -> None:
    out[f"{name}_mean"] = float(np.mean(values))
    out[f"{name}_var"] = float(np.var(values))


def features_from_signal(y: np.ndarray, sr: int = SR) -> Features:
    """The 58 columns, in FEATURE_COLUMNS order, for mono float32 samples `y` at `sr`."""
    import librosa

    from genre_desktop.core._fast_hpss import hpss_waveforms

    y = np.ascontiguousarray(y, dtype=np.float32)
    D = librosa.stft(y, n_fft=N_FFT, hop_length=HOP)
    mag = np.abs(D)
    power = mag**2

    out: Features = {"length": float(len(y))}
    tuning = librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12)
    _mean_var(out, "chroma_stft", librosa.feature.chroma_stft(S=power, sr=sr, tuning=tuning))
    _mean_var(out, "rms", librosa.feature.rms(y=y))
    centroid = librosa.feature.spectral_centroid(S=mag, sr=sr)
    _mean_var(out, "spectral_centroid", centroid)
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=sr, centroid=centroid)
    _mean_var(out, "spectral_bandwidth", bandwidth)
    _mean_var(out, "rolloff", librosa.feature.spectral_rolloff(S=mag, sr=sr))
    _mean_var(out, "zero_crossing_rate", librosa.feature.zero_crossing_rate(y))

    y_harm, y_perc = hpss_waveforms(y, D, mag, n_fft=N_FFT, hop_length=HOP)
    _mean_var(out, "harmony", y_harm)
    _mean_var(out, "perceptr", y_perc)

    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr))
    # beat_track's onset envelope: the same mel spectrogram, aggregated by the median.
    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr, aggregate=np.median)
    if onset_env.any():
        tempo = librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=HOP)
        out["tempo"] = float(np.atleast_1d(tempo)[0])
    else:
        out["tempo"] = 0.0  # beat_track's answer for silence

    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
    for i in range(20):
        _mean_var(out, f"mfcc{i + 1}", mfcc[i])
    return {name: out[name] for name in FEATURE_COLUMNS}


def extract_features(path: str | os.PathLike[str]) -> Features:
    """The 58 columns for an audio file (its first DEFAULT_MAX_SECONDS); raises AudioLoadError."""
    audio = load_audio(path, sr=SR, max_seconds=DEFAULT_MAX_SECONDS)
    return features_from_signal(audio.y, audio.sr)


__all__ = [
    "DEFAULT_MAX_SECONDS",
    "EXTRACTOR_VERSION",
    "AudioLoadError",
    "extract_features",
    "features_from_signal",
]
