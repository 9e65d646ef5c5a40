"""Tag I/O on real files of every format: mutagen and ffprobe agree, audio untouched, undo exact."""

from __future__ import annotations

from pathlib import Path

import mutagen
import pytest
from tag_files import FORMATS, ffprobe_genre, make_song, pcm_hash

from genre_desktop.core import tagio

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _all_tags(path: Path) -> dict[str, object]:
    """Every tag mutagen sees, comparable between two reads."""
    audio = mutagen.File(path)
    if audio.tags is None:
        return {}
    if hasattr(audio.tags, "version"):  # ID3: frames by HashKey, with their values
        return {"version": audio.tags.version,
                **{k: repr(v) for k, v in sorted(audio.tags.items())}}
    return {k: list(v) for k, v in sorted(audio.tags.items())}


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("originals")
    return {fmt: make_song(folder, fmt) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_write_read_back_and_undo(fmt: str, originals: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / originals[fmt].name
    path.write_bytes(originals[fmt].read_bytes())
    before = tagio.read_tags(path)
    tags_before, audio_before = _all_tags(path), pcm_hash(path)
    if fmt == "wav":
        assert before.genres == () and not before.raw.had_tags
    else:
        assert before.genres == ("Old",)
        assert (before.artist, before.title, before.album) == ("The Artist", "A Title",
                                                               "An Album")
    if fmt.startswith("mp3"):
        assert before.raw.id3_version == int(fmt[-1])

    tagio.write_genres(path, ["Rock", "Hip-Hop"])

    after = tagio.read_tags(path)
    assert after.genres == ("Rock", "Hip-Hop")
    assert after.kind == before.kind
    if fmt.startswith("mp3"):  # the file keeps its ID3 version
        assert mutagen.File(path).tags.version[1] == int(fmt[-1])
    if fmt != "wav":
        assert (after.artist, after.title, after.album) == (before.artist, before.title,
                                                            before.album)
    # An independent reader: ffmpeg 5 shows the first ID3v2.4 value only, later ones join all.
    seen = ffprobe_genre(path)
    assert seen in (["Rock", "Hip-Hop"], ["Rock"]), seen
    assert pcm_hash(path) == audio_before, "the decoded audio changed"
    assert not tagio.leftover_copies(tmp_path)

    tagio.restore_genre(path, before.raw, before.kind)
    assert _all_tags(path) == tags_before
    assert tagio.read_tags(path).raw == before.raw
    assert pcm_hash(path) == audio_before
    assert ffprobe_genre(path) == ([] if fmt == "wav" else ["Old"])


def test_mutagen_lists_every_value_of_every_multi_value_format(originals: dict[str, Path],
                                                        tmp_path: Path) -> None:
    for fmt in ("mp3v24", "flac", "ogg", "opus", "m4a", "wav", "aiff"):
        path = tmp_path / originals[fmt].name
        path.write_bytes(originals[fmt].read_bytes())
        tagio.write_genres(path, ["Jazz", "Blues", "Soul"])
        audio = mutagen.File(path)
        if fmt in ("mp3v24", "wav", "aiff"):  # WAV and AIFF: ID3v2.4 in their ID3 chunk
            assert audio.tags["TCON"].text == ["Jazz", "Blues", "Soul"]
        elif fmt == "m4a":
            assert audio.tags["\xa9gen"] == ["Jazz", "Blues", "Soul"]
        else:
            assert audio.tags["genre"] == ["Jazz", "Blues", "Soul"]


def test_v23_joins_with_slash(originals: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "v23.mp3"
    path.write_bytes(originals["mp3v23"].read_bytes())
    tagio.write_genres(path, ["Jazz", "Blues"])
    assert mutagen.File(path).tags["TCON"].text == ["Jazz/Blues"]
    assert ffprobe_genre(path) == ["Jazz", "Blues"]


def test_read_only_file_is_refused_and_left_alone(originals: dict[str, Path],
                                                  tmp_path: Path) -> None:
    path = tmp_path / "ro.flac"
    path.write_bytes(originals["flac"].read_bytes())
    path.chmod(0o444)
    data = path.read_bytes()
    with pytest.raises(tagio.TagError, match="read-only"):
        tagio.write_genres(path, ["Rock"])
    assert path.read_bytes() == data
    assert not tagio.leftover_copies(tmp_path)


def test_not_audio_is_a_tag_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp3"
    bogus.write_text("not audio")
    with pytest.raises(tagio.TagError):
        tagio.read_tags(bogus)
