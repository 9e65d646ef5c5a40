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
        live = [j for j in jobs.open_jobs() if not j.finished]
    if not live:
        return ""
    job = live[0]
    return (f"batch job {job.job_name} is still {job.status}; resume without --on-demand / "
            f"--retry-failed to follow it (Ctrl+C stops it), then retry on demand.")


def run_batch(prepared: Any, args: argparse.Namespace) -> int:
    from genre_desktop.core.backends.bedrock_batch import BatchError, TooFewRecords
    from genre_desktop.core.batch_run import run_batch_job

    store, backend = prepared.store, prepared.backend
    verb = "Resuming" if prepared.resumed else "Starting"
    print(f"{verb} batch run {store.run_id}: {len(prepared.songs)} songs, model "
          f"{backend.model}, store {store.path}", flush=True)
    cancel = threading.Event()

    def on_sigint(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nCancelling: stopping the batch job (Ctrl+C again to leave it running)...",
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        outcome = run_batch_job(prepared.songs, backend, store, prepared.settings,
                                cancel=cancel, say=lambda m: print(m, flush=True),
                                use_cache=not args.no_cache)
    except TooFewRecords as exc:
        return _fail(f"{exc} Classify them on demand instead (full price, starts now): "
                     f"genre-desktop classify --resume {store.run_id} --on-demand")
    except BatchError as exc:
        return _fail(f"{exc}\nThe run is stored; carry on with: genre-desktop classify "
                     f"--resume {store.run_id}")
    except KeyboardInterrupt:
        print(f"Left the batch job running. Pick it up with: genre-desktop classify --resume "
              f"{store.run_id}", flush=True)
        return EXIT_CANCELLED
    finally:
        signal.signal(signal.SIGINT, previous)
    job, joined = outcome.job, outcome.joined
    if job is None or joined is None:  # nothing left to submit, or cancelled before it
        return _report(prepared, cancelled=outcome.summary.cancelled)
    states = ", ".join(f"{j.job_name} {j.status}" for j in outcome.jobs)
    which = (f"batch job {job.job_name} ({job.status})" if len(outcome.jobs) == 1 else
             f"{len(outcome.jobs)} batch jobs ({states})")
    estimated = sum(j.estimate_usd for j in outcome.jobs)
    print(f"Joined {joined.joined + joined.failed + joined.missing} record(s) of {which}: "
          f"{joined.joined} classified, {joined.failed} failed, {joined.missing} missing; "
          f"actual cost ${joined.cost_usd:.4f} (estimated ${estimated:.4f}); "
          f"{joined.input_tokens:,} input and {joined.output_tokens:,} output tokens.",
          flush=True)
    if joined.duplicates or joined.unknown:
        print(f"Skipped {joined.duplicates} repeated and {joined.unknown} unknown output "
              f"line(s).", flush=True)
    code = _report(prepared, cancelled=outcome.stopped)
    if joined.failed or joined.missing:
        print(f"{joined.failed + joined.missing} song(s) failed inside the job; classify "
              f"them on demand with: genre-desktop classify --resume {store.run_id} "
              f"--retry-failed", flush=True)
    for bad in outcome.failed:
        print(f"The batch job {bad.job_name} {bad.status.lower()}: "
              f"{bad.message or 'no reason given'}. --resume {store.run_id} submits the songs "
              f"without a result again; --resume {store.run_id} --on-demand classifies them "
              f"now.", file=sys.stderr)
    return EXIT_FAILED if outcome.failed else code


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
