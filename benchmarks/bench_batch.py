"""Large collections: a Bedrock batch job of 1,000 songs; extraction on a 2-worker Dask cluster.

Part 1, the batch path end to end on the local servers (moto's S3 in server mode and the batch
control plane of tests/bedrock_batch_server.py on the local Bedrock server), through the real
boto3 clients: 1,000 synthetic songs (0.1 s WAVs whose features are put in the feature cache
first, from the reference table's rows, so the prompts are real ones) -> prompts -> JSONL
upload -> CreateModelInvocationJob -> status polling -> join -> reports. Printed: wall time per
step, the cost estimate before submitting against the same tokens on demand, and the actual
cost from the output's usage.

Part 2, the shared GTZAN clips (cold, no cache) through the local process pool with 2 workers
and through a Dask LocalCluster with 2 worker processes, side by side: wall times and the ratio.

    .venv/bin/python benchmarks/bench_batch.py [--songs 1000] [--skip-dask]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the local servers live with the tests

ROLE = "arn:aws:iam::123456789012:role/GenreDesktopBatch"
MODEL = "amazon.nova-lite-v1:0"  # current, on demand by its bare ID (Claude 3 Haiku is retired)


def picked(heard: dict[str, list[dict]], row, i: int) -> dict:
    """The tagger output of a shipped clip of the row's genre ({} without the tagger)."""
    choices = heard.get(str(row["label"]), [])
    return choices[i % len(choices)] if choices else {}


def make_songs(folder: Path, count: int) -> None:
    import numpy as np
    import soundfile as sf
    from batch_helpers import tagger_rows

    from genre_desktop.core.cache import FeatureCache, file_sha256
    from genre_desktop.core.features import EXTRACTOR_VERSION, cache_settings
    from genre_desktop.core.reference import load_reference
    from genre_desktop.core.settings import Settings
    from genre_desktop.core.types import FEATURE_COLUMNS, SongFeatures

    table = load_reference().frame
    settings = cache_settings(Settings().max_seconds, 30.0)
    rng = np.random.default_rng(0)
    tagger, heard = tagger_rows()
    with FeatureCache() as cache:
        for i in range(count):
            row = table.iloc[i % len(table)]
            path = folder / str(row["label"]) / f"track{i:05d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, rng.uniform(-0.5, 0.5, 2205).astype(np.float32), 22050)
            # A little jitter: a song is near its table row but is not it.
            feats = {c: float(row[c]) * (1 + 0.01 * rng.standard_normal())
                     for c in FEATURE_COLUMNS}
            cache.put(SongFeatures(str(path), feats, duration_s=30.0, analysed_s=30.0,
                                   content_hash=file_sha256(path), tagger=picked(heard, row, i)),
                      EXTRACTOR_VERSION, settings, tagger)


