"""Feature extraction speed, measured side by side in one run, on the same real clips.

1. Single process: the plain librosa recipe (each librosa.feature call on its own,
   librosa.effects.hpss, librosa.beat.beat_track; `_plain_recipe`) against the project's
   extractor, file to features, after a warm-up, alternating which goes first per clip.
   Both are checked against the Kaggle table, so the speed is compared at the same fidelity.
2. Batch: extract_many with 2 worker processes against 1 (in process), no cache; the pool
   is started and warmed first, as the app keeps it for the session.
3. Cache: the same batch a second time, read from the SQLite cache.
4. Long file memory: the peak RSS of a fresh child process extracting one 12-minute 44.1 kHz
   stereo WAV (made with ffmpeg from a clip), analysed whole as before (one 600 s STFT, whole
   file read) against block by block, beside a child that only warms up (the baseline).

Usage: python benchmarks/bench_features.py [--data DIR] [--batch-files N] [--skip-long]
Both recipes run with one BLAS/OpenMP thread (BLAS_THREADS=n to change it).
The machine may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

# One thread everywhere, for both recipes, so the ratio compares algorithms, not thread counts
# (set before numpy loads; BLAS_THREADS=n overrides). The batch part adds processes instead.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BLAS_THREADS", "1"))

REPO = Path(__file__).resolve().parents[1]


def data_root(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("GENRE_DATA", REPO.parent / "shared" / "gtzan"))


def manifest_rows(root: Path) -> list[dict[str, str]]:
    with open(root / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["path"] = str(root / row["file"])
    return rows


def fidelity(results: dict[str, dict[str, float]]) -> tuple[float, int, int]:
    """Worst |difference| in column standard deviations, and exact length/tempo matches."""
    from genre_desktop.core.reference import load_reference
    from genre_desktop.core.types import FEATURE_COLUMNS

    table = load_reference().frame.set_index("filename")
    std = table.loc[:, list(FEATURE_COLUMNS)].std()
    worst, exact, total = 0.0, 0, 0
    for path, feats in results.items():
        row = table.loc[Path(path).name]
        for col in FEATURE_COLUMNS:
            if col in ("length", "tempo"):
                total += 1
                exact += int(feats[col] == row[col])
            else:
                worst = max(worst, abs(feats[col] - row[col]) / std[col])
    return worst, exact, total


def bench_single(clips: list[str]) -> None:
    import librosa

    from genre_desktop.core._plain_recipe import plain_features
    from genre_desktop.core.features import extract_features

    def plain(path: str) -> dict[str, float]:
        y, sr = librosa.load(path)  # the recipe's own loading: 22,050 Hz mono
        return plain_features(y, sr)

    print("warming up (numba JIT, imports, filter caches) ...", flush=True)
    plain(clips[0])
    extract_features(clips[0])

    t_plain = t_fast = 0.0
    out_plain: dict[str, dict[str, float]] = {}
    out_fast: dict[str, dict[str, float]] = {}
    for i, path in enumerate(clips):
        order = [("plain", plain), ("fast", extract_features)]
        if i % 2:
            order.reverse()
        for name, fn in order:
            start = time.perf_counter()
            feats = fn(path)
            elapsed = time.perf_counter() - start
            if name == "plain":
                t_plain += elapsed
                out_plain[path] = feats
            else:
                t_fast += elapsed
                out_fast[path] = feats
    n = len(clips)
    threads = os.environ["OPENBLAS_NUM_THREADS"]
    print(f"\n[1] single process, {threads} BLAS thread(s), {n} full 30 s clips, file to features")
    for label, total, results in (
        ("plain librosa recipe", t_plain, out_plain),
        ("project extractor", t_fast, out_fast),
    ):
        worst, exact, count = fidelity(results)
        print(f"  {label:22s} {total:7.2f} s  ({1000 * total / n:6.0f} ms/clip)  "
              f"worst column {worst:.2e} sd, length+tempo exact {exact}/{count}")
    print(f"  speed-up: {t_plain / t_fast:.2f}x")


def bench_batch(files: list[str]) -> None:
    from genre_desktop.core.features import extract_many

    def run(workers: int, use_cache: bool) -> float:
        start = time.perf_counter()
        errors = 0
        for _path, result in extract_many(files, workers=workers, use_cache=use_cache):
            errors += int(not hasattr(result, "features"))
        elapsed = time.perf_counter() - start
        if errors:
            print(f"  ({errors} file(s) failed)")
        return elapsed

    n = len(files)
    # The worker pool is started once per process and kept; start it outside the timings.
    start = time.perf_counter()
    for _ in extract_many(files[:2], workers=2, use_cache=False):
        pass
    pool_start = time.perf_counter() - start
    one = run(1, use_cache=False)
    two = run(2, use_cache=False)
    print(f"\n[2] batch of {n} files, no cache (pool start-up and 2 files: {pool_start:.1f} s, "
          "before timing)")
    print(f"  1 worker  {one:7.2f} s\n  2 workers {two:7.2f} s\n  speed-up: {one / two:.2f}x")

    first = run(2, use_cache=True)
    second = run(2, use_cache=True)
    print(f"\n[3] batch of {n} files with the cache (2 workers)")
    print(f"  first pass (computes, fills the cache) {first:7.2f} s")
    print(f"  second pass (reads the cache)          {second:7.2f} s")
    print(f"  speed-up: {first / second:.1f}x")


_PEAK_CHILD = """
import json, resource, sys
mode, path = sys.argv[1], sys.argv[2]
import numpy as np
from genre_desktop.core import _fast_spectral, audio, features
if mode == "whole":  # the analysis before issue 11: whole file, whole signal, one tempogram
    audio.LONG_S = features.LONG = _fast_spectral._TEMPO_CHUNK = float("inf")
