"""`genre-desktop download [--to DIR]`: fetch the GTZAN collection from Kaggle with kagglehub.

The dataset code lives in core.dataset (the app calls it too); this is the command around it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from genre_desktop.core.dataset import (  # noqa: F401  (the messages are part of the command)
    KAGGLE_DATASET,
    MSG_NO_CREDENTIALS,
    MSG_NO_KAGGLEHUB,
    MSG_NO_NETWORK,
    DownloadError,
    download_gtzan,
    genres_folder,
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "download", help="download the GTZAN collection from Kaggle (kagglehub)",
        description=f"Download the GTZAN dataset ({KAGGLE_DATASET}) with kagglehub.",
    )
    p.add_argument("--to", metavar="DIR",
                   help="put the files in DIR (default: kagglehub's cache folder)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        root = download_gtzan(args.to)
    except DownloadError as exc:
        print(f"genre-desktop download: {exc}", file=sys.stderr)
        return 1
    songs = genres_folder(root)
    print(f"GTZAN is in {root}\nClassify it with: genre-desktop classify {songs}")
    return 0
