"""A batch run: songs -> features (process pool) -> classification (thread pool) -> store.

Orange-style worker: `run_pipeline` is a plain blocking function given the songs, a backend, a
store, a progress callback and a cancel flag. The CLI calls it directly; the app calls it on a
worker thread and only relays the progress events as signals. Progress callbacks always run on
the thread that called `run_pipeline`, in the order results were stored.

Each finished song is stored before its progress event goes out, so cancelling (or killing the
process) never loses a finished result, and a resumed run skips every stored song.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from genre_desktop.core._feature_batch import ExtractExecutor
from genre_desktop.core.results import SongResult
from genre_desktop.core.settings import Settings
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore, StoreWriteError, keep_unsaved
from genre_desktop.core.tag_journal import AnalysedHashes
from genre_desktop.core.types import (
    Backend,
    CancelFlag,
    Prediction,
    SetupError,
    SongError,
    SongFeatures,
)


class ExtractFn(Protocol):
    def __call__(
        self, paths: Sequence[str], *, workers: int | None = ..., progress: Any = ...,
        cancel: CancelFlag | None = ..., max_seconds: float = ..., use_cache: bool = ...,
    ) -> Iterable[tuple[str, SongFeatures | SongError]]: ...


# Phase names and their words; the run API adds "training" and "reports" around the pipeline.
PHASES: dict[str, str] = {
    "loading": "Loading",
    "compiling": "Compiling the audio kernels (first use only)",
    "training": "Training the offline model",
    "extracting": "Extracting",
    "classifying": "Classifying",
    "reports": "Writing reports",
    "finished": "Finished",
    "cancelling": "Cancelling",
    "cancelled": "Cancelled",
}


class PipelineError(RuntimeError):
    """The run itself broke (not one song): finished songs are stored, resume continues."""


@dataclass
class PipelineProgress:
    """One progress event; `latest` is the result just stored (None for the first event)."""

    done: int  # songs with a stored result, earlier sessions of this run included
    total: int  # songs the run was asked to do
    errors: int
    scored: int  # finished songs with a known genre
    correct: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    elapsed_s: float  # this session
    eta_s: float | None
    stage: str  # "starting" | "running" | "finished" | "cancelled"
    latest: SongResult | None = None
    # What the run is doing now, for people: see PHASES. `step`/`steps` count within it
    # (songs extracted so far of those to extract, ...); 0/0 when it has no count.
    phase: str = "loading"
    step: int = 0
    steps: int = 0
    extracted: int = 0  # songs of this session with features (or a feature error) so far

    @property
    def phase_text(self) -> str:
        label = PHASES.get(self.phase, self.phase)
        return f"{label} {self.step}/{self.steps}" if self.steps else label

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class PipelineSummary:
    run_id: str
    total: int
    done: int
    errors: int
    cancelled: bool
    elapsed_s: float  # this session
    skipped: int  # already stored when this session started (resume)
    results: list[SongResult] = field(default_factory=list)  # this session's, in finish order
    classify_busy_s: float = 0.0  # summed wall time of classification calls
    workers: int = 1
    last: PipelineProgress | None = None

    @property
    def classify_utilisation(self) -> float:
        """Share of the classification pool's capacity that was busy during the session."""
        capacity = self.elapsed_s * self.workers
        return self.classify_busy_s / capacity if capacity > 0 else 0.0


class _Stop:
    """The user's cancel flag, or our own when the caller's progress callback raised."""

    def __init__(self, user: CancelFlag | None) -> None:
        self.user = user
        self.internal = threading.Event()

    def is_set(self) -> bool:
        return self.internal.is_set() or self.by_user()

    def by_user(self) -> bool:
        return self.user is not None and self.user.is_set()


_DONE = object()
_SKIPPED = object()