features.features_from_signal(np.zeros(22050, dtype=np.float32))  # imports, kernels
if mode != "baseline":
    song = features.extract_song(path, use_cache=False)
    assert hasattr(song, "features"), song
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_long_file(clip: str) -> None:
    import json
    import subprocess

    folder = Path(tempfile.mkdtemp(prefix="bench-long-"))
    long_wav = folder / "twelve_minutes.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "24", "-i", clip, "-ac", "2",
                    "-ar", "44100", "-t", "720", str(long_wav)], check=True)
    peaks = {}
    for mode in ("baseline", "whole", "blocks"):
        out = subprocess.run([sys.executable, "-c", _PEAK_CHILD, mode, str(long_wav)],
                             capture_output=True, text=True, check=True, cwd=REPO)
        peaks[mode] = json.loads(out.stdout.splitlines()[-1])["peak_mib"]
    long_wav.unlink()
    print("\n[4] peak memory of one child process, 12-minute 44.1 kHz stereo WAV "
          "(first 600 s analysed)")
    print(f"  warmed-up extractor, no file  {peaks['baseline']:7.0f} MiB")
    print(f"  whole (before)                {peaks['whole']:7.0f} MiB")
    print(f"  block by block (now)          {peaks['blocks']:7.0f} MiB")
    print(f"  ratio: {peaks['whole'] / peaks['blocks']:.1f}x less; above the baseline "
          f"{peaks['whole'] - peaks['baseline']:.0f} -> {peaks['blocks'] - peaks['baseline']:.0f}"
          " MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="sample folder (default: GENRE_DATA or ../shared/gtzan)")
    parser.add_argument("--batch-files", type=int, default=50, help="files in the batch runs")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--skip-long", action="store_true")
    args = parser.parse_args()

    root = data_root(args.data)
    if not (root / "MANIFEST.tsv").is_file():
        print(f"GTZAN sample data not found at {root}", file=sys.stderr)
        return 2
    # Keep the numba cache where the app keeps it, but give the feature cache a fresh folder.
    from genre_desktop.core.resources import cache_dir

    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
    os.environ["GENRE_DESKTOP_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-features-")

    rows = manifest_rows(root)
    full = [r["path"] for r in rows if r["clip"] == "full"]
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPU(s), load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if not args.skip_single:
        bench_single(full)
    if not args.skip_batch:
        bench_batch([r["path"] for r in rows][: args.batch_files])
    if not args.skip_long:
        bench_long_file(full[0])
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
