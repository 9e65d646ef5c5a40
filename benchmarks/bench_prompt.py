"""The hybrid prompt on the shared clips: size per level, build time, and what the few-shot
examples are worth as evidence.

For each clip the prompt is built from its extracted features (or, with --table-rows, from the
clip's row of the reference table), without telling the builder the clip's file name: the
self-match guard must keep the clip's own row out. Example agreement is the share of the five
examples that carry the clip's genre, with only the clip's own row left out and with its whole
artist block (ids 00000-00009 of its genre) left out, the honest figure for GTZAN.

Run: .venv/bin/python benchmarks/bench_prompt.py [--data ../shared/gtzan] [--table-rows]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

from genre_desktop.core.prompt import build_prompt, estimate_tokens
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import FEATURE_COLUMNS

LEVELS = ("brief", "standard", "detailed")


def _features(rows: list[dict[str, str]], data: Path, table_rows: bool) -> dict[str, dict]:
    table = load_reference()
    by_name = table.frame.set_index("filename")
    out: dict[str, dict] = {}
    if table_rows:
        for r in rows:
            name = Path(r["file"]).name
            out[name] = {c: float(by_name.loc[name, c]) for c in FEATURE_COLUMNS}
        return out
    from genre_desktop.core.features import extract_features

    for r in rows:
        out[Path(r["file"]).name] = dict(extract_features(data / r["file"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    default_data = os.environ.get("GENRE_DATA", str(here.parent / "shared" / "gtzan"))
    parser.add_argument("--data", default=default_data)
    parser.add_argument("--table-rows", action="store_true", help="skip extraction")
    args = parser.parse_args(argv)
    data = Path(args.data)
    with open(data / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    table = load_reference()
    feats = _features(rows, data, args.table_rows)
    source = "table rows" if args.table_rows else "extracted features"
    print(f"{len(feats)} shared clips, {source}; reference {table.source.name} ({len(table)} rows)")

    print(f"{'level':<9} {'tokens min':>10} {'median':>7} {'max':>6} {'chars median':>13} "
          f"{'ms/prompt':>9}")
    for level in LEVELS:
        tokens, chars = [], []
        t0 = time.perf_counter()
        for values in feats.values():
            msgs = build_prompt(values, table, level=level)
            tokens.append(estimate_tokens(msgs.full_text))
            chars.append(len(msgs.full_text))
        ms = 1000 * (time.perf_counter() - t0) / len(feats)
        print(f"{level:<9} {min(tokens):>10} {statistics.median(tokens):>7.0f} {max(tokens):>6} "
              f"{statistics.median(chars):>13.0f} {ms:>9.1f}")

    leaks = 0
    print(f"\n{'examples':<30} {'same genre':>10} {'majority right':>15}")
    for title, block in (("own row left out (guard)", False), ("artist block left out", True)):
        share, majority = [], 0
        for name, values in feats.items():
            genre = name.split(".")[0]
            refs = frozenset(f for f in table.filenames if f.startswith(f"{genre}.0000"))
            msgs = build_prompt(values, table, exclude_refs=refs if block else frozenset())
            leaks += name in msgs.examples
            labels = [table.labels[table.filenames == f][0] for f in msgs.examples]
            share.append(labels.count(genre) / len(labels))
            majority += max(set(labels), key=labels.count) == genre
        print(f"{title:<30} {statistics.mean(share):>10.2f} {majority / len(feats):>15.2f}")
    print(f"\nclips whose own row became an example: {leaks}")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