class _Tally:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = self.errors = self.scored = self.correct = 0
        self.input_tokens = self.output_tokens = 0
        self.cost_usd = 0.0

    def add(self, r: SongResult) -> None:
        self.done += 1
        if r.prediction is None:
            self.errors += 1
            return
        p = r.prediction
        self.input_tokens += p.input_tokens
        self.output_tokens += p.output_tokens
        self.cost_usd += p.cost_usd
        if r.is_correct is not None:
            self.scored += 1
            self.correct += int(r.is_correct)

    def event(self, stage: str, elapsed: float, eta: float | None,
              latest: SongResult | None) -> PipelineProgress:
        return PipelineProgress(
            self.done, self.total, self.errors, self.scored, self.correct, self.input_tokens,
            self.output_tokens, self.cost_usd, elapsed, eta, stage, latest,
        )


def _default_extract() -> ExtractFn:
    from genre_desktop.core._feature_batch import extract_many

    return extract_many


def _classify_one(backend: Backend, features: SongFeatures, song: Song,
                  cancel: CancelFlag | None = None) -> SongResult:
    started = time.perf_counter()
    try:
        # The song's own table row must never be its neighbour or few-shot example.
        answer: Prediction | SongError = backend.classify(
            features, exclude_refs=frozenset({Path(song.path).name}), cancel=cancel
        )
    except SetupError:
        raise  # every song would fail alike: the run stops (run_pipeline)
    except Exception as exc:  # a backend bug must not end the batch: it is this song's error
        answer = SongError(
            "backend_failure",
            f"The {getattr(backend, 'name', '?')} backend failed: {type(exc).__name__}: "
            f"{str(exc)[:200]}",
            stage="classify", path=song.path,
        )
    seconds = time.perf_counter() - started
    result = SongResult(song.path, song.actual_genre, seconds=seconds, note=features.note,
                        content_hash=features.content_hash)
    if isinstance(answer, Prediction):
        if not answer.latency_s:
            answer.latency_s = seconds
        if not answer.tags and features.tagger:  # what the tagger heard, whatever answered
            from genre_desktop.core.tagger import top_tags

            answer.tags = top_tags(features.tagger)
        result.prediction = answer
    else:
        result.error = answer
    result.finished_at = time.time()
    return result


def run_pipeline(
    songs: Sequence[Song],
    backend: Backend,
    store: RunStore,
    settings: Settings,
    *,
    progress: Callable[[PipelineProgress], None] | None = None,
    cancel: CancelFlag | None = None,
    retry_failed: bool = False,
    extract: ExtractFn | None = None,
    use_cache: bool = True,
    executor: ExtractExecutor | None = None,
) -> PipelineSummary:
    """Classify every song not yet in `store`; returns when all are done or after a cancel.

    Extraction runs on `executor` when given, else on the Dask cluster `settings.cluster`
    names, else on the local process pool.

    Cancel is prompt and exact: once the flag is seen (at the latest 0.2 s after it is set)
    no further result is stored, queued work is dropped, the extraction workers are stopped
    and the call returns; songs not stored are left for a resume.
    """
    stop = _Stop(cancel)
    extract_fn = extract or _default_extract()
    owned = None
    if executor is None and settings.cluster:
        from genre_desktop.core.dask_cluster import ClusterError, open_executor

        try:
            executor = owned = open_executor(settings.cluster)
        except ClusterError as exc:
            raise PipelineError(str(exc)) from exc
    try:
        return _run(songs, backend, store, settings, progress, stop, retry_failed, extract_fn,
                    use_cache, executor)
    finally:
        if owned is not None:
            owned.close()


