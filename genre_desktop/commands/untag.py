"""`genre-desktop untag RUN_ID`: put back the genre tags `tag RUN_ID` replaced, from its journal."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_SETUP = 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "untag",
        help="restore the genre tags a 'tag' of this run replaced",
        description="Restore, from the run's journal, the exact genre fields every "
        "'genre-desktop tag RUN_ID' write replaced, newest first. A file changed since it was "
        "tagged, or read-only, is skipped and listed.",
    )
    p.add_argument("run", metavar="RUN_ID", help="a run id")
    p.add_argument("--last", action="store_true", help="undo only the latest batch of writes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.store import RunStore, StoreError
    from genre_desktop.core.tag_journal import TagJournal
    from genre_desktop.core.tagging import TagBusy, recover, tag_lock, undo

    try:
        store = RunStore.open(args.run, writer=True)  # one writer per run (RunInUse: refused)
    except StoreError as exc:
        print(f"genre-desktop untag: {exc}", file=sys.stderr)
        return EXIT_SETUP
    with store, TagJournal(store.path) as journal:
        try:
            with tag_lock(store.path):
                return _undo(store, journal, args, recover, undo)
        except TagBusy as exc:
            print(f"genre-desktop untag: {exc}", file=sys.stderr)
            return EXIT_SETUP


def _undo(store: Any, journal: Any, args: argparse.Namespace, recover: Any, undo: Any) -> int:
    from genre_desktop.commands.tag import EXIT_CANCELLED, print_summary, run_with_progress

    recover(journal)
    batch = journal.last_batch_with_writes() if args.last else None
    todo = len(journal.entries(states=("written",), batch=batch))
    if not todo:
        print(f"Run {store.run_id}: no tag writes to undo.")
        return 0
    try:
        summary = run_with_progress(lambda **kw: undo(journal, batch=batch, **kw), todo,
                                    args.no_progress)
    except KeyboardInterrupt:
        print(f"Stopped. Run 'genre-desktop untag {store.run_id}' again to finish.",
              file=sys.stderr)
        return EXIT_CANCELLED
    print_summary(summary, "Restored")
    if summary.cancelled:
        return EXIT_CANCELLED
    return 1 if summary.skipped or summary.failed else 0
