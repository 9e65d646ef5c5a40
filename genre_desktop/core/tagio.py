"""Reading and writing genre tags with mutagen, never touching the audio and never half-written.

Where the genre lives, per format:
- MP3: the ID3v2 TCON frame. v2.4 holds several values null-separated; v2.3 has no such
  separator, so several genres are joined with "/" (the v2.3 convention mutagen and Picard
  follow) and split on "/" again when read. A file keeps its ID3 version.
- FLAC, Ogg Vorbis, Opus: the Vorbis comment GENRE, one field per value.
- M4A/MP4: the ``©gen`` atom, one data item per value.
- WAV and AIFF: an ID3v2 chunk (``id3 `` / ``ID3 ``), TCON as for MP3.

Crash safety: a write goes to a copy in the same folder, is fsynced and then renamed over the
original (`os.replace` is atomic on one file system). A process killed at any moment leaves the
original untouched or the complete new file, never a torn one. Only the tag blocks change;
mutagen does not rewrite the audio frames.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TCON, ID3NoHeaderError
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

TMP_PREFIX = ".genre-desktop-"
TMP_SUFFIX = ".tmp"
V23_SEP = "/"

# kind -> mutagen class; the kind is what the journal records.
_KINDS: dict[str, type[Any]] = {
    "mp3": MP3, "flac": FLAC, "ogg": OggVorbis, "opus": OggOpus, "m4a": MP4,
    "wav": WAVE, "aiff": AIFF,
}
_ID3_KINDS = {"mp3", "wav", "aiff"}
_VORBIS_KINDS = {"flac", "ogg", "opus"}


class TagError(OSError):
    """A file whose tags cannot be read or written (unsupported, damaged, read-only)."""


@dataclass(frozen=True)
class RawGenre:
    """The genre field exactly as stored, so undo can put back the very same values.

    `values` are the stored strings (a v2.3 "Rock/Pop" is one value here); `present` says
    whether the field existed; `had_tags` whether the file had a tag block at all, and
    `id3_version` the minor version of that block (3 or 4; 0 when not ID3).
    """

    values: tuple[str, ...] = ()
    present: bool = False
    had_tags: bool = False
    id3_version: int = 0
    id3_encoding: int = -1  # the TCON frame's text encoding, put back by undo (-1: none)

    def to_dict(self) -> dict[str, Any]:
        return {"values": list(self.values), "present": self.present,
                "had_tags": self.had_tags, "id3_version": self.id3_version,
                "id3_encoding": self.id3_encoding}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RawGenre:
        return cls(tuple(str(v) for v in data.get("values", ())), bool(data.get("present")),
                   bool(data.get("had_tags")), int(data.get("id3_version", 0)),
                   int(data.get("id3_encoding", -1)))


@dataclass(frozen=True)
class TagInfo:
    kind: str
    genres: tuple[str, ...]  # as people read them (v2.3 "/" split)
    raw: RawGenre
    artist: str = ""
    title: str = ""
    album: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def file_kind(path: str | os.PathLike[str]) -> str:
    """The format by content (mutagen's sniffing), e.g. 'mp3'; TagError when unsupported."""
    try:
        audio = mutagen.File(os.fspath(path), options=list(_KINDS.values()))
    except (mutagen.MutagenError, OSError) as exc:
        raise TagError(f"Cannot read the tags of {Path(path).name}: {exc}") from exc
    if audio is None:
        raise TagError(f"{Path(path).name}: not a format whose tags can be written.")
    for kind, cls in _KINDS.items():
        if type(audio) is cls:
            return kind
    raise TagError(f"{Path(path).name}: unsupported format {type(audio).__name__}.")


def _open(path: str, kind: str) -> Any:
    try:
        return _KINDS[kind](path)
    except (mutagen.MutagenError, OSError) as exc:
        raise TagError(f"Cannot read the tags of {Path(path).name}: {exc}") from exc


def _first(values: Any) -> str:
    if not values:
        return ""
    return str(values[0])


def _split_v23(values: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out.extend(part.strip() for part in v.split(V23_SEP) if part.strip())
    return tuple(out)


def _id3_text(tags: Any, frame: str) -> str:
    got = tags.get(frame) if tags is not None else None
    return _first(got.text) if got is not None else ""


def read_tags(path: str | os.PathLike[str]) -> TagInfo:
    """Genres (all values), artist, title and album of one file."""
    spath = os.fspath(path)
    kind = file_kind(spath)
    audio = _open(spath, kind)
    tags = audio.tags
    if kind in _ID3_KINDS:
        version = tags.version[1] if tags is not None else 0
        frame = tags.get("TCON") if tags is not None else None
        # .genres resolves ID3v1 numeric references such as "(17)" to names.
        values = tuple(str(t) for t in frame.text) if frame is not None else ()
        shown = tuple(frame.genres) if frame is not None else ()
        if version == 3:
            shown = _split_v23(shown)
        encoding = int(frame.encoding) if frame is not None else -1
        raw = RawGenre(values, frame is not None, tags is not None, version, encoding)
        return TagInfo(kind, shown, raw, _id3_text(tags, "TPE1"), _id3_text(tags, "TIT2"),
                       _id3_text(tags, "TALB"))
    if kind in _VORBIS_KINDS:
        values = tuple(tags.get("genre", [])) if tags is not None else ()
        present = tags is not None and "genre" in tags
        raw = RawGenre(values, present, tags is not None)
        get = (lambda k: _first(tags.get(k, []))) if tags is not None else (lambda k: "")
        return TagInfo(kind, tuple(v for v in values if v.strip()), raw, get("artist"),
                       get("title"), get("album"))
    # m4a
    values = tuple(str(v) for v in tags.get("\xa9gen", [])) if tags is not None else ()
    present = tags is not None and "\xa9gen" in tags
    raw = RawGenre(values, present, tags is not None)
    get = (lambda k: _first(tags.get(k, []))) if tags is not None else (lambda k: "")
    return TagInfo(kind, tuple(v for v in values if v.strip()), raw, get("\xa9ART"),
                   get("\xa9nam"), get("\xa9alb"))


def _apply(audio: Any, kind: str, raw: RawGenre, *, restoring: bool) -> dict[str, Any]:
    """Put `raw` into the open file object; returns how to save it.

    {"skip": True}: nothing to change; {"delete": True}: remove the tag block (undo of a file
    that had none); else keyword arguments for mutagen's save().
    """
    if audio.tags is None:
        if restoring and not raw.had_tags:
            return {"skip": True}
        audio.add_tags()
    save: dict[str, Any] = {}
    if kind in _ID3_KINDS:
        version = raw.id3_version or audio.tags.version[1] or 4
        version = 3 if version == 3 else 4
        if raw.present:
            values = list(raw.values)
            if version == 3 and not restoring and len(values) > 1:
                values = [V23_SEP.join(values)]  # v2.3 has no multi-value separator
            # UTF-16 is v2.3's only Unicode encoding; undo puts back the frame's own.
            encoding = raw.id3_encoding if restoring and raw.id3_encoding >= 0 else (
                1 if version == 3 else 3)
            audio.tags.setall("TCON", [TCON(encoding=encoding, text=values)])
        else:
            audio.tags.delall("TCON")
        # v23_sep=None keeps every other frame's values exactly as read (our own multi-value
        # genre is joined above already).
        save = {"v2_version": version} | ({"v23_sep": None} if version == 3 else {})
    else:
        key = "genre" if kind in _VORBIS_KINDS else "\xa9gen"
        if raw.present:
            audio.tags[key] = list(raw.values)
        elif key in audio.tags:
            del audio.tags[key]
    if restoring and not raw.had_tags and not list(audio.tags.keys()):
        return {"delete": True}
    return save


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_read_only(path: str | os.PathLike[str]) -> bool:
    """Not writable by us, or marked read-only (no write bit at all: even root respects it,
    since replacing the file by a copy would otherwise ignore the user's choice)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True
    return not os.access(path, os.W_OK) or not mode & 0o222


def prepare_copy(path: str | os.PathLike[str], raw: RawGenre, *, kind: str | None = None,
                 restoring: bool = False) -> Path:
    """A fsynced copy of `path`, in its folder, holding `raw` as its genre field.

    The caller renames it over the original with `commit_copy` (or deletes it). Splitting the
    two lets the journal record the new file's hash before the original is replaced.
    """
    src = Path(path)
    kind = kind or file_kind(src)
    if is_read_only(src):
        raise TagError(f"{src.name} is read-only.")
    if not os.access(src.parent, os.W_OK | os.X_OK):
        raise TagError(f"{src.name}: its folder is read-only, so it cannot be replaced safely.")
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=src.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copy2(src, tmp)  # bytes, permission bits and times
        audio = _open(str(tmp), kind)
        save_args = _apply(audio, kind, raw, restoring=restoring)
        if save_args.pop("delete", False):
            audio.delete()
        elif not save_args.pop("skip", False):
            audio.save(**save_args)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, (mutagen.MutagenError, ID3NoHeaderError)):
            raise TagError(f"Cannot write the tags of {src.name}: {exc}") from exc
        raise
    return tmp


def commit_copy(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Atomically replace `path` by the prepared copy and make the rename durable."""
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


def write_genres(path: str | os.PathLike[str], genres: Sequence[str]) -> None:
    """Replace the file's genres by `genres` (an empty list removes the field), atomically."""
    info = read_tags(path)
    raw = RawGenre(tuple(genres), bool(genres), info.raw.had_tags, info.raw.id3_version)
    commit_copy(prepare_copy(path, raw, kind=info.kind), path)


def restore_genre(path: str | os.PathLike[str], raw: RawGenre, kind: str | None = None) -> None:
    """Put back a genre field exactly as `read_tags` found it earlier."""
    commit_copy(prepare_copy(path, raw, kind=kind, restoring=True), path)


def leftover_copies(folder: str | os.PathLike[str]) -> list[Path]:
    """Copies a killed writer left behind (the originals are intact)."""
    return sorted(Path(folder).glob(f"{TMP_PREFIX}*{TMP_SUFFIX}"))


__all__ = ["ID3", "RawGenre", "TagError", "TagInfo", "file_kind", "read_tags",
           "restore_genre", "write_genres"]
