"""Choose the offline model honestly: stratified vs artist-grouped 10-fold accuracy per candidate.

GTZAN keeps one artist's songs in runs of consecutive ids, so random (stratified) folds put
near-copies of a test song in training and flatter every model. The grouped folds keep each
block of 10 consecutive ids of one genre together; the default model is picked by that figure
and by the calibration of the grouped out-of-fold probabilities: log-loss, expected calibration
error of the top confidence (10 bins), its spread (std: near 0 means the confidence says
nothing), and its mean over right and over wrong answers.

Run: .venv/bin/python benchmarks/bench_models.py [--reference TABLE] [--only ALGO ...]
"""

from __future__ import annotations

import argparse
import sys
import time

from genre_desktop.core import offline_model as om
from genre_desktop.core.reference import load_reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="labelled feature table (default: the shipped one)")
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args(argv)

    table = load_reference(args.reference)
    algos = args.only or list(om.CANDIDATES)
    print(f"reference: {table.source.name} ({len(table)} rows), {args.folds}-fold, seed {om.SEED}")
    print(f"{'candidate':<14} {'features':<11} {'stratified':>10} {'grouped':>8} {'±':>5} "
          f"{'logloss':>7} {'ECE':>5} {'conf sd':>7} {'c.right':>7} {'c.wrong':>7} "
          f"{'fit s':>6}  note")
    results = []
    t0 = time.perf_counter()
    for algo in algos:
        res = om.cross_validate(table, algo, args.folds)
        results.append(res)
        cand = om.CANDIDATES[algo]
        cal = res.calibration
        print(f"{algo:<14} {cand.feature_set:<11} {res.stratified:>10.3f} {res.grouped:>8.3f} "
              f"{res.grouped_std:>5.3f} {cal.log_loss:>7.3f} {cal.ece:>5.3f} {cal.top_std:>7.3f} "
              f"{cal.correct_mean:>7.3f} {cal.wrong_mean:>7.3f} {res.fit_seconds:>6.2f}  "
              f"{cand.note}", flush=True)
    best = max(results, key=lambda r: r.grouped)
    print(f"\nbest by grouped accuracy: {best.algo} ({best.grouped:.3f}); "
          f"shipped default: {om.DEFAULT_ALGO}; total {time.perf_counter() - t0:.0f} s")
    print("note: the grouped figure of the best of several candidates is a slightly optimistic "
          "estimate (it was also used to choose).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
