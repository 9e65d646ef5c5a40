"""Audio loading as the Kaggle table did it (librosa.load: 22,050 Hz mono float32), typed errors.

Every way a file can be unusable becomes an `AudioLoadError` carrying a short reason code and one
sentence for people; batch code turns it into a `SongError` value and moves on.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

TARGET_SR = 22050
MIN_SECONDS = 1.0

# Extensions we try to decode; anything else is refused up front with a clear reason.
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".wave", ".au", ".snd", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".m4a",
     ".opus"}
)
_FFMPEG_KINDS = {"mp4"}  # containers libsndfile never reads: straight to ffmpeg

REASONS: dict[str, str] = {
    "missing_file": "the file does not exist",
    "not_a_file": "the path is a folder or special file",
    "empty_file": "the file is empty",
    "not_audio": "the file is not audio",
    "corrupt_audio": "the audio data is damaged or truncated",
    "no_samples": "the file holds no samples",
    "too_short": "the audio is shorter than one second",
    "unsupported_format": "the format is not supported",
    "decoder_missing": "no decoder for this format is installed",
    "unreadable": "the file cannot be read",
}


class AudioLoadError(Exception):
    """A file that cannot be analysed; `reason` is a code from REASONS, `message` one sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LoadedAudio:
    y: np.ndarray  # float32 mono at `sr`
    sr: int
    duration_s: float  # the whole file
    analysed_s: float  # len(y) / sr
    limited: bool  # the file was longer than max_seconds and was cut


def _sniff(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None when they look like no audio."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b".snd":
        return "au"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] == b"ftyp":  # ISO media: .m4a (AAC, ALAC)
        return "mp4"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _wav_truncation(path: Path, size: int) -> tuple[int, int] | None:
    """(promised, present) data bytes when a RIFF/WAVE file's data chunk runs past its end."""
    with open(path, "rb") as fh:
        fh.seek(12)
        while True:
            header = fh.read(8)
            if len(header) < 8:
                return None
            chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"data":
                present = size - fh.tell()
                # 0 and 0xFFFFFFFF mark streamed / RF64 files whose size lives elsewhere.
                # A few bytes short is a sloppy writer (pad byte, last block), not lost audio.
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > present + 1024:
                    return chunk_size, present
                return None
            fh.seek(chunk_size + (chunk_size & 1), 1)


