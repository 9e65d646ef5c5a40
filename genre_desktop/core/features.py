"""The 58 GTZAN features of the Kaggle table, faithful to it and fast.

The table was made with the librosa defaults of its time (< 0.10) on 22,050 Hz mono audio: each
librosa.feature call on its own, librosa.effects.hpss for the harmonic/percussive waveforms and
librosa.beat.beat_track for the tempo (`genre_desktop.core._plain_recipe` spells it out, with
the two old defaults that matter: reflect padding and HPSS's zero-padded tail). This module
computes the same numbers from one shared STFT, with an exact faster median filter inside
HPSS, and skips the beat tracker's dynamic programme (the tempo comes before it and is all the
table keeps).
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from genre_desktop.core.audio import AudioLoadError, load_audio
from genre_desktop.core.cache import FeatureCache, file_sha256
from genre_desktop.core.numba_setup import ensure_librosa, numba_cache_dir
from genre_desktop.core.types import (
    FEATURE_COLUMNS,
    Features,
    SignalKind,
    SongError,
    SongFeatures,
)


def _librosa_version() -> str:
    try:
        return version("librosa")
    except PackageNotFoundError:  # frozen builds may lack the metadata
        import librosa

        return str(librosa.__version__)


# Bump the leading number whenever the numbers this module produces may change.
EXTRACTOR_VERSION = f"2/librosa-{_librosa_version()}"
DEFAULT_MAX_SECONDS = 600.0
SR = 22050
N_FFT = 2048
HOP = 512
PAD = "reflect"  # librosa < 0.10 centred frames this way, and the table with it


def _prepare_numba_cache() -> None:
    """Point numba at our cache folder before it is imported (see numba_setup)."""
    numba_cache_dir()


def _mean_var(out: Features, name: str, values: np.ndarray) -> None:
    out[f"{name}_mean"] = float(np.mean(values))
    out[f"{name}_var"] = float(np.var(values))


# Signals longer than two blocks are analysed block by block (~30 s, a whole number of hops so
# frames fall where the whole-signal frames would): a 600 s STFT with its magnitude, power and
# HPSS masks took 1.2 GiB. Shorter ones (every 30 s clip of the table) are analysed whole.
BLOCK = 1292 * HOP
LONG = 2 * BLOCK


def features_from_signal(y: np.ndarray, sr: int = SR) -> Features:
    """The 58 columns, in FEATURE_COLUMNS order, for mono float32 samples `y` at `sr`."""
    ensure_librosa()  # loaded before the BLAS libraries are looked up; kernels compiled safely

    analyse = _features if len(y) <= LONG else _blockwise_features
    controller = _blas_controller()
    if controller is None:
        return analyse(y, sr)
    # The matrix products here are small: BLAS threads only cost time, a lot of it on a busy
    # machine (measured 2x slower overall), and pool workers already fill the cores.
    with controller.limit(limits=1, user_api="blas"):
        return analyse(y, sr)


def _blockwise_features(y: np.ndarray, sr: int) -> Features:
    """A long signal's features from its blocks: means and variances pooled over every frame
    (or sample, for the harmonic/percussive waveforms) of all blocks; the tempo from the
    blocks' onset envelopes joined. Each block's arrays are freed before the next."""
    starts = list(range(0, len(y), BLOCK))
    if len(y) - starts[-1] < BLOCK // 2:  # a short tail joins the block before it
        starts.pop()
    bounds = list(zip(starts, [*starts[1:], len(y)], strict=True))
    parts: list[tuple[Features, int, int]] = []
    onsets: list[np.ndarray] = []
    for a, b in bounds:
        feats = _features(y[a:b], sr, onsets)
        parts.append((feats, 1 + (b - a) // HOP, b - a))
    out: Features = {"length": float(len(y))}
    names = {c[: -len("_mean")] for c in FEATURE_COLUMNS if c.endswith("_mean")}
    for name in names:
        by_samples = name in ("harmony", "perceptr")
        n = np.array([p[2] if by_samples else p[1] for p in parts], dtype=np.float64)
        means = np.array([p[0][f"{name}_mean"] for p in parts])
        variances = np.array([p[0][f"{name}_var"] for p in parts])
        mean = float(np.sum(n * means) / n.sum())
        out[f"{name}_mean"] = mean
        out[f"{name}_var"] = float(np.sum(n * (variances + (means - mean) ** 2)) / n.sum())
    from genre_desktop.core import _fast_spectral as fast

    onset_env = np.concatenate(onsets)
    out["tempo"] = fast.tempo(onset_env, sr, HOP) if onset_env.any() else 0.0
    return {name: out[name] for name in FEATURE_COLUMNS}


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional (scikit-learn brings it): without it BLAS keeps its threads
        return None
    return ThreadpoolController()


def _features(y: np.ndarray, sr: int, onsets: list[np.ndarray] | None = None) -> Features:
    import librosa

    from genre_desktop.core import _fast_spectral as fast
    from genre_desktop.core._fast_hpss import hpss_waveforms

    y = np.ascontiguousarray(y, dtype=np.float32)
    D = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, pad_mode=PAD)
    mag = np.abs(D)
    power = mag * mag

    out: Features = {"length": float(len(y))}
    tuning = fast.estimate_tuning(power, sr, N_FFT)
    _mean_var(out, "chroma_stft", fast.chroma_stft(power, sr, tuning))
    mel_db = librosa.power_to_db(fast.melspectrogram(power, sr))
    del power  # long files: keep the peak memory down before HPSS
    _mean_var(out, "rms", fast.rms(y, N_FFT, HOP))
    centroid, bandwidth, rolloff = fast.spectral_shape(mag, sr)
    _mean_var(out, "spectral_centroid", centroid)
    _mean_var(out, "spectral_bandwidth", bandwidth)
    _mean_var(out, "rolloff", rolloff)
    _mean_var(out, "zero_crossing_rate", fast.zero_crossing_rate(y, N_FFT, HOP))

    # beat_track's onset envelope: the same mel spectrogram, aggregated by the median.
    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr, aggregate=np.median)
    # beat_track answers 0 for silence; otherwise its tempo comes before the beat tracking.
    out["tempo"] = fast.tempo(onset_env, sr, HOP) if onset_env.any() else 0.0
    if onsets is not None:  # a block of a long signal: its tempo is found over all blocks
        onsets.append(onset_env)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
    for i in range(20):
        _mean_var(out, f"mfcc{i + 1}", mfcc[i])

    # Last, as it consumes D (masked in place) and mag.
    y_harm, y_perc = hpss_waveforms(y, D, mag, n_fft=N_FFT, hop_length=HOP)
    del D, mag
    _mean_var(out, "harmony", y_harm)
    _mean_var(out, "perceptr", y_perc)
    return {name: out[name] for name in FEATURE_COLUMNS}


def extract_features(path: str | os.PathLike[str]) -> Features:
    """The 58 columns for an audio file (its first DEFAULT_MAX_SECONDS); raises AudioLoadError."""
    audio = load_audio(path, sr=SR, max_seconds=DEFAULT_MAX_SECONDS)
    return features_from_signal(audio.y, audio.sr)


def window_features(y: np.ndarray, sr: int, window_s: float) -> list[Features]:
    """Features of consecutive `window_s` windows (a last part of half a window or more counts)."""
    size = round(window_s * sr)
    if size <= 0 or len(y) <= 1.5 * size:
        return []
    starts = list(range(0, len(y) - size + 1, size))
    rest = len(y) - (starts[-1] + size)
    if rest >= size // 2:
        starts.append(len(y) - rest)
    return [features_from_signal(y[s : s + size], sr) for s in starts]


def tagger_version() -> str | None:
    """The tagger's cache version when its weights are installed, else None (no tagger)."""
    from genre_desktop.core import tagger

    return tagger.TAGGER_VERSION if tagger.available() else None


