"""A run as one Bedrock batch job: the plain blocking function the CLI and the app share.

`run_batch_job` is Orange-style like `pipeline.run_pipeline`: songs, backend, store, settings,
a progress callback (PipelineProgress events, one per joined song) and a cancel flag (stops
the jobs). It picks up the run's open jobs when there are any (after a restart), else extracts
the features of the songs without a result, builds the records, estimates the cost, splits them
into jobs within the model's per-job quotas, submits, waits and joins each job as it finishes.
`say` gets one line per step for people (status changes, estimate, counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
    record_id,
    split_records,
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
    job: BatchJob | None = None  # the last job; None: nothing was left to submit
    joined: JoinSummary | None = None  # all the jobs of this session together
    jobs: list[BatchJob] = field(default_factory=list)  # every job this session followed

    @property
    def stopped(self) -> bool:
        return any(j.status == "Stopped" for j in self.jobs)

    @property
    def failed(self) -> list[BatchJob]:
        return [j for j in self.jobs if j.status in ("Failed", "Expired")]


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
    config = BatchConfig.for_model(settings.batch_s3, settings.batch_role_arn, backend.info,
                                   poll_s=settings.batch_poll_s)
    planned = {s.path for s in songs}
    tally = _Tally(len(songs))
    for r in store.results():
        if r.path in planned:
            tally.add(r)
    summary = PipelineSummary(store.run_id, len(songs), tally.done, tally.errors, False, 0.0,
                              skipped=tally.done)

    def emit(stage: str, latest: SongResult | None, phase: str, counted: bool = True) -> None:
        event = tally.event(stage, time.perf_counter() - t0, None, latest)
        event.phase = phase
        event.step, event.steps = (tally.done, tally.total) if counted else (0, 0)
        summary.last = event
        if progress is not None:
            progress(event)

    def keep(result: SongResult) -> None:
        store.save(result)
        tally.add(result)
        summary.results.append(result)
        emit("running", result, "classifying")

    outcome = BatchOutcome(summary)
    # Recorded now, as the on-demand run does: a session killed while it waits for the job
    # (hours) still counts its time up to its last stored song.
    session = store.begin_session(started_at)
    emit("starting", None, "loading")
    try:
        with BatchJobs(store.path) as jobs:
            runner = BatchRunner(backend, store, jobs, config, say=say)
            todo = jobs.open_jobs()
            if not todo:
                todo = _submit(songs, backend, store, settings, runner, keep, cancel, say,
                               use_cache)
            else:
                for job in todo:
                    if job.job_arn is not None:
                        say(f"Following batch job {job.job_name} ({job.job_arn}).")

            def status(line: str) -> None:  # "Batch job NAME: InProgress (3/120 ...)"
                say(line)
                phase = line.rstrip(".")  # "Stopping batch job NAME", "Could not get ..."
                if line.startswith("Batch job ") and ": " in line:
                    state = line.split(": ", 1)[1].split(" (", 1)[0].split(":", 1)[0]
                    phase = f"Batch job {state}"
                emit("running", None, phase, counted=False)

            # Every job is created before any is waited for (a create lost in a crash or
            # refused is sent again here, with its token); then one job after the other: they
            # run side by side at Bedrock, so the later ones are usually done by the time
            # they are asked, and a cancel stops each in turn.
            todo = [runner.create(j) if j.job_arn is None else j for j in todo]
            for job in todo:
                runner.say = status
                job = runner.wait(job, cancel)
                runner.say = say
                before = {r.path for r in store.results()}
                outcome.joined = _add(outcome.joined, runner.join(job))
                outcome.job = job
                outcome.jobs.append(job)
                for r in store.results():  # the songs this join stored, as progress events
                    if r.path not in before and r.path in planned:
                        tally.add(r)
                        summary.results.append(r)
                        emit("running", r, "classifying")
    finally:
        summary.elapsed_s = time.perf_counter() - t0
        summary.done, summary.errors = tally.done, tally.errors
        summary.cancelled = outcome.stopped or (
            not outcome.jobs and cancel is not None and cancel.is_set())
        store.end_session(session, summary.elapsed_s, len(summary.results),
                          summary.cancelled)
    emit("cancelled" if summary.cancelled else "finished", None,
         "cancelled" if summary.cancelled else "finished")
    return outcome


def _add(total: JoinSummary | None, part: JoinSummary) -> JoinSummary:
    if total is None:
        return part
    return JoinSummary(
        total.joined + part.joined, total.failed + part.failed, total.missing + part.missing,
        total.duplicates + part.duplicates, total.unknown + part.unknown,
        total.cost_usd + part.cost_usd, total.input_tokens + part.input_tokens,
        total.output_tokens + part.output_tokens, total.failed_paths + part.failed_paths)


def _submit(songs: Sequence[Song], backend: BedrockBackend, store: RunStore,
            settings: Settings, runner: BatchRunner, keep: Callable[[SongResult], None],
            cancel: CancelFlag | None, say: Callable[[str], None],
            use_cache: bool) -> list[BatchJob]:
    """Features, prompts, estimate, upload and create; [] when no song is left to do."""
    done = store.finished_paths(include_errors=True)
    todo = [s for s in songs if s.path not in done]
    if not todo:
        return []
    if len(todo) < runner.config.min_records:  # said before minutes of feature extraction
        raise TooFewRecords(len(todo), runner.config.min_records)
    say(f"Extracting the features of {len(todo)} songs...")
    items = _features(todo, settings, keep, cancel, use_cache)
    _record_analysed(store, items)
    if cancel is not None and cancel.is_set():
        return []
    number = runner.next_job_number()
    probe, failed = build_records(backend, items, number)
    for result in failed:
        keep(result)
    if len(probe) < runner.config.min_records:
        raise TooFewRecords(len(probe), runner.config.min_records)
    chunks = split_records(probe, runner.config)
    if len(chunks) > 1:  # each job numbers its own records (the job is part of the id)
        chunks = [[replace(r, record_id=record_id(number + i, j)) for j, r in enumerate(c)]
                  for i, c in enumerate(chunks)]
        say(f"{len(probe)} records are more than one batch job takes "
            f"({runner.config.max_records} records, {runner.config.max_input_bytes:,} bytes): "
            f"{len(chunks)} jobs of {', '.join(str(len(c)) for c in chunks)} records.")
    estimates = [estimate_cost(backend, chunk) for chunk in chunks]
    estimate = estimate_cost(backend, probe)
    say(f"Estimated cost: {estimate.describe()}")
    return runner.submit_all(chunks, estimates, number)


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
