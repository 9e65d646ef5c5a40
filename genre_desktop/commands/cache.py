"""`genre-desktop cache info|clear`: look at or empty the feature cache."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "cache", help="show or clear the feature cache",
        description="The feature cache keeps extracted features per file content and "
        "extractor version, so a second pass over the same songs is fast.",
    )
    p.add_argument("action", choices=("info", "clear"),
                   help="info: where and how big; clear: empty it")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.cache import FeatureCache
    from genre_desktop.core.features import EXTRACTOR_VERSION

    with FeatureCache() as cache:
        if args.action == "clear":
            removed = cache.clear()
            print(f"Cleared the feature cache: {removed} entr{'y' if removed == 1 else 'ies'} "
                  f"removed ({cache.path}).")
            return 0
        info = cache.info()
    print(f"Feature cache: {info['path']}")
    print(f"Entries: {info['entries']} ({info['extractor_versions']} extractor version(s))")
    print(f"Size: {info['size_bytes'] / 1024:.1f} KiB")
    print(f"Current extractor: {EXTRACTOR_VERSION}")
    return 0