def _decode_ffmpeg(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int, float]:
    """Decode with the system ffmpeg (formats libsndfile lacks): mono float32 at TARGET_SR."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioLoadError(
            "decoder_missing",
            f"{path.suffix.upper().lstrip('.')} files need a decoder that is not installed "
            "(install ffmpeg or a libsndfile with MP3 support).",
        )
    cmd = [exe, "-v", "error", "-nostdin", "-i", str(path)]
    if max_seconds is not None:
        cmd += ["-t", str(max_seconds)]
    cmd += ["-f", "f32le", "-ac", "1", "-ar", str(TARGET_SR), "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise AudioLoadError("corrupt_audio", f"The decoder could not read {path.name}.")
    y = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    return y, TARGET_SR, len(y) / TARGET_SR


LONG_S = 60.0  # longer audio is read (and resampled) in blocks: no whole-file stereo copy
_BLOCK_S = 10.0


def _decode_soundfile(path: Path, max_seconds: float | None,
                      sr: int) -> tuple[np.ndarray, int, float]:
    """(samples, their rate, the file's duration). Long files come back already at `sr`."""
    with sf.SoundFile(str(path)) as snd:
        native_sr = int(snd.samplerate)
        total = int(snd.frames)
        frames = total if max_seconds is None else min(total, round(max_seconds * native_sr))
        duration = total / native_sr if native_sr else 0.0
        if frames > LONG_S * native_sr:
            return _read_in_blocks(snd, frames, native_sr, sr), sr, duration
        data = snd.read(frames=frames, dtype="float32", always_2d=True)
    # librosa.load's to_mono: the plain mean of the channels.
    y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(y, dtype=np.float32), native_sr, duration


def _read_in_blocks(snd: sf.SoundFile, frames: int, native_sr: int, sr: int) -> np.ndarray:
    """Mono float32 at `sr`, read block by block: a 12-minute 44.1 kHz stereo file never sits
    in memory whole, nor as a mono copy at its own rate (the same mean of channels and soxr
    HQ resampler as the short path, streamed)."""
    expected = frames if native_sr == sr else int(np.ceil(frames * sr / native_sr))
    out = np.zeros(expected, dtype=np.float32)
    stream = None
    if native_sr != sr:
        import soxr

        stream = soxr.ResampleStream(native_sr, sr, 1, dtype="float32", quality="HQ")
    block = max(1, round(_BLOCK_S * native_sr))
    pos = read = 0
    while read < frames:
        data = snd.read(frames=min(block, frames - read), dtype="float32", always_2d=True)
        if len(data) == 0:
            break
        read += len(data)
        mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
        if stream is not None:
            mono = stream.resample_chunk(mono, last=read >= frames)
        n = min(len(mono), expected - pos)
        out[pos : pos + n] = mono[:n]
        pos += n
    return out[:pos] if native_sr == sr else out  # resampled: librosa's fixed length


def load_audio(
    path: str | Path, *, sr: int = TARGET_SR, max_seconds: float | None = None
) -> LoadedAudio:
    """Load `path` as mono float32 at `sr` (soxr_hq resampling, as librosa.load does).

    Reads at most `max_seconds` of audio (None: all of it) and says so in `limited`.
    Raises AudioLoadError for anything that cannot be analysed.
    """
    p = Path(path)
    try:
        if not p.exists():
            raise AudioLoadError("missing_file", f"{p.name} does not exist.")
        if not p.is_file():
            raise AudioLoadError("not_a_file", f"{p.name} is a folder or special file, not audio.")
        size = p.stat().st_size
        if size == 0:
            raise AudioLoadError("empty_file", f"{p.name} is empty (0 bytes).")
        ext = p.suffix.lower()
        if ext not in SUPPORTED_EXTENSIONS:
            raise AudioLoadError(
                "unsupported_format",
                f"{p.name}: '{ext or 'no extension'}' is not a supported audio format "
                "(WAV, AU, FLAC, OGG, OPUS, MP3, M4A, AIFF).",
            )
        with open(p, "rb") as fh:
            head = fh.read(16)
    except PermissionError as exc:
        raise AudioLoadError("unreadable", f"{p.name} cannot be read: permission denied.") from exc
    except OSError as exc:
        raise AudioLoadError("unreadable", f"{p.name} cannot be read ({exc.strerror}).") from exc

    kind = _sniff(head)
    if kind is None:
        raise AudioLoadError("not_audio", f"{p.name} holds no audio data of any known kind.")
    if kind == "wav":
        cut = _wav_truncation(p, size)
        if cut is not None:
            raise AudioLoadError(
                "corrupt_audio",
                f"{p.name} is truncated: its header promises {cut[0]} bytes of audio "
                f"but only {cut[1]} are present.",
            )

    if kind in _FFMPEG_KINDS or (kind == "mp3" and "MP3" not in sf.available_formats()):
        y, native_sr, duration = _decode_ffmpeg(p, max_seconds)
    else:
        try:
            y, native_sr, duration = _decode_soundfile(p, max_seconds, sr)
        except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as exc:
            if kind == "ogg" and shutil.which("ffmpeg"):  # Opus in Ogg: older libsndfile
                y, native_sr, duration = _decode_ffmpeg(p, max_seconds)
            else:
                raise AudioLoadError(
                    "corrupt_audio", f"{p.name} looks like {kind.upper()} but cannot be decoded."
                ) from exc

    if y.size == 0:
        raise AudioLoadError("no_samples", f"{p.name} holds no audio samples.")
    if not np.all(np.isfinite(y)):
        raise AudioLoadError("corrupt_audio", f"{p.name} holds invalid (non-finite) samples.")
    if native_sr != sr:
        from genre_desktop.core.numba_setup import ensure_librosa

        # librosa's default resampler (soxr_hq) and length rule, as librosa.load
        librosa = ensure_librosa()

        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr).astype(np.float32, copy=False)
    analysed = len(y) / sr
    if analysed < MIN_SECONDS:
        raise AudioLoadError(
            "too_short", f"{p.name} lasts {analysed:.2f} s; at least {MIN_SECONDS:g} s is needed."
        )
    limited = max_seconds is not None and duration > max_seconds + 1.0 / sr
    return LoadedAudio(
        y=np.ascontiguousarray(y),
        sr=sr,
        duration_s=float(duration),
        analysed_s=float(analysed),
        limited=bool(limited),
    )
