"""Writing a run's genres into the files: plan, write (journalled, resumable) and undo.

`plan_tags` says per file what would change (old -> new) or why it is left alone; nothing is
written. `write_plan` journals each change first, writes it through a renamed copy
(core.tagio) and marks it written. `undo` puts the old genre fields back. Both refuse a file
that is read-only or whose content hash is not the one we last knew (analysed, written or
restored): someone else changed it, and we must not overwrite their change.

A batch killed midway is resumed by planning and writing again: `recover` first settles the
entries a dead writer left half-done, by the file's hash (old: not written; new: written).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genre_desktop.core.cache import file_sha256
from genre_desktop.core.results import SongResult
from genre_desktop.core.tag_journal import Decision, JournalEntry, TagJournal
from genre_desktop.core.tag_policy import (
    TagPolicy,
    choose_genres,
    merge_genres,
    ranked_candidates,
)
from genre_desktop.core.tagio import (
    RawGenre,
    TagError,
    commit_copy,
    is_read_only,
    leftover_copies,
    prepare_copy,
    read_tags,
)
from genre_desktop.core.types import CancelFlag

Progress = Callable[[int, int, str], None]  # done, total, file name
_REVERTS = "reverts:"  # an undo entry's message names the entry it reverts


class TagBusy(RuntimeError):
    """Another process is writing or undoing this run's tags."""