def bench_batch(root: Path, count: int) -> None:
    from bedrock_batch_server import BatchControlPlane, start_s3_server
    from bedrock_server import start_bedrock_server, throwaway_aws_env

    from genre_desktop.core.batch_run import run_batch_job
    from genre_desktop.core.reports import write_reports
    from genre_desktop.core.runs import start_run
    from genre_desktop.core.settings import Settings

    bedrock, s3_server = start_bedrock_server(), start_s3_server()
    try:
        for key, value in throwaway_aws_env(root, bedrock.url).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ["AWS_ENDPOINT_URL_S3"] = s3_server.url
        s3 = s3_server.client()
        s3.create_bucket(Bucket="bench-batch")
        plane = BatchControlPlane(bedrock, s3, step_s=0.2).attach()

        t0 = time.perf_counter()
        make_songs(root / "songs", count)
        t_songs = time.perf_counter() - t0
        marks: list[tuple[float, str]] = []
        settings = Settings(backend="bedrock", model=MODEL, batch_s3="s3://bench-batch/runs",
                            batch_role_arn=ROLE, batch_poll_s=0.2, out_dir=str(root / "out"))
        t0 = time.perf_counter()
        prepared = start_run(root / "songs", settings)
        with prepared.store as store:
            outcome = run_batch_job(prepared.songs, prepared.backend, store, prepared.settings,
                                    say=lambda m: marks.append((time.perf_counter(), m)))
            t_job = time.perf_counter() - t0
            results = store.results()
            write_reports(results, settings.out_dir, songs_asked=len(prepared.songs))
        t_all = time.perf_counter() - t0
        plane.join_threads()
    finally:
        bedrock.stop()
        s3_server.stop()

    job, joined = outcome.job, outcome.joined
    assert job is not None and joined is not None
    print(f"== Batch job, {count} songs, end to end on the local servers ==")
    print(f"  making the songs (WAVs + cached features, not timed below): {t_songs:.1f} s")
    start = t0
    for at, line in marks:
        print(f"  +{at - start:6.1f} s  {line[:110]}")
    print(f"  job {job.status}: {joined.joined} joined, {joined.failed} failed, "
          f"{joined.missing} missing, {joined.duplicates} repeated")
    print(f"  wall: {t_job:.1f} s to the joined results, {t_all:.1f} s with the reports "
          f"({count / t_all:.0f} songs/s)")
    from genre_desktop.core.backends.bedrock_batch import BATCH_PRICE_FACTOR
    from genre_desktop.core.backends.registry import ModelRegistry

    info = ModelRegistry.load().get(MODEL)
    on_demand_actual = info.cost(joined.input_tokens, joined.output_tokens)
    print(f"  cost estimate before submitting: ${job.estimate_usd:.4f} (batch) vs "
          f"${job.estimate_usd / BATCH_PRICE_FACTOR:.4f} on demand")
    print(f"  actual from usage: ${joined.cost_usd:.4f} (batch) vs ${on_demand_actual:.4f} on "
          f"demand for the same tokens; estimate/actual = "
          f"{job.estimate_usd / joined.cost_usd:.2f}")
    print(f"  per song: {100 * joined.cost_usd / count:.4f} cents batch, "
          f"{100 * on_demand_actual / count:.4f} cents on demand")


def bench_dask(root: Path) -> None:
    import distributed

    from genre_desktop.core.dask_cluster import DaskCluster
    from genre_desktop.core.features import extract_many

    data = Path(os.environ.get("GENRE_DATA", REPO.parent / "shared" / "gtzan"))
    clips = sorted(str(p) for p in (data / "genres").rglob("*.wav"))
    if not clips:
        sys.exit(f"No GTZAN clips under {data}/genres (set GENRE_DATA).")
    print(f"\n== Extraction of {len(clips)} shared clips, cold (no cache), 2 workers each ==")
    # Warm both first (process start, imports, numba kernels), so the runs time extraction.
    list(extract_many(clips[:2], workers=2, use_cache=False))
    t0 = time.perf_counter()
    local = dict(extract_many(clips, workers=2, use_cache=False))
    t_local = time.perf_counter() - t0
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    try:
        with DaskCluster(cluster.scheduler_address) as executor:
            list(extract_many(clips[:2], executor=executor, use_cache=False))
            t0 = time.perf_counter()
            remote = dict(extract_many(clips, executor=executor, use_cache=False))
            t_dask = time.perf_counter() - t0
    finally:
        cluster.close()
    same = all(getattr(local[p], "features", None) == getattr(remote[p], "features", None)
               for p in clips)
    print(f"  local process pool: {t_local:.1f} s   Dask LocalCluster: {t_dask:.1f} s   "
          f"speed-up (pool / Dask): {t_local / t_dask:.2f}x   identical features: {same}")
    print(f"  machine: {os.cpu_count()} cores (both use the same cores here: a real cluster "
          f"adds machines)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--songs", type=int, default=1000)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        for name in ("CACHE", "CONFIG", "DATA"):
            os.environ[f"GENRE_DESKTOP_{name}_DIR"] = str(root / name.lower())
        bench_batch(root, args.songs)
        if not args.skip_dask:
            bench_dask(root)


if __name__ == "__main__":
    main()
