"""The hybrid prompt: content, size, and no leak of paths, file names or the song's own row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genre_desktop.core.describe import describe
from genre_desktop.core.prompt import (
    ANSWER_SCHEMA,
    PromptMessages,
    build_prompt,
    estimate_tokens,
)
from genre_desktop.core.reference import ReferenceTable, load_reference
from genre_desktop.core.resources import config_dir, resource
from genre_desktop.core.types import GENRES

try:
    from clip_features import clip_features, extractor_available, row, sample_clips
except ImportError:  # tests/ turned into a package
    from tests.clip_features import clip_features, extractor_available, row, sample_clips

from conftest import require

SONG_HEADING = "## The song to classify"


@pytest.fixture(scope="module")
def table() -> ReferenceTable:
    return load_reference()


def forbidden_fragments(path: str, gtzan_dir: Path) -> list[str]:
    """Everything path-like about a clip that must never reach a prompt."""
    p = Path(path)
    rel = p.relative_to(gtzan_dir)
    return [
        str(p), str(gtzan_dir), str(rel), p.name, p.stem, p.name.split(".")[1],
        f"{p.parent.name}/", f"/{p.parent.name}", "genres/", ".wav", ".au", "gtzan", "GTZAN",
        "shared/", "filename", str(Path.home()),
    ]


def assert_clean(msgs: PromptMessages, path: str, gtzan_dir: Path, table: ReferenceTable) -> None:
    text = msgs.full_text
    for fragment in forbidden_fragments(path, gtzan_dir):
        assert fragment not in text, f"{fragment!r} leaked into the prompt"
    # no table id of any kind: ids are zero-padded five-digit runs
    assert not re.search(r"\d{5,}", text)
    for name in table.filenames:
        assert name not in text
    assert "${" not in text  # every placeholder filled


def assert_not_own_example(
    msgs: PromptMessages, own: str, table: ReferenceTable, level: str = "standard"
) -> None:
    assert own not in msgs.examples
    examples_part = msgs.user.split(SONG_HEADING)[0]
    assert describe(row(table, own), level, table) not in examples_part


def test_every_shared_clip_from_its_table_row(manifest, gtzan_dir, table) -> None:
    # Features equal to the clip's own row, no exclude_refs: the row must still be left out.
    hashes = set()
    for clip in manifest:
        own = Path(clip["file"]).name
        msgs = build_prompt(row(table, own), table)
        assert_clean(msgs, clip["path"], gtzan_dir, table)
        assert_not_own_example(msgs, own, table)
        assert len(msgs.examples) == 5
        hashes.add(msgs.template_hash)
    assert len(hashes) == 1


def test_extracted_clips_full_and_excerpts(manifest, gtzan_dir, table) -> None:
    require(extractor_available(), "genre_desktop.core.features is not importable")
    for clip in sample_clips(manifest):
        own = Path(clip["file"]).name
        features = clip_features(clip["path"])
        for refs in (frozenset(), frozenset({own})):
            msgs = build_prompt(features, table, exclude_refs=refs)
            assert_clean(msgs, clip["path"], gtzan_dir, table)
            assert_not_own_example(msgs, own, table)


def test_content_of_the_hybrid_prompt(table: ReferenceTable) -> None:
    msgs = build_prompt(row(table, "country.00002.wav"), table)
    system, user = msgs.system, msgs.user
    for genre in GENRES:
        assert f"- {genre}: tempo mostly " in system  # a profile derived from the table
    for i in range(1, 6):
        assert f"Example {i}: genre " in user
    assert "Example 6" not in user
    labels = re.findall(r"Example \d: genre (\w+)", user)
    expected = [table.labels[table.filenames == f][0] for f in msgs.examples]
    assert labels == expected
    for step in range(1, 7):
        assert re.search(rf"^{step}\. ", system, re.MULTILINE)
    for expert in ("Musicologist", "Audio engineer", "Producer/DJ", "Reconcile"):
        assert expert in system
    assert "Confidence calibration" in system
    for key in ANSWER_SCHEMA:
        assert f'"{key}"' in system
    assert user.index(SONG_HEADING) > user.index("Example 5")
    assert describe(row(table, "country.00002.wav"), "standard", table) in user


@pytest.mark.parametrize("level", ["brief", "standard", "detailed"])
def test_at_least_2000_tokens_at_every_level(level: str, table: ReferenceTable) -> None:
    msgs = build_prompt(row(table, "jazz.00001.wav"), table, level=level)
    assert estimate_tokens(msgs.full_text) >= 2000
    assert_not_own_example(msgs, "jazz.00001.wav", table, level)


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("rock") == 1
    assert estimate_tokens("one two three four") == 4
    assert estimate_tokens("tempo 123.05 BPM!") >= 5
    prose = "The quick brown fox jumps over the lazy dog. " * 100
    assert 900 <= estimate_tokens(prose) <= 1300


def test_options_exclusions_and_one_per_genre(table: ReferenceTable) -> None:
    features = row(table, "hiphop.00004.wav")
    plain = build_prompt(features, table)
    fewer = build_prompt(features, table, n_examples=3)
    assert fewer.examples == plain.examples[:3]
    assert "Example 4" not in fewer.user
    without = build_prompt(features, table, exclude_refs=frozenset(plain.examples[:2]))
    assert not set(plain.examples[:2]) & set(without.examples)
    spread = build_prompt(features, table, one_per_genre=True)
    labels = [table.labels[table.filenames == f][0] for f in spread.examples]
    assert len(set(labels)) == 5
    with pytest.raises(ValueError):
        build_prompt(features, table, level="chatty")


def test_only_feature_values_reach_the_text(table: ReferenceTable) -> None:
    features = {**row(table, "blues.00001.wav"), "path": "/music/blues/blues.00001.wav"}
    msgs = build_prompt(features, table)  # type: ignore[arg-type]
    assert "/music" not in msgs.full_text and "blues.00001" not in msgs.full_text


def test_user_templates_override_the_shipped_ones(table: ReferenceTable) -> None:
    features = row(table, "pop.00003.wav")
    before = build_prompt(features, table)
    override = config_dir() / "prompts"
    override.mkdir(parents=True, exist_ok=True)
    shipped = (resource("prompts") / "user.md").read_text()
    (override / "user.md").write_text("Be brief.\n" + shipped)
    after = build_prompt(features, table)
    assert after.user.startswith("Be brief.")
    assert after.template_hash != before.template_hash
    assert after.system == before.system