def _run(songs: Sequence[Song], backend: Backend, store: RunStore, settings: Settings,
         progress: Callable[[PipelineProgress], None] | None, stop: _Stop, retry_failed: bool,
         extract_fn: ExtractFn, use_cache: bool, executor: ExtractExecutor | None,
         ) -> PipelineSummary:
    started_at, t0 = time.time(), time.perf_counter()
    session = store.begin_session(started_at)  # recorded now: a killed session still counts
    earlier = {r.path: r for r in store.results()}
    if retry_failed:
        earlier = {p: r for p, r in earlier.items() if r.ok}
    by_path = {s.path: s for s in songs}
    todo = [s for s in songs if s.path not in earlier]
    tally = _Tally(len(songs))
    for r in earlier.values():
        if r.path in by_path:
            tally.add(r)
    summary = PipelineSummary(store.run_id, len(songs), tally.done, tally.errors, False, 0.0,
                              skipped=tally.done, workers=settings.workers)
    busy = [0.0]
    busy_lock = threading.Lock()
    results_q: queue.Queue[Any] = queue.Queue()
    # Bound the queued classifications so cancel takes effect quickly and memory stays flat.
    slots = threading.BoundedSemaphore(settings.workers * 2 + 2)
    feeder_error: list[BaseException] = []
    extracted = [0]
    setup_error: list[SetupError] = []
    unsaved: list[SongResult] = []  # finished after the store stopped taking writes

    first_done_at: list[float] = []  # when this session's first song was stored

    def emit(stage: str, latest: SongResult | None, phase: str | None = None) -> None:
        now = time.perf_counter()
        elapsed = now - t0
        session_done = tally.done - summary.skipped
        remaining = tally.total - tally.done
        if session_done and not first_done_at:
            first_done_at.append(now)
        # The pace from the first stored song on: the time before it (loading, compiling on
        # first use, training the model) is paid once, and counting it gave "ETA 137:49" for
        # a 50-song run that took 3 minutes.
        eta: float | None = None
        if remaining == 0:
            eta = 0.0
        elif session_done >= 2:
            eta = (now - first_done_at[0]) / (session_done - 1) * remaining
        event = tally.event(stage, elapsed, eta, latest)
        event.extracted = extracted[0]
        if phase is not None:
            event.phase = phase
        elif extracted[0] < len(todo):
            event.phase, event.step, event.steps = "extracting", extracted[0], len(todo)
        else:
            event.phase, event.step, event.steps = "classifying", session_done, len(todo)
        summary.last = event
        if progress is not None:
            progress(event)

    def classify_task(features: SongFeatures, song: Song) -> None:
        try:
            if stop.is_set():
                results_q.put(_SKIPPED)
                return
            try:
                result = _classify_one(backend, features, song, stop)
            except SetupError as exc:
                setup_error.append(exc)
                stop.internal.set()  # reported once for the run, not once per song
                results_q.put(_SKIPPED)
                return
            with busy_lock:
                busy[0] += result.seconds
            if result.error is not None and result.error.reason == "cancelled" and stop.is_set():
                results_q.put(_SKIPPED)  # not finished: a resume must do it again
                return
            results_q.put(result)
        finally:
            slots.release()

    def on_extracted(done: int, total: int) -> None:
        results_q.put(("extracted", done, total))  # relayed on the caller's thread

    def feed(pool: ThreadPoolExecutor) -> None:
        items: Iterator[tuple[str, SongFeatures | SongError]] = iter(())
        # Only when set: extract functions given by callers need not know executors.
        where = {"executor": executor} if executor is not None else {}
        try:
            items = iter(extract_fn(
                [s.path for s in todo], workers=settings.extract_workers, cancel=stop,
                max_seconds=settings.max_seconds, use_cache=use_cache, progress=on_extracted,
                **where,
            ))
            for path, item in items:
                if stop.is_set():
                    break
                song = by_path[path]
                if isinstance(item, SongError):
                    results_q.put(SongResult(song.path, song.actual_genre, error=item,
                                             finished_at=time.time()))
                    continue
                if not _acquire(slots, stop):
                    break
                pool.submit(classify_task, item, song)
        except BaseException as exc:  # surfaced on the caller's thread after the drain
            feeder_error.append(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator: lets the extractor stop its process pool now
            # Cancelled: drop the queued classifications; the ones running see the flag. After
            # a failure (the callback raised) wait for them: _drain stores what they finish.
            pool.shutdown(wait=not stop.by_user(), cancel_futures=stop.is_set())
            results_q.put(_DONE)

    emit("starting", None, phase=_first_phase(extract_fn, bool(todo)))
    pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="classify")
    feeder = threading.Thread(target=feed, args=(pool,), name="pipeline-feed", daemon=True)
    if todo:
        feeder.start()
    else:
        pool.shutdown()
    analysed = AnalysedHashes(store)  # what each file hashed to, for writing tags later
    try:
        while todo and not stop.is_set():
            try:
                item = results_q.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is _DONE:
                break
            if item is _SKIPPED or stop.is_set():
                continue
            if isinstance(item, tuple):
                extracted[0] = item[1]
                emit("running", None)
                continue
            try:
                store.save(item)
            except StoreWriteError:
                unsaved.append(item)
                raise
            if item.error is not None:  # the app shows the answer the failure did not erase
                item.last_good = store.last_good_for(item.path)
            analysed.record(item)
            tally.add(item)
            summary.results.append(item)
            emit("running", item)
        if stop.is_set() and feeder.is_alive():
            # The feeder stops the extraction workers (terminated) and drops queued songs.
            feeder.join(timeout=_CANCEL_JOIN_S)
    except BaseException as exc:
        stop.internal.set()  # the callback raised (or KeyboardInterrupt): wind down, keep results
        _drain(results_q, store, summary, feeder, unsaved)
        if unsaved:  # paid answers the store cannot take: beside it, else the caller prints them
            kept = keep_unsaved(store.path, unsaved)
            if isinstance(exc, StoreWriteError):
                exc.unsaved, exc.unsaved_file = unsaved, kept
        raise
    finally:
        analysed.close()
        summary.elapsed_s = time.perf_counter() - t0
        summary.classify_busy_s = busy[0]
        summary.cancelled = stop.is_set() and tally.done < tally.total and not setup_error
        summary.done, summary.errors = tally.done, tally.errors
        try:
            store.end_session(session, summary.elapsed_s, len(summary.results),
                              summary.cancelled)
        except StoreWriteError:
            if not unsaved:
                raise  # else the store's first failure is on its way out, with the answers
    if setup_error:
        raise PipelineError(str(setup_error[0])) from setup_error[0]
    if feeder_error and not summary.cancelled:
        exc = feeder_error[0]
        raise PipelineError(f"Feature extraction stopped: {type(exc).__name__}: {exc}") from exc
    emit("cancelled" if summary.cancelled else "finished", None,
         phase="cancelled" if summary.cancelled else "finished")
    return summary


_CANCEL_JOIN_S = 1.5  # the extraction pool's workers are terminated on cancel: quick


def _first_phase(extract_fn: ExtractFn, work: bool) -> str:
    """'compiling' when librosa's kernels were never compiled here (a first run: ~30 s)."""
    from genre_desktop.core._feature_batch import extract_many

    if work and extract_fn is extract_many:
        from genre_desktop.core.numba_setup import kernels_ready

        if not kernels_ready():
            return "compiling"
    return "loading"


def _acquire(slots: threading.BoundedSemaphore, stop: _Stop) -> bool:
    while not slots.acquire(timeout=0.2):
        if stop.is_set():
            return False
    return True


def _drain(results_q: queue.Queue[Any], store: RunStore, summary: PipelineSummary,
           feeder: threading.Thread, unsaved: list[SongResult]) -> None:
    """Store what is still finishing after an abort, so nothing that completed is lost
    (what the store cannot take goes to `unsaved`)."""
    while feeder.is_alive() or not results_q.empty():
        try:
            item = results_q.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is _DONE:
            break
        if isinstance(item, SongResult):
            try:
                store.save(item)
            except Exception:  # the store itself may be what failed; the caller gets that error
                unsaved.append(item)
                continue
            summary.results.append(item)
