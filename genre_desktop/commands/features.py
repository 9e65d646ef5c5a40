"""`genre-desktop features PATH... [-o CSV] [--workers N]`: the 58 features of many songs as CSV.

Files and folders (searched recursively) are accepted. The CSV has the reference table's columns:
filename, the 58 features, and label (the parent folder's name when it is a genre, else empty).
A progress bar goes to stderr, and a summary of the files that failed and why at the end.
Exit status: 0 all files done, 1 some files failed, 2 nothing to do; stopped by a signal
(Ctrl+C, SIGTERM, SIGHUP) it writes the files done so far and exits 128 + the signal: 130, 143,
129.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any

from genre_desktop.commands.stop_signals import StopSignals


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "features",
        help="extract the 58 GTZAN features of songs into a CSV",
        description="Extract the 58 features of the Kaggle GTZAN table from audio files "
        "(WAV, AU, FLAC, OGG, OPUS, MP3, M4A, AIFF) and folders of them.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (recursive)")
    p.add_argument("-o", "--output", metavar="CSV", help="write the table here (default: stdout)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: one per CPU core)")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="analyse at most the first S seconds of each file (default: 600)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="extract on a Dask cluster, e.g. tcp://host:8786 (needs dask.distributed)")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not fill the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def collect_paths(args_paths: list[str]) -> list[str]:
    """Files as given, folders expanded to the audio files under them; each path once."""
    from genre_desktop.core.songs import discover_songs

    seen: dict[str, None] = {}
    for raw in args_paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for song in discover_songs(path):
                seen.setdefault(song.path, None)
        else:
            seen.setdefault(str(path.resolve()) if path.exists() else str(path), None)
    return list(seen)


def _output_problem(output: str, inputs: list[str]) -> str | None:
    path = Path(output).expanduser().absolute()
    if path.is_dir():
        return "it is a folder."
    if path.exists() and any(Path(p).exists() and path.samefile(p) for p in inputs):
        return "it is one of the songs to read; it would be overwritten by the table."
    if not path.parent.is_dir():
        return f"{path.parent} is not a folder."
    if not os.access(path.parent, os.W_OK):
        return f"{path.parent} is not writable."
    return None


def _write_rows(out: IO[str], rows: list[dict[str, object]]) -> None:
    from genre_desktop.core.types import FEATURE_COLUMNS

    writer = csv.DictWriter(out, fieldnames=["filename", *FEATURE_COLUMNS, "label"],
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)


def _write_atomically(path: Path, rows: list[dict[str, object]]) -> None:
    """The whole table into a temporary file beside `path`, then renamed over it: a failure
    (a full disk) leaves no half table and the previous file intact."""
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            _write_rows(fh, rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from genre_desktop.core._feature_batch import extract_many
    from genre_desktop.core.features import DEFAULT_MAX_SECONDS
    from genre_desktop.core.songs import genre_from_path
    from genre_desktop.core.types import FEATURE_COLUMNS, SongError

    paths = collect_paths(args.paths)
    if not paths:
        print("No audio files found in the given paths.", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("--workers must be 1 or more.", file=sys.stderr)
        return 2
    if args.max_seconds is not None and not 0 < args.max_seconds < float("inf"):
        print("--max-seconds must be more than 0.", file=sys.stderr)
        return 2
    problem = _output_problem(args.output, paths) if args.output else None
    if problem:  # found before the extraction, not after it
        print(f"Cannot write {args.output}: {problem}", file=sys.stderr)
        return 2
    max_seconds = args.max_seconds if args.max_seconds is not None else DEFAULT_MAX_SECONDS
    from genre_desktop.core.dask_cluster import ClusterError, open_executor

    try:
        executor = open_executor(getattr(args, "cluster", None))
    except ClusterError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    order = {p: i for i, p in enumerate(paths)}
    results: dict[str, Any] = {}
    bar = tqdm(total=len(paths), unit="song", file=sys.stderr, disable=args.quiet,
               desc="features")
    cancel = threading.Event()
    # Ctrl+C, SIGTERM and SIGHUP: stop starting files, write the finished ones, exit 128+signal.
    with StopSignals(cancel, "Interrupted; writing what is done.") as stop:
        try:
            for path, result in extract_many(paths, workers=args.workers,
                                             max_seconds=max_seconds, cancel=cancel,
                                             use_cache=not args.no_cache, executor=executor):
                results[path] = result
                bar.update(1)
        except KeyboardInterrupt:  # a second signal
            cancel.set()
        finally:
            bar.close()
            if executor is not None:
                executor.close()

    rows: list[dict[str, object]] = []
    errors: list[SongError] = []
    notes: list[str] = []
    for path in sorted(results, key=order.__getitem__):
        result = results[path]
        if isinstance(result, SongError):
            errors.append(result)
            continue
        row: dict[str, object] = {"filename": Path(path).name}
        row.update({c: repr(float(result.features[c])) for c in FEATURE_COLUMNS})
        row["label"] = genre_from_path(path) or ""
        rows.append(row)
        if result.note:
            notes.append(f"{Path(path).name}: {result.note}")

    if args.output:
        try:
            _write_atomically(Path(args.output), rows)
        except OSError as exc:  # a full disk: the previous file, if any, is left as it was
            print(f"Cannot write {args.output}: {exc.strerror or exc}; nothing was changed.",
                  file=sys.stderr)
            return 2
    else:
        _write_rows(sys.stdout, rows)

    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    target = f" to {args.output}" if args.output else ""
    print(f"{len(rows)} of {len(paths)} file(s) done{target}; {len(errors)} failed.",
          file=sys.stderr)
    if errors:
        counts = Counter(e.reason for e in errors)
        print("Failures by reason: " + ", ".join(f"{r} {n}" for r, n in counts.most_common()),
              file=sys.stderr)
        for err in errors:
            print(f"  {err.reason}: {err.message}", file=sys.stderr)
    if cancel.is_set():
        return stop.exit_status
    return 1 if errors else 0
