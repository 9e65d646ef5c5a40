"""`genre-desktop tag RUN_ID`: write a run's genres into the song files (plan first, journalled).

Exit status: 0 when every planned write was made (or --dry-run), 1 when some files were
skipped at write time or failed, 2 when the run or the options cannot be used, 130 on Ctrl+C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

EXIT_SETUP = 2
EXIT_CANCELLED = 130


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tag",
        help="write a run's genres into the files (shows the plan first)",
        description="Write the genres of run RUN_ID into its song files: MP3 (ID3v2.3/2.4), "
        "FLAC, Ogg Vorbis, Opus, M4A, WAV and AIFF. Prints the plan (file, old genres, new "
        "genres), then writes it. Every write is journalled in the run store first, so "
        "'genre-desktop untag RUN_ID' restores the old tags and a stopped batch resumes when "
        "run again. Files changed since they were analysed, or read-only, are skipped; the "
        "decisions of 'genre-desktop review RUN_ID' are followed. Defaults "
        "come from the tag_* settings in settings.toml.",
    )
    p.add_argument("run", metavar="RUN_ID", help="a run id (see classify --list-runs)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    p.add_argument("--min-confidence", type=float, metavar="X",
                   help="leave songs whose confidence is below X (0-1) untagged")
    p.add_argument("--max-genres", type=int, metavar="N",
                   help="write the top genre plus the next ones above --threshold, N at most")
    p.add_argument("--threshold", type=float, metavar="P",
                   help="probability a 2nd..Nth genre needs (0-1)")
    p.add_argument("--mode", choices=("replace", "add", "empty"),
                   help="replace the genres, add to them, or fill only files with none")
    p.add_argument("--vocabulary", choices=("gtzan", "tags", "both"),
                   help="the GTZAN labels, the audio tagger's genre tags, or both")
    p.add_argument("--skip-tagged", action="store_true", default=None,
                   help="leave files an earlier tag of this run already wrote")
    p.add_argument("--only-reviewed", action="store_true",
                   help="tag only the songs 'genre-desktop review' accepted or corrected")
    p.add_argument("--all", action="store_true",
                   help="list the files left alone too (default: only the first 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _fail(message: str) -> int:
    print(f"genre-desktop tag: {message}", file=sys.stderr)
    return EXIT_SETUP


def _genres(values: Any) -> str:
    return "; ".join(values) if values else "(none)"


def print_plan(plan: list[Any], *, show_all: bool) -> None:
    writes = [c for c in plan if c.writes]
    left = [c for c in plan if not c.writes]
    for c in writes:
        note = f"  [{c.reason}]" if c.reason else ""
        print(f"  {c.file}: {_genres(c.old)} -> {_genres(c.new)}{note}")
    shown = left if show_all else left[:20]
    for c in shown:
        print(f"  {c.file}: left alone: {c.reason}")
    if len(shown) < len(left):
        print(f"  ... and {len(left) - len(shown)} more left alone (--all lists them)")
    print(f"Plan: {len(writes)} files to write, {len(left)} left alone.")


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.settings import SettingsError, load_settings
    from genre_desktop.core.store import RunStore, StoreError
    from genre_desktop.core.tag_journal import TagJournal
    from genre_desktop.core.tag_policy import PolicyError, policy_from_settings
    from genre_desktop.core.tagging import TagBusy, plan_tags, tag_lock, write_plan

    try:
        policy = policy_from_settings(
            load_settings(), max_genres=args.max_genres, min_confidence=args.min_confidence,
            threshold=args.threshold, mode=args.mode, vocabulary=args.vocabulary,
            skip_tagged=args.skip_tagged)
        # The journal is written into the run store: one writer per run, as for a --resume
        # (RunInUse says who holds it). A dry run only reads.
        store = RunStore.open(args.run, writer=not args.dry_run)
    except (SettingsError, PolicyError, StoreError) as exc:
        return _fail(str(exc))
    with store, TagJournal(store.path) as journal:
        try:
            with tag_lock(store.path):
                return _plan_and_write(store, journal, policy, args, plan_tags, write_plan)
        except TagBusy as exc:
            return _fail(str(exc))


def _plan_and_write(store: Any, journal: Any, policy: Any, args: argparse.Namespace,
                    plan_tags: Any, write_plan: Any) -> int:
    results = store.results()
    plan = plan_tags(results, journal, policy, only_reviewed=args.only_reviewed)
    print(f"Run {store.run_id}: {len(results)} songs; mode {policy.mode}, at most "
          f"{policy.max_genres} genre(s), minimum confidence {policy.min_confidence:.2f}")
    print_plan(plan, show_all=args.all)
    if args.dry_run or not any(c.writes for c in plan):
        return 0
    return _write(plan, journal, args, store.run_id, write_plan)


def run_with_progress(fn: Any, total: int, no_progress: bool, *args: Any) -> Any:
    """Call fn(*args, progress=..., cancel=...) with a tqdm bar; Ctrl+C cancels after the
    file in hand (a second Ctrl+C stops at once: the journal settles that file next time)."""
    from tqdm import tqdm

    cancel = threading.Event()

    def on_sigint(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nStopping after this file (Ctrl+C again to stop now)...", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    bar = tqdm(total=total, unit="file", disable=no_progress, dynamic_ncols=True,
               file=sys.stderr)

    def progress(done: int, _total: int, name: str) -> None:
        bar.n = done
        bar.set_postfix_str(name[:40], refresh=False)
        bar.refresh()

    try:
        return fn(*args, progress=progress, cancel=cancel)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous)


def print_summary(summary: Any, verb: str) -> None:
    print(f"{verb} {summary.written} files.")
    for name, why in summary.skipped:
        print(f"  SKIPPED {name}: {why}")
    for name, why in summary.failed:
        print(f"  FAILED {name}: {why}")


def _write(plan: list[Any], journal: Any, args: argparse.Namespace, run_id: str,
           write_plan: Any) -> int:
    todo = sum(1 for c in plan if c.writes)
    try:
        summary = run_with_progress(write_plan, todo, args.no_progress, plan, journal)
    except KeyboardInterrupt:
        print(f"Stopped. Run 'genre-desktop tag {run_id}' again to finish, or "
              f"'genre-desktop untag {run_id}' to undo.", file=sys.stderr)
        return EXIT_CANCELLED
    print_summary(summary, "Wrote")
    print(f"Undo with: genre-desktop untag {run_id}")
    if summary.cancelled:
        print(f"Cancelled. Run 'genre-desktop tag {run_id}' again to finish.")
        return EXIT_CANCELLED
    return 1 if summary.skipped or summary.failed else 0
