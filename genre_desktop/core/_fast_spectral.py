"""librosa's frame features, recomputed from one shared spectrogram with plain numpy.

Each function names the librosa call it stands for and follows its arithmetic; the tests check
them against librosa itself. They win time by sharing the STFT, caching filter banks, working
only where an answer can come from (tuning looks at 150-4000 Hz only) and keeping the long axis
contiguous.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

N_FFT = 2048
HOP = 512


@lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int = N_FFT) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft)


@lru_cache(maxsize=256)  # tuning comes in steps of 0.01
def chroma_basis(sr: int, tuning: float, n_fft: int = N_FFT) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12)


def chroma_stft(power: np.ndarray, sr: int, tuning: float) -> np.ndarray:
    """librosa.feature.chroma_stft(S=power, sr=sr, tuning=tuning)."""
    raw = chroma_basis(sr, float(tuning)) @ power
    peak = np.max(np.abs(raw), axis=0)
    peak[peak < np.finfo(raw.dtype).tiny] = 1.0  # util.normalize(norm=inf) leaves silence be
    return raw / peak


def melspectrogram(power: np.ndarray, sr: int) -> np.ndarray:
    """librosa.feature.melspectrogram(S=power, sr=sr)."""
    return mel_basis(sr, 2 * (power.shape[0] - 1)) @ power


def estimate_tuning(power: np.ndarray, sr: int, n_fft: int = N_FFT) -> float:
    """librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12), piptrack included.

    piptrack only keeps peaks between fmin=150 Hz and fmax=4000 Hz, so only those rows (and
    their neighbours) are examined; the arithmetic, float32/float64 mix included, is librosa's.
    """
    import librosa

    freqs = np.linspace(0, float(sr) / 2, 1 + n_fft // 2)
    band = np.flatnonzero((freqs >= 150.0) & (freqs < min(4000.0, float(sr) / 2)))
    if band.size == 0:
        return 0.0
    lo = max(int(band[0]), 1)
    hi = min(int(band[-1]) + 1, power.shape[0] - 1)  # rows lo..hi-1; the edges are never maxima
    S = power
    ref = 0.1 * np.max(S, axis=0)
    rows = S[lo - 1 : hi + 1]
    masked = rows * (rows > ref)
    mid, below, above = masked[1:-1], masked[:-2], masked[2:]
    peaks = (mid > below) & (mid >= above)
    k_idx, t_idx = np.nonzero(peaks)
    if k_idx.size == 0:
        return 0.0
    x_prev = rows[k_idx, t_idx]
    x0 = rows[k_idx + 1, t_idx]
    x_next = rows[k_idx + 2, t_idx]
    # The numba stencil: (x1 + x-1) in float32, 2 * x0 and the rest in float64.
    a = (x_next + x_prev).astype(np.float64) - 2 * x0.astype(np.float64)
    b = (x_next - x_prev).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a).astype(np.float32)
    avg = (x_next - x_prev) / 2.0  # np.gradient inside, float32
    mags = x0 + (0.5 * avg * shift)
    bins = k_idx + lo
    pitches = ((bins + shift) * float(sr) / n_fft).astype(np.float32)
    keep = pitches > 0
    if not keep.any():
        return 0.0
    threshold = np.median(mags[keep])
    chosen = pitches[(mags >= threshold) & keep]
    if chosen.size == 0:
        return 0.0
    return float(librosa.pitch_tuning(chosen, resolution=0.01, bins_per_octave=12))


def spectral_shape(mag: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid, bandwidth and 85% rolloff per frame, as librosa.feature.spectral_* on S=mag."""
    n_fft = 2 * (mag.shape[0] - 1)
    freqs = np.linspace(0, float(sr) / 2, 1 + n_fft // 2)
    total = mag.sum(axis=0, dtype=np.float64)
    silent = total < np.finfo(mag.dtype).tiny
    denom = np.where(silent, 1.0, total)
    m64 = mag.astype(np.float64)
    first = freqs @ m64
    second = (freqs * freqs) @ m64
    centroid = first / denom
    # sum(p * (f - c)^2) = E[f^2] - c^2 under the normalised spectrum p, in float64.
    spread = np.maximum(second / denom - centroid * centroid, 0.0)
    spread[silent] = 0.0
    bandwidth = np.sqrt(spread)
    cum = np.cumsum(mag, axis=0)  # float32 and sequential, as librosa's
    reached = cum >= (0.85 * cum[-1])
    rolloff = freqs[np.argmax(reached, axis=0)]
    return centroid, bandwidth, rolloff


def rms(y: np.ndarray, frame: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """librosa.feature.rms(y=y, pad_mode="reflect"): root mean square per centred frame."""
    padded = np.pad(y.astype(np.float64), frame // 2, mode="reflect")
    csum = np.concatenate(([0.0], np.cumsum(padded * padded)))
    n_frames = 1 + (len(padded) - frame) // hop
    starts = np.arange(n_frames) * hop
    power = (csum[starts + frame] - csum[starts]) / frame
    return np.sqrt(np.maximum(power, 0.0))


def zero_crossing_rate(y: np.ndarray, frame: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """librosa.feature.zero_crossing_rate(y): crossings per centred (edge-padded) frame."""
    padded = np.pad(y, frame // 2, mode="edge")
    padded = np.where(np.abs(padded) <= 1e-10, 0.0, padded)
    sign = np.signbit(padded)
    cross = np.empty(len(padded), dtype=np.int64)
    cross[0] = 0
    np.not_equal(sign[1:], sign[:-1], out=cross[1:], casting="unsafe")
    csum = np.concatenate(([0], np.cumsum(cross)))
    n_frames = 1 + (len(padded) - frame) // hop
    starts = np.arange(n_frames) * hop
    # A frame's first sample never counts as a crossing (librosa's pad=False).
    count = csum[starts + frame] - csum[starts + 1]
    return count / frame


def tempo(onset_env: np.ndarray, sr: int, hop: int = HOP) -> float:
    """librosa.feature.tempo(onset_envelope=...): beat_track's tempo, start_bpm 120.

    The tempogram is computed with frames along the contiguous axis, then handed to librosa's
    own prior and arg-max.
    """
    import librosa

    win = int(librosa.time_to_frames(8.0, sr=sr, hop_length=hop))
    n = onset_env.shape[-1]
    padded = np.pad(onset_env, win // 2, mode="linear_ramp", end_values=[0, 0])
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]
    window = librosa.filters.get_window("hann", win, fftbins=True)
    n_pad = int(scipy.fft.next_fast_len(2 * win - 1, real=True))
    if n <= _TEMPO_CHUNK:  # every clip of the table: one pass, exactly as before
        tg = _normalised_ac(frames * window, n_pad, win).mean(axis=0)
    else:  # a long signal: ~1 MiB per frame of autocorrelations, summed a chunk at a time
        total = np.zeros(win)
        for a in range(0, n, _TEMPO_CHUNK):
            total += _normalised_ac(frames[a : a + _TEMPO_CHUNK] * window, n_pad, win).sum(0)
        tg = total / n
    return float(np.atleast_1d(librosa.feature.tempo(tg=tg[:, None], sr=sr,
                                                     hop_length=hop))[0])


_TEMPO_CHUNK = 2048  # frames (a 30 s clip has 1,293)


def _normalised_ac(frames: np.ndarray, n_pad: int, win: int) -> np.ndarray:
    spec = np.fft.rfft(frames, n=n_pad, axis=-1)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=-1)[:, :win]
    peak = np.max(np.abs(ac), axis=-1, keepdims=True)
    peak[peak < np.finfo(ac.dtype).tiny] = 1.0
    return ac / peak