def tag_song(y: np.ndarray, sr: int) -> dict[str, list[float]]:
    """The tagger's output for a song ({} without the weights), one BLAS thread like the rest."""
    from genre_desktop.core import tagger

    if not tagger.available():
        return {}
    controller = _blas_controller()
    if controller is None:
        return tagger.tag_signal(y, sr)
    with controller.limit(limits=1, user_api="blas"):
        return tagger.tag_signal(y, sr)


_SIGNAL_WARNINGS = {
    "silence": "warning: the audio is (digital) silence; its genre means nothing",
    "noise": "warning: the audio sounds like white noise, not music; its genre means nothing",
}


def signal_kind(y: np.ndarray, feats: Features) -> SignalKind:
    """'silence' (peak under -60 dBFS), 'noise' (white-noise-like), else 'music'.

    White noise at 22,050 Hz crosses zero every other sample (rate 0.5) with its centroid
    near 5.5 kHz; no clip of the Kaggle table goes past 0.28 and 4.5 kHz.
    """
    if y.size == 0 or float(np.max(np.abs(y))) < 1e-3:
        return "silence"
    if feats["zero_crossing_rate_mean"] > 0.4 and feats["spectral_centroid_mean"] > 5000:
        return "noise"
    return "music"


def cache_settings(max_seconds: float | None, window_s: float) -> str:
    """The extraction settings that change a result, as part of its cache key."""
    return f"sr={SR};max={max_seconds};win={window_s}"


