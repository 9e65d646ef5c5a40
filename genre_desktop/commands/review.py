"""`genre-desktop review RUN_ID`: the review of the app's Review tab, from the command line.

Without actions it lists the run's songs, the doubtful ones first (doubt: 1 - the gap between
the top two genres), with the decisions recorded so far. `--accept`, `--correct FILE=GENRE` and
`--reject` record decisions in the run's journal, which `tag RUN_ID` then follows (rejected:
left alone, corrected: the given genre, accepted: tagged whatever the minimum confidence).
Accepted and corrected songs become rows of your own reference at once (few-shot examples for
the next run) and the offline model is refitted on it; a rejected song leaves it.
Exit status: 0 done, 2 the run or a FILE cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_SETUP = 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "review",
        help="list a run's answers doubtful first; accept, correct or reject them",
        description="Review run RUN_ID before 'genre-desktop tag RUN_ID': list its answers "
        "(doubtful first), accept, correct or reject songs. FILE is a song's path, its path "
        "in the run's folder, or its file name when no other song of the run has it.",
    )
    p.add_argument("run", metavar="RUN_ID", help="a run id (see classify --list-runs)")
    p.add_argument("--accept", action="append", default=[], metavar="FILE",
                   help="the predicted genre is right (repeatable)")
    p.add_argument("--correct", action="append", default=[], metavar="FILE=GENRE",
                   help="the song's genre is GENRE (repeatable)")
    p.add_argument("--reject", action="append", default=[], metavar="FILE",
                   help="do not tag this song (repeatable)")
    p.add_argument("--accept-above", type=float, metavar="X",
                   help="accept every undecided song at least X confident (0-1)")
    p.add_argument("--no-learn", action="store_true",
                   help="record the decisions only: no rows for your reference, no refit")
    p.set_defaults(func=run)
    return p


def _fail(message: str) -> int:
    print(f"genre-desktop review: {message}", file=sys.stderr)
    return EXIT_SETUP


def find_song(results: list[Any], folder: str, name: str) -> Any:
    """The one result `name` means (path, path in the run's folder, or unique file name)."""
    by_path = {r.path: r for r in results}
    for candidate in (name, str(Path(folder) / name) if folder else name):
        hit = by_path.get(candidate) or by_path.get(str(Path(candidate).resolve()))
        if hit is not None:
            return hit
    hits = [r for r in results if Path(r.path).name == name]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ValueError(f"{len(hits)} songs of this run are named {name}: give its path")
    raise ValueError(f"no song of this run is {name}")


def print_review(results: list[Any], decisions: dict[str, Any], folder: str) -> None:
    from genre_desktop.core.tag_policy import doubt

    print(f"{'doubt':>5}  {'conf.':>5}  {'predicted':<10} {'review':<20} file")
    for r in sorted(results, key=lambda r: -doubt(r.prediction)):
        d = decisions.get(r.path)
        said = "" if d is None else (f"corrected: {d.genre}" if d.decision == "corrected"
                                     else d.decision)
        shown = r.path[len(folder) + 1:] if folder and r.path.startswith(folder + "/") else r.path
        print(f"{doubt(r.prediction):5.2f}  {r.prediction.confidence:5.2f}  "
              f"{r.prediction.predicted_genre:<10} {said:<20} {shown}")
    counts = {k: sum(d.decision == k for d in decisions.values())
              for k in ("accepted", "corrected", "rejected")}
    print(f"{len(results)} songs: {counts['accepted']} accepted, {counts['corrected']} "
          f"corrected, {counts['rejected']} rejected, "
          f"{len(results) - sum(counts.values())} to review.")


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.store import RunStore, StoreError
    from genre_desktop.core.tag_journal import TagJournal

    deciding = bool(args.accept or args.correct or args.reject
                    or args.accept_above is not None)
    try:
        # Decisions go into the run store's journal: one writer per run, as for tag.
        store = RunStore.open(args.run, writer=deciding)
    except StoreError as exc:
        return _fail(str(exc))
    with store, TagJournal(store.path) as journal:
        results = [r for r in store.results() if r.prediction is not None]
        folder = str(store.meta().get("folder", ""))
        try:
            chosen = _decisions(args, results, folder, journal.decisions())
        except ValueError as exc:
            return _fail(str(exc))
        for result, decision, genre in chosen:
            journal.set_decision(result.path, decision, genre)
        decisions = journal.decisions()
    if chosen:
        print(f"Recorded {len(chosen)} decisions; 'genre-desktop tag {store.run_id}' follows "
              "them.")
        if not args.no_learn:
            _learn(chosen)
    print_review(results, decisions, folder)
    return 0


def _decisions(args: argparse.Namespace, results: list[Any], folder: str,
               known: dict[str, Any]) -> list[tuple[Any, str, str | None]]:
    chosen: dict[str, tuple[Any, str, str | None]] = {}
    if args.accept_above is not None:
        for r in results:
            if r.path not in known and r.prediction.confidence >= args.accept_above:
                chosen[r.path] = (r, "accepted", None)
    for name in args.accept:
        r = find_song(results, folder, name)
        chosen[r.path] = (r, "accepted", None)
    for item in args.correct:
        name, sep, genre = item.rpartition("=")
        if not sep or not name or not genre.strip():
            raise ValueError(f"--correct takes FILE=GENRE, not {item!r}")
        r = find_song(results, folder, name)
        chosen[r.path] = (r, "corrected", genre.strip())
    for name in args.reject:
        r = find_song(results, folder, name)
        chosen[r.path] = (r, "rejected", None)
    return list(chosen.values())


def _learn(chosen: list[tuple[Any, str, str | None]]) -> None:
    """As the app's review does (in a child process there; here the command waits)."""
    from genre_desktop.core.settings import SettingsError, load_settings
    from genre_desktop.core.user_reference import forget, learn_from_review, retrain

    try:
        settings = load_settings()
    except SettingsError:
        settings = None
    if settings is not None and not settings.learn_from_review:
        return
    gone = [r.content_hash or r.path for r, d, _ in chosen if d == "rejected"]
    if gone:
        forget(gone)
    pairs = [(r, genre if d == "corrected" else r.prediction.predicted_genre)
             for r, d, genre in chosen if d != "rejected"]
    added = learn_from_review(pairs) if pairs else 0
    if gone or added:
        print(f"Your reference: {added} rows added or changed; refitting the offline model …")
        model = retrain(settings)
        if model:
            print(f"Offline model {model} is ready for the next run.")
