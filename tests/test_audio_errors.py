"""Every kind of bad input becomes a typed error value; good files in every format load."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import require

from genre_desktop.core import audio
from genre_desktop.core._feature_batch import extract_many
from genre_desktop.core.audio import AudioLoadError, load_audio
from genre_desktop.core.features import extract_song
from genre_desktop.core.types import SongError, SongFeatures

SR = 22050


def tone(seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def write_wav(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, y, sr, subtype="PCM_16")
    return path


def make_bad_inputs(tmp: Path) -> dict[str, Path]:
    """One file (or non-file) per failure, each named after the reason it must produce."""
    cases: dict[str, Path] = {"missing_file": tmp / "nowhere.wav"}
    folder = tmp / "a_folder.wav"
    folder.mkdir()
    cases["not_a_file"] = folder
    (tmp / "empty.wav").write_bytes(b"")
    cases["empty_file"] = tmp / "empty.wav"
    (tmp / "notes.wav").write_text("This is a text file, not a song.\n" * 20)
    cases["not_audio"] = tmp / "notes.wav"
    whole = write_wav(tmp / "whole.wav", tone(3.0)).read_bytes()
    (tmp / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    cases["corrupt_audio"] = tmp / "truncated.wav"
    # A RIFF/WAVE header whose format chunk is garbage.
    (tmp / "garbled.wav").write_bytes(whole[:12] + b"fmt " + b"\xff" * 40 + whole[56:2000])
    cases["corrupt_audio_header"] = tmp / "garbled.wav"
    with wave.open(str(tmp / "zero.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(b"")
    cases["no_samples"] = tmp / "zero.wav"
    cases["too_short"] = write_wav(tmp / "blip.wav", tone(0.5))
    (tmp / "song.xyz").write_bytes(whole)
    cases["unsupported_format"] = tmp / "song.xyz"
    return cases


def expected_reason(case: str) -> str:
    return "corrupt_audio" if case.startswith("corrupt_audio") else case


def test_each_bad_input_raises_a_typed_error(tmp_path):
    for case, path in make_bad_inputs(tmp_path).items():
        with pytest.raises(AudioLoadError) as info:
            load_audio(path)
        assert info.value.reason == expected_reason(case), (case, info.value.message)
        assert info.value.reason in audio.REASONS
        message = info.value.message
        assert message.endswith(".") and "\n" not in message and path.name in message, message


def test_a_batch_of_bad_inputs_goes_on(tmp_path, full_clips):
    cases = make_bad_inputs(tmp_path)
    good = tmp_path / "good.wav"
    shutil.copy(full_clips[0]["path"], good)
    paths = [*cases.values(), good]
    seen = {}
    for path, result in extract_many(paths, workers=2):
        seen[path] = result
    assert set(seen) == {str(p) for p in paths}
    for case, path in cases.items():
        result = seen[str(path)]
        assert isinstance(result, SongError), case
        assert result.reason == expected_reason(case) and result.stage == "features"
        assert result.path == str(path)
    assert isinstance(seen[str(good)], SongFeatures)
    assert seen[str(good)].features["length"] == 661794


def test_non_ascii_path_gives_the_same_features(tmp_path, full_clips):
    src = full_clips[0]["path"]
    odd = tmp_path / "música – ü 日本" / "canción ñ 🎵.wav"
    odd.parent.mkdir()
    shutil.copy(src, odd)
    a = extract_song(odd, use_cache=False)
    b = extract_song(src, use_cache=False)
    assert isinstance(a, SongFeatures) and isinstance(b, SongFeatures)
    assert a.features == b.features and a.path == str(odd)


def test_a_long_file_is_cut_and_says_so(tmp_path):
    long = write_wav(tmp_path / "long.wav", tone(80.0))
    song = extract_song(long, max_seconds=65, use_cache=False)
    assert isinstance(song, SongFeatures)
    assert song.limited and song.analysed_s == pytest.approx(65.0)
    assert song.duration_s == pytest.approx(80.0)
    assert song.features["length"] == 65 * SR
    assert "65" in song.note and "80" in song.note
    # 65 s hold two full 30 s windows; the 5 s left are too little for a third.
    assert len(song.windows) == 2
    assert all(w["length"] == 30 * SR for w in song.windows)
    whole = extract_song(long, max_seconds=None, use_cache=False)
    assert isinstance(whole, SongFeatures) and not whole.limited and whole.note == ""
    assert len(whole.windows) == 3  # 30 + 30 + the last 20 s (more than half a window)
    short = extract_song(write_wav(tmp_path / "short.wav", tone(40.0)), use_cache=False)
    assert isinstance(short, SongFeatures) and short.windows == []


def test_formats_wav_au_flac_ogg_mp3(tmp_path, gtzan_dir, manifest):
    au = gtzan_dir / "au" / "jazz.00000.au"
    require(au.is_file(), f"{au} is missing")
    wav = next(r["path"] for r in manifest if r["file"].endswith("jazz.00000.wav"))
    from_au = load_audio(au)
    from_wav = load_audio(wav)
    assert from_au.sr == SR and from_au.y.dtype == np.float32
    assert len(from_au.y) == len(from_wav.y)
    assert np.max(np.abs(from_au.y - from_wav.y)) < 1e-3  # same audio, two containers

    y = from_wav.y[: SR * 5]
    flac = tmp_path / "clip.flac"
    sf.write(flac, y, SR, format="FLAC", subtype="PCM_16")
    assert np.array_equal(load_audio(flac).y, load_audio(write_wav(tmp_path / "c.wav", y)).y)
    ogg = tmp_path / "clip.ogg"
    sf.write(ogg, y, SR, format="OGG", subtype="VORBIS")
    assert abs(len(load_audio(ogg).y) - len(y)) < SR // 10

    stereo_44k = tmp_path / "stereo44k.flac"
    t = np.arange(44100 * 2) / 44100
    left = 0.2 * np.sin(2 * np.pi * 220 * t)
    sf.write(stereo_44k, np.stack([left, -left * 0.5], axis=1), 44100, format="FLAC")
    loaded = load_audio(stereo_44k)
    assert loaded.sr == SR and len(loaded.y) == 2 * SR  # mixed to mono, resampled
    assert 0.04 < float(np.max(np.abs(loaded.y))) < 0.06

    mp3 = tmp_path / "clip.mp3"
    try:
        sf.write(mp3, y, SR, format="MP3", subtype="MPEG_LAYER_III")
    except (sf.LibsndfileError, TypeError, ValueError):
        require(shutil.which("ffmpeg") is not None, "no MP3 encoder (libsndfile or ffmpeg)")
        import subprocess

        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(flac), str(mp3)], check=True)
    decoded = load_audio(mp3)
    assert abs(len(decoded.y) - len(y)) < SR // 5  # the encoder's padding, no more


def test_missing_mp3_decoder_is_a_clear_error(tmp_path, monkeypatch):
    mp3 = tmp_path / "song.mp3"
    mp3.write_bytes(b"ID3" + b"\x00" * 2000)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no ffmpeg anywhere
    with pytest.raises(AudioLoadError) as info:
        audio._decode_ffmpeg(mp3, None)
    assert info.value.reason == "decoder_missing" and "MP3" in info.value.message
