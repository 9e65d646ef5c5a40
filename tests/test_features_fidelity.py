"""The extractor against the Kaggle table, the plain librosa recipe and scipy's median filter."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from conftest import require

from genre_desktop.core import features
from genre_desktop.core._fast_hpss import moving_median
from genre_desktop.core._plain_recipe import hpss_then, plain_features
from genre_desktop.core.audio import load_audio
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import FEATURE_COLUMNS

TOLERANCE = 0.02  # x the column's standard deviation over the table


@pytest.fixture(scope="module")
def table():
    return load_reference().frame.set_index("filename")


def test_every_column_of_every_full_clip(full_clips, table):
    require(len(full_clips) == 14, f"expected 14 full clips in MANIFEST.tsv, got {len(full_clips)}")
    std = table.loc[:, list(FEATURE_COLUMNS)].std()
    failures = []
    for clip in full_clips:
        name = clip["file"].rsplit("/", 1)[-1]
        assert name in table.index, f"{name} is not in the reference table"
        expected = table.loc[name]
        got = features.extract_features(clip["path"])
        assert list(got) == list(FEATURE_COLUMNS)
        for col in FEATURE_COLUMNS:
            if col in ("length", "tempo"):
                if got[col] != expected[col]:
                    failures.append(f"{name} {col}: {got[col]!r} != {expected[col]!r}")
            elif abs(got[col] - expected[col]) > TOLERANCE * std[col]:
                z = abs(got[col] - expected[col]) / std[col]
                failures.append(f"{name} {col}: {got[col]:.6g} vs {expected[col]:.6g} ({z:.3f} sd)")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 200), (40, 33), (31, 31), (17, 64)])
def test_moving_median_is_scipys_median_filter_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.random(shape).astype(dtype)
    a[:, ::5] = a[:, :1]  # ties
    a[0, 0] = 0.0
    for axis, size in ((-1, (1, 31)), (0, (31, 1))):
        expected = ndi.median_filter(a, size=size, mode="reflect")
        got = moving_median(a, 31, axis=axis)
        assert got.dtype == a.dtype
        assert np.array_equal(got, expected), (shape, axis)


@pytest.mark.parametrize("n", [1, 2, 3, 9, 15])
def test_moving_median_on_axes_shorter_than_the_window(n):
    """Reflection repeats (d c b a | a b c d | d c b a | a b ...); checked against np.median.

    (scipy itself returned NaN now and then for such tiny axes, so it is not the reference.)
    """
    a = np.random.default_rng(n).random((2, n)).astype(np.float32)
    idx = np.mod(np.arange(-15, n + 15), 2 * n)
    idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
    ext = a[:, idx]
    expected = np.stack([np.median(ext[:, i : i + 31], axis=1) for i in range(n)], axis=1)
    assert np.array_equal(moving_median(a, 31, axis=-1), expected.astype(np.float32))


def test_moving_median_on_a_real_spectrogram(full_clips):
    import librosa

    y = load_audio(full_clips[0]["path"]).y[: 22050 * 8]
    mag = np.abs(librosa.stft(y, pad_mode="reflect"))
    for axis, size in ((-1, (1, 31)), (0, (31, 1))):
        expected = ndi.median_filter(mag, size, mode="reflect")
        assert np.array_equal(moving_median(mag, 31, axis), expected)
    with pytest.raises(ValueError):
        moving_median(mag, 30, 0)


def test_fast_extractor_equals_the_plain_recipe(full_clips):
    """Same numbers as each librosa call on its own (the table's recipe), on a 12 s excerpt."""
    clip = next(c for c in full_clips if "metal" in c["file"])
    y = load_audio(clip["path"]).y[: 22050 * 12 + 123]
    fast = features.features_from_signal(y, 22050)
    plain = plain_features(y, 22050)
    for col in FEATURE_COLUMNS:
        assert fast[col] == pytest.approx(plain[col], rel=1e-4, abs=1e-7), col
    y_h, y_p = hpss_then(y)
    import librosa

    D = librosa.stft(y, pad_mode="reflect")
    from genre_desktop.core._fast_hpss import hpss_waveforms

    f_h, f_p = hpss_waveforms(y, D, np.abs(D))
    assert len(f_h) == len(f_p) == len(y)
    assert np.max(np.abs(f_h - y_h)) < 1e-5 and np.max(np.abs(f_p - y_p)) < 1e-5


def test_silence_and_noise_give_finite_features():
    silence = np.zeros(22050 * 2, dtype=np.float32)
    quiet = features.features_from_signal(silence, 22050)
    assert quiet["tempo"] == 0.0 and quiet["length"] == len(silence)
    assert all(np.isfinite(v) for v in quiet.values())
    noise = np.random.default_rng(1).standard_normal(22050 * 3).astype(np.float32) * 0.1
    loud = features.features_from_signal(noise, 22050)
    assert all(np.isfinite(v) for v in loud.values())
    assert loud["rms_mean"] == pytest.approx(0.1, rel=0.05)
    assert features.EXTRACTOR_VERSION and features.DEFAULT_MAX_SECONDS > 30


def test_shared_spectrogram_helpers_match_librosa(full_clips):
    """Each helper of the fast path against the librosa call it replaces, on real audio."""
    import librosa

    from genre_desktop.core import _fast_spectral as fast
    from genre_desktop.core._fast_hpss import istft

    sr = 22050
    for clip in (full_clips[0], full_clips[-1]):
        y = load_audio(clip["path"]).y[: sr * 10]
        D = librosa.stft(y, pad_mode="reflect")
        mag = np.abs(D)
        power = mag * mag
        tuning = librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12)
        assert fast.estimate_tuning(power, sr) == tuning
        np.testing.assert_allclose(
            fast.chroma_stft(power, sr, tuning),
            librosa.feature.chroma_stft(S=power, sr=sr, tuning=tuning), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(
            fast.zero_crossing_rate(y), librosa.feature.zero_crossing_rate(y)[0])
        np.testing.assert_allclose(
            fast.rms(y), librosa.feature.rms(y=y, pad_mode="reflect")[0], rtol=1e-4)
        centroid, bandwidth, rolloff = fast.spectral_shape(mag, sr)
        np.testing.assert_allclose(
            centroid, librosa.feature.spectral_centroid(S=mag, sr=sr)[0], rtol=1e-4)
        np.testing.assert_allclose(
            bandwidth, librosa.feature.spectral_bandwidth(S=mag, sr=sr)[0], rtol=1e-4)
        expected_rolloff = librosa.feature.spectral_rolloff(S=mag, sr=sr)[0]
        assert np.mean(rolloff == expected_rolloff) > 0.99  # float32 cumsum ties aside
        mel_db = librosa.power_to_db(fast.melspectrogram(power, sr))
        onset = librosa.onset.onset_strength(S=mel_db, sr=sr, aggregate=np.median)
        assert fast.tempo(onset, sr) == float(librosa.feature.tempo(onset_envelope=onset, sr=sr)[0])
        np.testing.assert_allclose(istft(D, 2048, 512), librosa.istft(D, dtype=np.float32),
                                   atol=1e-6)
