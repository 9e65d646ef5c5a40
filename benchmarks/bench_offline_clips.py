"""The offline model on real audio: the 50 shared clips, excerpts, and long songs.

0. The tagger model (the default when musicnn is installed), every candidate, end to end: each
   clip is extracted (58 features + tagger), then classified by the default cross-fitted
   LocalBackend. The shipped tagger reference holds these 50 clips, so each clip matches its
   own row and is classified by the fold model that left it out: the one trained on ids 0-2
   classifies ids 3-4 and the one trained on ids 3-4 classifies ids 0-2. No song is ever in
   its own training; the same artists are (GTZAN ids 0-4 of a genre are mostly one artist),
   so this measures unseen excerpts, not unseen artists.
The 58-feature models below are trained without ids 00000-00009 (the shared clips are ids
00000-00004 and their rows are in the Kaggle table). Reported:
1. accuracy per candidate on the shared clips, full 30 s clips and 15-20 s excerpts apart;
2. excerpt robustness: the 14 full clips cut to their first 10 and 15 s, against the full clip;
3. long songs: each genre's clips joined into one 80-100 s song, judged by its 30 s windows
   (mean log-probability) versus by whole-song features.

Run: .venv/bin/python benchmarks/bench_offline_clips.py [--only ALGO ...] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np


def held_out(name: str) -> bool:
    return int(name.split(".")[1]) < 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("GENRE_DATA", "../shared/gtzan"))
    parser.add_argument("--only", nargs="*", help="58-feature candidates (default: all)")
    parser.add_argument("--tagger-only", action="store_true", help="section 0 only")
    args = parser.parse_args(argv)

    import soundfile as sf

    from genre_desktop.core import offline_model as om
    from genre_desktop.core import offline_tagger as ot
    from genre_desktop.core.backends.local import LocalBackend
    from genre_desktop.core.features import features_from_signal, tag_song, window_features
    from genre_desktop.core.types import SongFeatures

    root = Path(args.data)
    with open(root / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    t0 = time.perf_counter()
    audio = {r["file"]: sf.read(root / r["file"], dtype="float32")[0] for r in rows}
    songs = {f: SongFeatures(f, features_from_signal(y), len(y) / 22050, len(y) / 22050)
             for f, y in audio.items()}
    print(f"extracted {len(songs)} clips in {time.perf_counter() - t0:.0f} s")

    tagged = {f: SongFeatures(f, s.features, s.duration_s, s.analysed_s,
                              tagger=tag_song(audio[f], 22050)) for f, s in songs.items()}
    if LocalBackend().tagger_table is not None:
        print("\n0. tagger model, cross-fitted on the shipped 50-clip reference "
              "(train ids 0-2 -> test 3-4, train 3-4 -> test 0-2)")
        print(f"{'candidate':<18} {'all':>7} {'test 3-4':>9} {'test 0-2':>9} {'full':>7} "
              f"{'excerpt':>8} {'mean conf':>9}")
        for cand in ot.TAGGER_CANDIDATES:
            backend = LocalBackend(tagger_candidate=cand)
            got = {r["file"]: backend.classify(tagged[r["file"]]) for r in rows}
            ok = {r["file"]: getattr(got[r["file"]], "predicted_genre", None) == r["genre"]
                  for r in rows}
            late = [ok[r["file"]] for r in rows if int(r["file"].split(".")[1]) >= 3]
            early = [ok[r["file"]] for r in rows if int(r["file"].split(".")[1]) <= 2]
            full = [ok[r["file"]] for r in rows if r["clip"] == "full"]
            cut = [ok[r["file"]] for r in rows if r["clip"] != "full"]
            conf = np.mean([getattr(p, "confidence", 0.0) for p in got.values()])
            mark = " (default)" if cand == ot.DEFAULT_TAGGER_CANDIDATE else ""
            print(f"{cand:<18} {sum(ok.values()):>3}/{len(ok):<3} {sum(late):>4}/{len(late):<4} "
                  f"{sum(early):>4}/{len(early):<4} {sum(full):>3}/{len(full):<3} "
                  f"{sum(cut):>4}/{len(cut):<3} {conf:>9.2f}{mark}", flush=True)
    else:
        print("\n0. tagger model skipped: musicnn or the tagger reference is not installed")

    if args.tagger_only:
        return 0
    print("\n1. shared clips, ids 00000-00009 left out of training")
    print(f"{'candidate':<14} {'all':>7} {'full':>7} {'excerpt':>8} {'mean conf':>9}")
    for algo in args.only or list(om.CANDIDATES):
        backend = LocalBackend(exclude_from_training=held_out, algo=algo, tagger_candidate=None)
        hits: dict[str, list[bool]] = {"full": [], "truncated": []}
        confs = []
        for r in rows:
            pred = backend.classify(songs[r["file"]])
            hits[r["clip"]].append(pred.predicted_genre == r["genre"])
            confs.append(pred.confidence)
        every = hits["full"] + hits["truncated"]
        mark = " (default)" if algo == om.DEFAULT_ALGO else ""
        print(f"{algo:<14} {sum(every):>3}/{len(every):<3} {sum(hits['full']):>3}/"
              f"{len(hits['full']):<3} {sum(hits['truncated']):>4}/{len(hits['truncated']):<3} "
              f"{np.mean(confs):>9.2f}{mark}", flush=True)

    backend = LocalBackend(exclude_from_training=held_out, tagger_candidate=None)
    full = [r for r in rows if r["clip"] == "full"]
    print(f"\n2. excerpts of the {len(full)} full clips ({om.DEFAULT_ALGO})")
    base = {r["file"]: backend.classify(songs[r["file"]]).predicted_genre for r in full}
    print(f"   30 s: {sum(base[r['file']] == r['genre'] for r in full)}/{len(full)} right")
    for secs in (15, 10):
        right = same = 0
        for r in full:
            y = audio[r["file"]][: secs * 22050]
            cut = SongFeatures(r["file"], features_from_signal(y), secs, secs)
            genre = backend.classify(cut).predicted_genre
            right += genre == r["genre"]
            same += genre == base[r["file"]]
        print(f"   first {secs} s: {right}/{len(full)} right, {same}/{len(full)} same answer "
              f"as the full clip")

    print(f"\n3. long songs: one per genre, its 5 clips joined ({om.DEFAULT_ALGO})")
    by_windows = by_whole = 0
    genres = sorted({r["genre"] for r in rows})
    for genre in genres:
        y = np.concatenate([audio[r["file"]] for r in rows if r["genre"] == genre])
        wins = window_features(y, 22050, 30.0)
        whole = features_from_signal(y)
        song = SongFeatures("long", whole, len(y) / 22050, len(y) / 22050, windows=wins)
        a = backend.classify(song).predicted_genre
        b = backend.classify(SongFeatures("long", whole, song.duration_s, song.analysed_s))
        by_windows += a == genre
        by_whole += b.predicted_genre == genre
    print(f"   by 30 s windows: {by_windows}/{len(genres)} right; "
          f"by whole-song features: {by_whole}/{len(genres)} right")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
