"""`genre-desktop report RUN`: write a stored run's reports (metrics, confusion matrix, plot).

A run stopped by Ctrl+C writes only tagged_songs.json and errors.log on its way out (the
metrics and plot need scikit-learn and matplotlib: seconds); this writes the full set from
the run store, without classifying anything, also while the run goes on elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="write a stored run's reports to bedrock_results/",
        description="Write the standard reports of a stored run (see classify --list-runs) "
        "to the folder it was started with, or to OUT/bedrock_results/.",
    )
    p.add_argument("run", metavar="RUN", help="the run's id (or its .sqlite file)")
    p.add_argument("--out", metavar="DIR", help="reports go to DIR/bedrock_results/")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.runs import report_run
    from genre_desktop.core.store import RunStore, StoreError

    try:
        store = RunStore.open(args.run)
    except StoreError as exc:
        print(f"genre-desktop report: {exc}", file=sys.stderr)
        return 2
    with store:
        try:
            paths = report_run(store, args.out)
        except OSError as exc:
            print(f"genre-desktop report: Cannot write the reports: {exc}", file=sys.stderr)
            return 1
    print(f"Reports: {paths['tagged_songs.json'].parent}")
    return 0