@contextlib.contextmanager
def tag_lock(store_path: str | Path) -> Iterator[None]:
    """One tag writer per run: an flock on `<run>.tag-lock`, released by the kernel if the
    holder dies (so a killed writer never blocks the resume)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        yield
        return
    path = Path(store_path).with_suffix(".tag-lock")
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise TagBusy(f"Another process is writing the tags of run {Path(store_path).stem};"
                          " wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class PlannedChange:
    path: str
    old: tuple[str, ...] = ()
    new: tuple[str, ...] | None = None  # None: left alone (see `reason`)
    reason: str = ""  # why it is left alone, or a note on a write
    kind: str = ""
    raw_old: RawGenre = field(default_factory=RawGenre)
    content_hash: str = ""  # the file's hash when planned
    predicted: str = ""
    confidence: float = 0.0
    artist: str = ""
    title: str = ""

    @property
    def file(self) -> str:
        return Path(self.path).name

    @property
    def writes(self) -> bool:
        return self.new is not None


@dataclass
class TagSummary:
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    batch: int = 0


def _hash(path: str) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""


def _check_file(path: str, expected: str | None) -> tuple[str, str]:
    """(current hash, reason to refuse or '')."""
    if not os.path.isfile(path):
        return "", "the file is missing"
    current = _hash(path)
    if expected and current != expected:
        return current, "the file changed since it was analysed (its content hash differs)"
    if is_read_only(path):
        return current, "the file is read-only"
    return current, ""


def recover(journal: TagJournal) -> int:
    """Settle entries a killed writer left 'planned' or 'writing'; returns how many."""
    settled = 0
    for entry in journal.entries(states=("planned", "writing", "undoing")):
        current = _hash(entry.path)
        undoing = entry.state == "undoing"
        if entry.new_hash and current == entry.new_hash:
            # The rename happened: an undo's new_hash is the restored file's hash.
            journal.set_state(entry.id, "undone" if undoing else "written", entry.message)
            journal.record_hash(entry.path, current, "restored" if undoing else "written")
            if undoing and entry.message.startswith(_REVERTS):
                journal.set_state(int(entry.message[len(_REVERTS):]), "reverted")
        else:
            journal.set_state(entry.id, "interrupted", "stopped before the file was replaced")
        for tmp in leftover_copies(Path(entry.path).parent):
            with contextlib.suppress(OSError):
                tmp.unlink()
        settled += 1
    return settled


def plan_tags(results: Sequence[SongResult], journal: TagJournal, policy: TagPolicy, *,
              decisions: Mapping[str, Decision] | None = None, only_reviewed: bool = False,
              progress: Progress | None = None,
              cancel: CancelFlag | None = None) -> list[PlannedChange]:
    """What writing would do for each successfully classified song; writes nothing.

    `decisions` (the review): rejected songs are left alone, corrected ones get the corrected
    genre, accepted ones their policy genres whatever `min_confidence` says. With
    `only_reviewed` undecided songs are left alone (the app writes what the user reviewed).
    """
    recover(journal)
    decisions = dict(journal.decisions() if decisions is None else decisions)
    already = journal.written_paths() if policy.skip_tagged else set()
    plan: list[PlannedChange] = []
    ok = [r for r in results if r.prediction is not None]
    for i, result in enumerate(ok):
        if cancel is not None and cancel.is_set():
            break
        pred = result.prediction
        assert pred is not None
        change = PlannedChange(result.path, predicted=pred.predicted_genre,
                               confidence=float(pred.confidence))
        plan.append(change)
        if progress is not None:
            progress(i, len(ok), change.file)
        try:
            info = read_tags(result.path)
        except (TagError, OSError) as exc:
            change.reason = str(exc) if os.path.exists(result.path) else "the file is missing"
            continue
        change.old, change.kind, change.raw_old = info.genres, info.kind, info.raw
        change.artist, change.title = info.artist, info.title
        expected = journal.known_hash(result.path) or getattr(result, "content_hash", "")
        change.content_hash, refuse = _check_file(result.path, expected or None)
        if refuse:
            change.reason = refuse
            continue
        if result.path in already:
            change.reason = "already tagged by an earlier write"
            continue
        decision = decisions.get(result.path)
        if decision is not None and decision.decision == "rejected":
            change.reason = "rejected in review"
            continue
        if decision is None and only_reviewed:
            change.reason = "not reviewed"
            continue
        if decision is not None and decision.decision == "corrected" and decision.genre:
            chosen = [policy.show(decision.genre)]
        elif decision is not None:
            chosen = choose_genres(pred, dataclasses.replace(policy, min_confidence=0.0))
        else:
            chosen = choose_genres(pred, policy)
        if not chosen and not ranked_candidates(pred, policy):
            change.reason = (f"no genre from the {policy.vocabulary} vocabulary (the audio "
                             "tagger's tags are not in this result)")
            continue
        if not chosen:
            change.reason = f"confidence {pred.confidence:.2f} below {policy.min_confidence:.2f}"
            continue
        merged = merge_genres(info.genres, chosen, policy.mode)
        if merged is None:
            change.reason = ("already has a genre" if policy.mode == "empty" and info.genres
                             else "no change")
            continue
        change.new = tuple(merged)
        if not expected:
            change.reason = "no hash was recorded when it was analysed"
    if progress is not None:
        progress(len(ok), len(ok), "")
    return plan


def _write_one(journal: TagJournal, batch: int, path: str, kind: str, old: RawGenre,
               new: RawGenre, old_hash: str, *, reverts: int | None = None) -> None:
    """Journal, prepare the copy, record its hash, rename, mark done: in that order, so a kill
    at any point is settled by `recover` from the file's hash alone."""
    restoring = reverts is not None
    entry = journal.begin(batch, path, kind, old, new, old_hash,
                          state="undoing" if restoring else "planned",
                          message=f"{_REVERTS}{reverts}" if restoring else "")
    try:
        tmp = prepare_copy(path, new, kind=kind, restoring=restoring)
    except BaseException as exc:
        journal.set_state(entry, "failed", str(exc)[:300])
        raise
    try:
        new_hash = file_sha256(tmp)
        journal.set_new_hash(entry, new_hash)
        commit_copy(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    journal.record_hash(path, new_hash, "restored" if restoring else "written")
    if restoring:
        journal.set_state(entry, "undone", f"{_REVERTS}{reverts}")
        journal.set_state(int(reverts), "reverted")
    else:
        journal.set_state(entry, "written")


def write_plan(plan: Sequence[PlannedChange], journal: TagJournal, *,
               progress: Progress | None = None,
               cancel: CancelFlag | None = None) -> TagSummary:
    """Write every planned change; each file is checked again right before its write."""
    summary = TagSummary(batch=journal.next_batch())
    todo = [c for c in plan if c.writes]
    for i, change in enumerate(todo):
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        if progress is not None:
            progress(i, len(todo), change.file)
        _, refuse = _check_file(change.path, change.content_hash or None)
        if refuse:
            summary.skipped.append((change.file, refuse))
            continue
        assert change.new is not None
        new = RawGenre(change.new, True, change.raw_old.had_tags, change.raw_old.id3_version)
        try:
            _write_one(journal, summary.batch, change.path, change.kind, change.raw_old, new,
                       change.content_hash)
        except (TagError, OSError) as exc:
            summary.failed.append((change.file, str(exc)))
            continue
        summary.written += 1
    if progress is not None and not summary.cancelled:
        progress(len(todo), len(todo), "")
    return summary


def undo(journal: TagJournal, *, batch: int | None = None, progress: Progress | None = None,
         cancel: CancelFlag | None = None) -> TagSummary:
    """Put back the old genre fields of the written entries (of one batch, or all), newest
    first, so a file written twice returns to its very first state."""
    recover(journal)
    summary = TagSummary(batch=journal.next_batch())
    entries: list[JournalEntry] = journal.entries(states=("written",), batch=batch)[::-1]
    for i, entry in enumerate(entries):
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        if progress is not None:
            progress(i, len(entries), Path(entry.path).name)
        # The latest hash we know is the one our last write (or undo) left, so a file changed
        # by anyone else since is refused.
        current, refuse = _check_file(entry.path, journal.known_hash(entry.path))
        if refuse:
            refuse = refuse.replace("since it was analysed", "since it was tagged")
            summary.skipped.append((Path(entry.path).name, refuse))
            continue
        try:
            _write_one(journal, summary.batch, entry.path, entry.kind, entry.new, entry.old,
                       current, reverts=entry.id)
        except (TagError, OSError) as exc:
            summary.failed.append((Path(entry.path).name, str(exc)))
            continue
        summary.written += 1
    if progress is not None and not summary.cancelled:
        progress(len(entries), len(entries), "")
    return summary


@dataclass(frozen=True)
class UndoStep:
    """What Edit > Undo would undo: the newest write batch of a run that is not undone yet."""

    store_path: Path
    batch: int
    files: int
    at: float

    @property
    def label(self) -> str:
        return f"Undo writing genres to {self.files} file{'s' if self.files != 1 else ''}"


def undo_step(store_path: str | Path) -> UndoStep | None:
    """Read from the run's journal, so it outlives the process that wrote the tags."""
    with TagJournal(store_path) as journal:
        last = journal.last_write()
    return None if last is None else UndoStep(Path(store_path), *last)


def tag_run_for_folder(folder: str | Path) -> Path | None:
    """The run of `folder` whose tags were written last and not undone (what Undo means after
    a restart), else the folder's newest run; None when it has no run."""
    from genre_desktop.core.runs import past_runs

    runs = past_runs(folder)  # newest first
    steps = []
    for run in runs:
        with contextlib.suppress(sqlite3.Error, OSError):  # a damaged store: nothing to undo
            step = undo_step(run.path)
            if step is not None:
                steps.append(step)
    if steps:
        return max(steps, key=lambda s: s.at).store_path
    return Path(runs[0].path) if runs else None