def _content_hash(path: str) -> str:
    try:
        # Only regular files: reading a FIFO (or a device) to hash it would wait for ever.
        if not stat.S_ISREG(os.stat(path).st_mode):
            return ""
        return file_sha256(path)
    except OSError:
        return ""  # missing, a folder, unreadable: load_audio says which


def extract_song(
    path: str | os.PathLike[str],
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    window_s: float = 30.0,
    use_cache: bool = True,
    content_hash: str | None = None,
) -> SongFeatures | SongError:
    """Features of one file, or an error value: never raises for a bad file."""
    spath = os.fspath(path)
    digest = _content_hash(spath) if content_hash is None else content_hash
    settings = cache_settings(max_seconds, window_s)
    tagger = tagger_version()
    if use_cache and digest:
        with FeatureCache() as cache:
            hit = cache.get(digest, EXTRACTOR_VERSION, settings, tagger)
        if hit is not None:
            hit.path = spath
            return hit
    try:
        audio = load_audio(spath, sr=SR, max_seconds=max_seconds)
        feats = features_from_signal(audio.y, audio.sr)
        kind = signal_kind(audio.y, feats)
        song = SongFeatures(
            path=spath,
            features=feats,
            duration_s=audio.duration_s,
            analysed_s=audio.analysed_s,
            limited=audio.limited,
            windows=window_features(audio.y, audio.sr, window_s),
            content_hash=digest,
            tagger=tag_song(audio.y, audio.sr),
            note="; ".join(n for n in (
                f"analysed the first {audio.analysed_s:.0f} s of {audio.duration_s:.0f} s"
                if audio.limited else "",
                _SIGNAL_WARNINGS.get(kind, "")) if n),
            signal=kind,
        )
    except AudioLoadError as exc:
        return SongError(reason=exc.reason, message=exc.message, stage="features", path=spath)
    except MemoryError:
        return SongError(
            reason="too_large",
            message=f"{Path(spath).name} is too large to analyse in memory.",
            path=spath,
        )
    except Exception as exc:  # a batch must go on whatever one file does to librosa
        return SongError(
            reason="extraction_failed",
            message=f"Feature extraction failed for {Path(spath).name}: {type(exc).__name__}.",
            path=spath,
        )
    if use_cache and digest:
        with FeatureCache() as cache:
            cache.put(song, EXTRACTOR_VERSION, settings, tagger)
    return song


def __getattr__(name: str) -> Any:
    """`features.extract_many`, kept for callers: it lives in _feature_batch, which builds on
    this module (batch -> single song), so this module never imports it at load time."""
    if name == "extract_many":
        import importlib

        return importlib.import_module("genre_desktop.core._feature_batch").extract_many
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_SECONDS",
    "EXTRACTOR_VERSION",
    "AudioLoadError",
    "extract_features",
    "extract_song",
    "features_from_signal",
]
