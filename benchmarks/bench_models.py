"""Choose the offline model honestly: stratified vs artist-grouped 10-fold accuracy per candidate.

GTZAN keeps one artist's songs in runs of consecutive ids, so random (stratified) folds put
near-copies of a test song in training and flatter every model. The grouped folds keep each
block of 10 consecutive ids of one genre together; the default model is picked by that figure
and by the calibration of the grouped out-of-fold probabilities: log-loss, expected calibration
error of the top confidence (10 bins), its spread (std: near 0 means the confidence says
nothing), and its mean over right and over wrong answers.

With a reference that holds the tagger's output (`genre-desktop reference build`; the shipped
resources/gtzan_shared_tagger.csv by default), the tagger model's candidates (embeddings, tags,
58 features, alone and together) are scored on the folds the cross-fitted model uses
(offline_tagger.fold_of: consecutive blocks per label, about one artist per block in a full
GTZAN table; on the 50 shared clips ids 0-2 and 3-4): accuracy per fold and overall.

Run: .venv/bin/python benchmarks/bench_models.py [--reference TABLE] [--only ALGO ...]
     .venv/bin/python benchmarks/bench_models.py --tagger-only [--tagger-reference TABLE]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from genre_desktop.core import offline_model as om
from genre_desktop.core import offline_tagger as ot
from genre_desktop.core.reference import ReferenceTable, load_reference, tagger_table_path


def tagger_candidates(table: ReferenceTable) -> None:
    """Every tagger candidate on the cross-fitting folds of `table` (trained on the others)."""
    folds = ot.fold_of(table)
    fold = np.array([folds[str(n)] for n in table.filenames])
    k = int(fold.max()) + 1
    print(f"\ntagger candidates on {table.source.name} ({len(table)} rows), {k} folds "
          f"(consecutive blocks per label), logistic regression C={ot.LOGREG_C}")
    print(f"{'candidate':<14} {'all':>7}  " + "  ".join(f"fold {f} out" for f in range(k)))
    for cand in ot.TAGGER_CANDIDATES:
        right = np.zeros(len(table), dtype=bool)
        for f in range(k):
            model = ot.train_tagger(table, cand, tuple(table.filenames[fold == f]))
            X = ot.table_inputs(table, ot.TAGGER_CANDIDATES[cand])[fold == f]
            right[fold == f] = model.estimator.predict(X) == table.labels[fold == f]
        per = "  ".join(f"{right[fold == f].sum():>4}/{(fold == f).sum():<5}" for f in range(k))
        mark = " (default)" if cand == ot.DEFAULT_TAGGER_CANDIDATE else ""
        print(f"{cand:<14} {right.mean():>7.3f}  {per}{mark}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="labelled feature table (default: the shipped one)")
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--tagger-reference", help="table with tagger output "
                        "(default: resources/gtzan_shared_tagger.csv)")
    parser.add_argument("--tagger-only", action="store_true", help="skip the 58-feature models")
    args = parser.parse_args(argv)

    tagged = load_reference(args.tagger_reference or tagger_table_path())
    if tagged.has_tagger:
        tagger_candidates(tagged)
    if args.tagger_only:
        return 0

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
