"""`genre-desktop reference build DIR -o TABLE.csv`: a labelled reference table from audio.

DIR is a labelled folder tree (`<label>/<song>`, e.g. a GTZAN download's `genres/`): each song
gets a row with its file name, the 58 features, the tagger's 100 tag probabilities and 400
embedding values (when the musicnn weights are installed), and its folder's name as label.
Use the table with `classify --reference TABLE.csv` or the `reference` setting.
Exit status: 0 all songs done, 1 some failed (the table holds the rest), 2 nothing written.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "reference",
        help="build a labelled reference table (features + tagger output) from a folder tree",
        description="Build a reference table from a labelled folder tree (<label>/<song>).",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="extract every song under DIR into a reference table")
    b.add_argument("folder", metavar="DIR", help="labelled folder tree: DIR/<label>/<song>")
    b.add_argument("-o", "--output", metavar="CSV", required=True, help="the table to write")
    b.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: one per CPU core)")
    b.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="analyse at most the first S seconds of each song (default: 120)")
    b.add_argument("--no-tagger", action="store_true",
                   help="the 58 features only, even when the tagger is installed")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run)
    return p


def labelled_songs(folder: Path) -> list[tuple[str, str]]:
    """(path, label) of every song in a sub-folder of `folder`; the label is that sub-folder."""
    from genre_desktop.core.songs import discover_songs

    out = []
    for song in discover_songs(folder):
        rel = Path(song.path).relative_to(folder)
        if len(rel.parts) >= 2:
            out.append((song.path, rel.parts[0]))
    return out


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from genre_desktop.core import tagger
    from genre_desktop.core.features import extract_many
    from genre_desktop.core.settings import Settings
    from genre_desktop.core.types import FEATURE_COLUMNS, SongError

    folder = Path(args.folder).expanduser().resolve()
    if not folder.is_dir():
        print(f"{args.folder} is not a folder.", file=sys.stderr)
        return 2
    songs = labelled_songs(folder)
    if len({label for _, label in songs}) < 2:
        print(f"{args.folder} needs songs in at least two label folders (DIR/<label>/<song>).",
              file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("--workers must be 1 or more.", file=sys.stderr)
        return 2
    max_seconds = args.max_seconds if args.max_seconds is not None else Settings().max_seconds
    if not 0 < max_seconds < float("inf"):
        print("--max-seconds must be more than 0.", file=sys.stderr)
        return 2
    out = Path(args.output).expanduser().absolute()
    if out.is_dir() or not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        print(f"Cannot write {args.output}.", file=sys.stderr)
        return 2
    use_tagger = tagger.available() and not args.no_tagger
    if not use_tagger and not args.no_tagger:
        print("note: the tagger is not installed (pip install --no-deps musicnn==0.1.0): "
              "the table holds the 58 features only.", file=sys.stderr)

    labels = dict(songs)
    results: dict[str, Any] = {}
    bar = tqdm(total=len(songs), unit="song", file=sys.stderr, disable=args.quiet,
               desc="reference")
    for path, result in extract_many(list(labels), workers=args.workers,
                                     max_seconds=max_seconds):
        results[path] = result
        bar.update(1)
    bar.close()

    columns = ["filename", *FEATURE_COLUMNS, *(tagger.TAGGER_COLUMNS if use_tagger else ()),
               "label"]
    rows, failed = [], []
    for path, _ in songs:
        res = results.get(path)
        if res is None or isinstance(res, SongError) or (use_tagger and not res.tagger):
            failed.append((path, getattr(res, "message", "no tagger output")))
            continue
        row: dict[str, object] = {"filename": Path(path).name, "label": labels[path]}
        row.update({c: repr(float(res.features[c])) for c in FEATURE_COLUMNS})
        if use_tagger:
            row.update({c: f"{v:.7g}" for c, v in tagger.as_row(res.tagger).items()})
        rows.append(row)
    if not rows:
        print("No song could be analysed: nothing written.", file=sys.stderr)
        return 2
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)
    print(f"{len(rows)} of {len(songs)} song(s) in {out}; {len(failed)} failed.",
          file=sys.stderr)
    for path, why in failed:
        print(f"  {Path(path).name}: {why}", file=sys.stderr)
    return 1 if failed else 0
