"""A run as one Bedrock batch job: the plain blocking function the CLI and the app share.

`run_batch_job` is Orange-style like `pipeline.run_pipeline`: songs, backend, store, settings,
a progress callback (PipelineProgress events, one per joined song) and a cancel flag (stops
the job). It picks up the run's open job when there is one (after a restart), else extracts the
features of the songs without a result, builds the records, estimates the cost, submits, waits
and joins. `say` gets one line per step for people (status changes, estimate, counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genre_desktop.core.backends.bedrock import BedrockBackend
from genre_desktop.core.backends.bedrock_batch import (
    BatchConfig,
    BatchError,
    BatchRunner,
    JoinSummary,
    TooFewRecords,
    build_records,
    estimate_cost,
)
from genre_desktop.core.batch_jobs import BatchJob, BatchJobs
from genre_desktop.core.pipeline import PipelineProgress, PipelineSummary, _Tally
from genre_desktop.core.results import SongResult
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore
from genre_desktop.core.tag_journal import AnalysedHashes
from genre_desktop.core.types import CancelFlag, SongError, SongFeatures


@dataclass
class BatchOutcome:
    summary: PipelineSummary
    job: BatchJob | None = None  # None: nothing was left to submit, or cancelled before
    joined: JoinSummary | None = None


def run_batch_job(songs: Sequence[Song], backend: Any, store: RunStore, settings: Settings, *,
                  progress: Callable[[PipelineProgress], None] | None = None,
                  cancel: CancelFlag | None = None, say: Callable[[str], None] = print,
                  use_cache: bool = True) -> BatchOutcome:
    """Follow (or submit) the run's batch job to its end; raises TooFewRecords, BatchError."""
    if not isinstance(backend, BedrockBackend):
        raise BatchError("Batch jobs run on Bedrock: choose the bedrock backend.")
    if not settings.batch_s3 or not settings.batch_role_arn:
        raise BatchError("A batch job needs an S3 location and a service role ARN.")
    started_at, t0 = time.time(), time.perf_counter()
    config = BatchConfig(settings.batch_s3, settings.batch_role_arn, poll_s=settings.batch_poll_s)
    planned = {s.path for s in songs}
    tally = _Tally(len(songs))
    for r in store.results():
        if r.path in planned:
            tally.add(r)
    summary = PipelineSummary(store.run_id, len(songs), tally.done, tally.errors, False, 0.0,
                              skipped=tally.done)

    def emit(stage: str, latest: SongResult | None, phase: str) -> None:
        event = tally.event(stage, time.perf_counter() - t0, None, latest)
        event.phase, event.step, event.steps = phase, tally.done, tally.total
        summary.last = event
        if progress is not None:
            progress(event)

    def keep(result: SongResult) -> None:
        store.save(result)
        tally.add(result)
        summary.results.append(result)
        emit("running", result, "classifying")

    outcome = BatchOutcome(summary)
    emit("starting", None, "loading")
    try:
        with BatchJobs(store.path) as jobs:
            runner = BatchRunner(backend, store, jobs, config, say=say)
            job = jobs.open_job()
            if job is None:
                job = _submit(songs, backend, store, settings, runner, keep, cancel, say,
                              use_cache)
            elif job.job_arn is not None:
                say(f"Following batch job {job.job_name} ({job.job_arn}).")
            if job is not None:
                outcome.job = job

                def status(line: str) -> None:
                    say(line)
                    emit("running", None, line.split(": ", 1)[-1].split(" (", 1)[0])

                runner.say = status
                job = runner.wait(job, cancel)
                runner.say = say
                before = {r.path for r in store.results()}
                outcome.joined = runner.join(job)
                outcome.job = job
                for r in store.results():  # the songs this join stored, as progress events
                    if r.path not in before and r.path in planned:
                        tally.add(r)
                        summary.results.append(r)
                        emit("running", r, "classifying")
    finally:
        summary.elapsed_s = time.perf_counter() - t0
        summary.done, summary.errors = tally.done, tally.errors
        summary.cancelled = (outcome.job is not None and outcome.job.status == "Stopped") or (
            outcome.job is None and cancel is not None and cancel.is_set())
        store.add_session(started_at, summary.elapsed_s, len(summary.results),
                          summary.cancelled)
    emit("cancelled" if summary.cancelled else "finished", None,
         "cancelled" if summary.cancelled else "finished")
    return outcome


def _submit(songs: Sequence[Song], backend: BedrockBackend, store: RunStore,
            settings: Settings, runner: BatchRunner, keep: Callable[[SongResult], None],
            cancel: CancelFlag | None, say: Callable[[str], None],
            use_cache: bool) -> BatchJob | None:
    """Features, prompts, estimate, upload and create; None when no song is left to do."""
    done = store.finished_paths(include_errors=True)
    todo = [s for s in songs if s.path not in done]
    if not todo:
        return None
    if len(todo) < runner.config.min_records:  # said before minutes of feature extraction
        raise TooFewRecords(len(todo), runner.config.min_records)
    say(f"Extracting the features of {len(todo)} songs...")
    items = _features(todo, settings, keep, cancel, use_cache)
    _record_analysed(store, items)
    if cancel is not None and cancel.is_set():
        return None
    number = runner.next_job_number()
    records, failed = build_records(backend, items, number)
    for result in failed:
        keep(result)
    if len(records) < runner.config.min_records:
        raise TooFewRecords(len(records), runner.config.min_records)
    estimate = estimate_cost(backend, records)
    say(f"Estimated cost: {estimate.describe()}")
    return runner.submit(records, estimate, number)


def _record_analysed(store: RunStore, items: list[tuple[Song, SongFeatures]]) -> None:
    """The hash each file had when its features were taken, as the on-demand run records it:
    writing tags later refuses a file changed since. Recorded now, as the join may come after
    a restart with only the answers in hand."""
    analysed = AnalysedHashes(store)
    try:
        analysed.record_many((song.path, f.content_hash) for song, f in items)
    finally:
        analysed.close()


def _features(todo: list[Song], settings: Settings, keep: Callable[[SongResult], None],
              cancel: CancelFlag | None, use_cache: bool) -> list[tuple[Song, SongFeatures]]:
    """Extract (local pool or the cluster); a song that fails is stored as its error."""
    from genre_desktop.core.dask_cluster import ClusterError, open_executor
    from genre_desktop.core.features import extract_many

    by_path = {s.path: s for s in todo}
    try:
        executor = open_executor(settings.cluster)
    except ClusterError as exc:
        raise BatchError(str(exc)) from exc
    items: list[tuple[Song, SongFeatures]] = []
    try:
        where = {"executor": executor} if executor is not None else {}
        for path, result in extract_many([s.path for s in todo],
                                         workers=settings.extract_workers, cancel=cancel,
                                         max_seconds=settings.max_seconds, use_cache=use_cache,
                                         **where):
            song = by_path[path]
            if isinstance(result, SongError):
                keep(SongResult(song.path, song.actual_genre, error=result,
                                finished_at=time.time()))
            else:
                items.append((song, result))
    finally:
        if executor is not None:
            executor.close()
    order = {s.path: i for i, s in enumerate(todo)}
    return sorted(items, key=lambda it: order[it[0].path])
