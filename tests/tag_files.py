"""Tiny real audio files in every taggable format, made with ffmpeg, and independent readers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

from conftest import require

# name -> (file name, ffmpeg output options). WAV gets no metadata from ffmpeg (its muxer
# writes RIFF INFO, not ID3); AIFF's muxer writes an ID3 chunk when asked.
FORMATS: dict[str, tuple[str, list[str]]] = {
    "mp3v23": ("song-v23.mp3", ["-c:a", "libmp3lame", "-id3v2_version", "3"]),
    "mp3v24": ("song-v24.mp3", ["-c:a", "libmp3lame", "-id3v2_version", "4"]),
    "flac": ("song.flac", ["-c:a", "flac"]),
    "ogg": ("song.ogg", ["-c:a", "libvorbis"]),
    "opus": ("song.opus", ["-c:a", "libopus"]),
    "m4a": ("song.m4a", ["-c:a", "aac"]),
    "wav": ("song.wav", ["-map_metadata", "-1", "-fflags", "+bitexact"]),
    "aiff": ("song.aiff", ["-write_id3v2", "1"]),
}


def need_ffmpeg() -> None:
    require(shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None,
            "ffmpeg and ffprobe are needed to make and read the test files")


def make_song(folder: Path, fmt: str, *, name: str | None = None, genre: str | None = "Old",
              seconds: float = 1.0, freq: int = 440) -> Path:
    """One short sine in format `fmt`, tagged artist/title/album (and genre) by ffmpeg."""
    need_ffmpeg()
    default_name, opts = FORMATS[fmt]
    out = folder / (name or default_name)
    folder.mkdir(parents=True, exist_ok=True)
    meta: list[str] = []
    if fmt != "wav":
        meta = ["-metadata", "artist=The Artist", "-metadata", "title=A Title",
                "-metadata", "album=An Album"]
        if genre is not None:
            meta += ["-metadata", f"genre={genre}"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:duration={seconds}", *meta, *opts, str(out)],
        check=True,
    )
    return out


def pcm_hash(path: Path) -> str:
    """sha256 of the decoded samples (ffmpeg to raw PCM): changes only if the audio does."""
    need_ffmpeg()
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a",
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    assert pcm, f"{path.name} decoded to nothing"
    return hashlib.sha256(pcm).hexdigest()


def ffprobe_genre(path: Path) -> list[str]:
    """The genre ffprobe reads (format or stream tags), split on ffmpeg's ';' and v2.3's '/'."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format_tags=genre:stream_tags=genre",
         "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    tags = dict(data.get("format", {}).get("tags", {}))
    for stream in data.get("streams", []):
        tags.update(stream.get("tags", {}))
    value = next((v for k, v in tags.items() if k.lower() == "genre"), "")
    return [p for p in re.split(r"[;/]", value) if p]
