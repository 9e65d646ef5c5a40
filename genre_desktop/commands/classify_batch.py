"""`classify --batch s3://bucket/prefix --role-arn ARN`: a Bedrock batch job for a run.

The run is the ordinary run store (`--resume RUN` finds it); its batch job lives in the same
file (core.batch_jobs). Steps: features (local pool or --cluster), prompts, cost estimate,
upload, job, status until it finishes, join, reports. Killed at any point, `--resume RUN` picks
the job up where it is; Ctrl+C stops the job (StopModelInvocationJob) and keeps what it did.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from genre_desktop.commands.classify import EXIT_CANCELLED, EXIT_SETUP, _print_summary

EXIT_FAILED = 1


def wants_batch(prepared: Any, args: argparse.Namespace) -> bool:
    """Batch runs go the batch way unless the user asks for on-demand (or a retry of fails)."""
    return bool(prepared.settings.batch_s3) and not args.on_demand and not args.retry_failed


def open_job_blocks_on_demand(prepared: Any) -> str:
    """A message when an on-demand resume would also pay for songs a live job still holds."""
    from genre_desktop.core.batch_jobs import BatchJobs, has_batch_jobs

    if not has_batch_jobs(prepared.store.path):
        return ""
    with BatchJobs(prepared.store.path) as jobs:
        job = jobs.open_job()
    if job is None or job.finished:
        return ""
    return (f"batch job {job.job_name} is still {job.status}; resume without --on-demand / "
            f"--retry-failed to follow it (Ctrl+C stops it), then retry on demand.")


def run_batch(prepared: Any, args: argparse.Namespace) -> int:
    from genre_desktop.core.backends.bedrock import BedrockBackend
    from genre_desktop.core.backends.bedrock_batch import BatchConfig, BatchError, BatchRunner
    from genre_desktop.core.batch_jobs import BatchJobs

    store, settings, backend = prepared.store, prepared.settings, prepared.backend
    if not isinstance(backend, BedrockBackend):
        return _fail("batch jobs run on Bedrock: use --backend bedrock.")
    verb = "Resuming" if prepared.resumed else "Starting"
    print(f"{verb} batch run {store.run_id}: {len(prepared.songs)} songs, model "
          f"{backend.model}, store {store.path}", flush=True)
    config = BatchConfig(settings.batch_s3, settings.batch_role_arn,
                         poll_s=settings.batch_poll_s)
    cancel = threading.Event()

    def on_sigint(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nCancelling: stopping the batch job (Ctrl+C again to leave it running)...",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with BatchJobs(store.path) as jobs:
            runner = BatchRunner(backend, store, jobs, config,
                                 say=lambda m: print(m, flush=True))
            return _follow(prepared, runner, jobs, cancel, args)
    except BatchError as exc:
        return _fail(f"{exc}\nThe run is stored; carry on with: genre-desktop classify "
                     f"--resume {store.run_id}")
    except KeyboardInterrupt:
        print(f"Left the batch job running. Pick it up with: genre-desktop classify --resume "
              f"{store.run_id}", flush=True)
        return EXIT_CANCELLED
    finally:
        signal.signal(signal.SIGINT, previous)


def _follow(prepared: Any, runner: Any, jobs: Any, cancel: threading.Event,
            args: argparse.Namespace) -> int:
    from genre_desktop.core.backends.bedrock_batch import TooFewRecords

    store = prepared.store
    job = jobs.open_job()
    if job is None:
        try:
            job = _submit(prepared, runner, jobs, cancel, args)
        except TooFewRecords as exc:
            return _fail(f"{exc} Classify them on demand instead (full price, starts now): "
                         f"genre-desktop classify --resume {store.run_id} --on-demand")
        if job is None:  # nothing left to do, or cancelled before submitting
            return _report(prepared, cancelled=cancel.is_set())
    elif job.job_arn is not None:
        print(f"Following batch job {job.job_name} ({job.job_arn}).", flush=True)
    job = runner.wait(job, cancel)
    summary = runner.join(job)
    print(f"Joined {summary.joined + summary.failed + summary.missing} record(s) of batch job "
          f"{job.job_name} ({job.status}): {summary.joined} classified, {summary.failed} "
          f"failed, {summary.missing} missing; actual cost ${summary.cost_usd:.4f} "
          f"(estimated ${job.estimate_usd:.4f}); {summary.input_tokens:,} input and "
          f"{summary.output_tokens:,} output tokens.", flush=True)
    if summary.duplicates or summary.unknown:
        print(f"Skipped {summary.duplicates} repeated and {summary.unknown} unknown output "
              f"line(s).", flush=True)
    code = _report(prepared, cancelled=job.status == "Stopped")
    if summary.failed or summary.missing:
        print(f"{summary.failed + summary.missing} song(s) failed inside the job; classify "
              f"them on demand with: genre-desktop classify --resume {store.run_id} "
              f"--retry-failed", flush=True)
    if job.status in ("Failed", "Expired"):
        print(f"The batch job {job.status.lower()}: {job.message or 'no reason given'}. "
              f"--resume {store.run_id} submits the songs without a result again; "
              f"--resume {store.run_id} --on-demand classifies them now.", file=sys.stderr)
        return EXIT_FAILED
    return code


def _submit(prepared: Any, runner: Any, jobs: Any, cancel: threading.Event,
            args: argparse.Namespace) -> Any:
    """Features, prompts, estimate, upload and create; None when no song is left to do."""
    from genre_desktop.core.backends.bedrock_batch import (
        TooFewRecords,
        build_records,
        estimate_cost,
    )

    store, settings = prepared.store, prepared.settings
    done = store.finished_paths(include_errors=True)
    todo = [s for s in prepared.songs if s.path not in done]
    if not todo:
        return None
    if len(todo) < runner.config.min_records:  # said before minutes of feature extraction
        raise TooFewRecords(len(todo), runner.config.min_records)
    items = _features(todo, settings, cancel, args, store)
    if cancel.is_set():
        return None
    number = runner.next_job_number()
    records, failed = build_records(prepared.backend, items, number)
    for result in failed:
        store.save(result)
    if len(records) < runner.config.min_records:
        raise TooFewRecords(len(records), runner.config.min_records)
    estimate = estimate_cost(prepared.backend, records)
    print(f"Estimated cost: {estimate.describe()}", flush=True)
    return runner.submit(records, estimate, number)


def _features(todo: list[Any], settings: Any, cancel: threading.Event,
              args: argparse.Namespace, store: Any) -> list[tuple[Any, Any]]:
    """Extract (local pool or the cluster); a song that fails is stored as its error."""
    import time

    from tqdm import tqdm

    from genre_desktop.core.dask_cluster import ClusterError, open_executor
    from genre_desktop.core.features import extract_many
    from genre_desktop.core.results import SongResult
    from genre_desktop.core.types import SongError

    by_path = {s.path: s for s in todo}
    try:
        executor = open_executor(settings.cluster)
    except ClusterError as exc:
        from genre_desktop.core.backends.bedrock_batch import BatchError

        raise BatchError(str(exc)) from exc
    items: list[tuple[Any, Any]] = []
    bar = tqdm(total=len(todo), unit="song", desc="features", disable=args.no_progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        where = {"executor": executor} if executor is not None else {}
        for path, result in extract_many([s.path for s in todo],
                                         workers=settings.extract_workers, cancel=cancel,
                                         max_seconds=settings.max_seconds,
                                         use_cache=not args.no_cache, **where):
            bar.update(1)
            song = by_path[path]
            if isinstance(result, SongError):
                store.save(SongResult(song.path, song.actual_genre, error=result,
                                      finished_at=time.time()))
            else:
                items.append((song, result))
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    order = {s.path: i for i, s in enumerate(todo)}
    return sorted(items, key=lambda it: order[it[0].path])


def _report(prepared: Any, *, cancelled: bool) -> int:
    from genre_desktop.core.reports import write_reports

    store, settings = prepared.store, prepared.settings
    results = store.results()
    try:
        paths = write_reports(
            results, settings.out_dir, songs_asked=len(prepared.songs),
            elapsed_s=store.elapsed_s(),
            run_info={"run_id": store.run_id, **{k: v for k, v in store.meta().items()
                                                if k != "settings"}},
        )
    except OSError as exc:
        print(f"Cannot write the reports to {settings.out_dir}: {exc}\nThe results are "
              f"stored; write them with: genre-desktop classify --resume {store.run_id} "
              f"--out DIR", file=sys.stderr)
        return EXIT_FAILED
    _print_summary(results, len(prepared.songs), paths["tagged_songs.json"].parent)
    if cancelled:
        print(f"Cancelled. Resume with: genre-desktop classify --resume {store.run_id}")
        return EXIT_CANCELLED
    return 0


def _fail(message: str) -> int:
    print(f"genre-desktop classify: {message}", file=sys.stderr)
    return EXIT_SETUP
