"""Batch pipeline, end to end: 100 songs -> features -> classification -> store -> reports.

The 50 shared GTZAN clips, twice (copies), in a temporary GTZAN-layout folder. Run 1 classifies
with the Bedrock backend (real boto3 over HTTP) against the local wire-compatible server that
answers each Converse call after 1.5 s; run 2 with the offline model. Each run starts with a
cold feature cache in a temporary folder (numba's compiled kernels are kept, as in the app).
Goal: the Bedrock run under 60 s wall on 2 cores.

    .venv/bin/python benchmarks/bench_pipeline.py [--songs 100] [--workers 16] [--delay 1.5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the local Bedrock server lives with the tests


def make_songs(root: Path, count: int) -> Path:
    data = Path(os.environ.get("GENRE_DATA", REPO.parent / "shared" / "gtzan"))
    clips = sorted((data / "genres").glob("*/*.wav"))
    if not clips:
        sys.exit(f"No GTZAN clips under {data}/genres (set GENRE_DATA).")
    folder = root / "songs"
    for i in range(count):
        clip = clips[i % len(clips)]
        # Same file names in copy<N>/<genre>/: the offline model still leaves each song's own
        # table row out, and the folder still names the genre.
        dest = folder / f"copy{i // len(clips)}" / clip.parent.name / clip.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, dest)
    return folder


def run_once(label: str, folder: Path, settings, root: Path, cache: str | None = None) -> dict:
    from genre_desktop.core.features import extract_many
    from genre_desktop.core.pipeline import run_pipeline
    from genre_desktop.core.reports import write_reports
    from genre_desktop.core.runs import start_run

    # A cold feature cache for each run, unless told to reuse an earlier run's.
    os.environ["GENRE_DESKTOP_CACHE_DIR"] = str(root / f"cache-{cache or label}")
    marks: list[float] = []

    def timed_extract(paths, **kw):
        for item in extract_many(paths, **kw):
            marks.append(time.perf_counter())
            yield item

    t0 = time.perf_counter()
    prepared = start_run(folder, settings)
    with prepared.store as store:
        summary = run_pipeline(prepared.songs, prepared.backend, store, settings,
                               extract=timed_extract)
        wall_pipeline = time.perf_counter() - t0
        write_reports(store.results(), root / f"out-{label}", songs_asked=len(prepared.songs),
                      elapsed_s=store.elapsed_s())
    wall = time.perf_counter() - t0
    extract_span = (marks[-1] - t0) if marks else 0.0
    return {
        "label": label, "songs": summary.total, "done": summary.done, "errors": summary.errors,
        "wall": wall, "pipeline": wall_pipeline,
        "songs_per_min": 60 * summary.done / wall_pipeline,
        "extract_span": extract_span, "tail": wall_pipeline - extract_span,
        "extract_workers": settings.extract_workers or os.cpu_count() or 1,
        "classify_util": summary.classify_utilisation, "workers": settings.workers,
        "cost": summary.last.cost_usd if summary.last else 0.0,
        "accuracy": summary.last.accuracy if summary.last else None,
    }


def show(r: dict) -> None:
    acc = f"{r['accuracy']:.1%}" if r["accuracy"] is not None else "n/a"
    print(f"{r['label']}: {r['done']}/{r['songs']} songs ({r['errors']} failed) in "
          f"{r['pipeline']:.1f} s ({r['wall']:.1f} s with reports) = "
          f"{r['songs_per_min']:.0f} songs/min\n"
          f"          extraction pool ({r['extract_workers']} processes): last features handed "
          f"on at {r['extract_span']:.1f} s = {r['extract_span'] / r['songs']:.2f} s/song "
          f"(the classify queue holds back a cached run); tail after it {r['tail']:.1f} s\n"
          f"          classify pool {r['workers']} threads, {r['classify_util']:.0%} busy; "
          f"accuracy {acc}; cost ${r['cost']:.4f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=100)
    ap.add_argument("--workers", type=int, default=16, help="classification threads")
    ap.add_argument("--delay", type=float, default=1.5, help="server seconds per call")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    # Keep numba's compiled kernels where the app keeps them: a cold feature cache must not
    # also mean a minute of JIT compiling that no second run of the app would pay.
    import platformdirs

    os.environ.setdefault("NUMBA_CACHE_DIR",
                          str(Path(platformdirs.user_cache_dir("genre-desktop")) / "numba"))
    os.environ["GENRE_DESKTOP_DATA_DIR"] = str(root / "data")
    os.environ["GENRE_DESKTOP_CONFIG_DIR"] = str(root / "config")

    from bedrock_server import start_bedrock_server, throwaway_aws_env

    from genre_desktop.core.settings import Settings

    server = start_bedrock_server(delay_s=args.delay)
    for key, value in throwaway_aws_env(root, server.url).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        folder = make_songs(root, args.songs)
        print(f"{args.songs} songs (the shared clips, copied), server delay {args.delay} s per "
              f"call, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        bedrock = run_once("bedrock", folder, Settings(
            backend="bedrock", workers=args.workers, requests_per_minute=6000,
            tokens_per_minute=50_000_000), root)
        show(bedrock)
        print(f"          server answered {server.count()} Converse calls")
        local = run_once("offline", folder, Settings(backend="local", workers=2), root)
        show(local)
        calls = server.count()
        warm = run_once("bedrock, features cached", folder, Settings(
            backend="bedrock", workers=args.workers, requests_per_minute=6000,
            tokens_per_minute=50_000_000), root, cache="bedrock")
        show(warm)
        print(f"          server answered {server.count() - calls} Converse calls")
        floor = args.songs * args.delay / args.workers
        print(f"bedrock wall / goal (60 s): {bedrock['pipeline'] / 60:.2f}  "
              f"(floor from the server delay alone: {floor:.1f} s); "
              f"offline / bedrock wall: {local['pipeline'] / bedrock['pipeline']:.2f}; "
              f"bedrock with cached features / goal: {warm['pipeline'] / 60:.2f}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
