"""`genre-desktop classify DIR`: classify a folder of songs headless and write the reports."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from genre_desktop.commands.stop_signals import StopSignals

EXIT_SETUP = 2  # the run could not start
EXIT_CANCELLED = 130  # stopped by Ctrl+C; finished songs are stored and reported
# SIGTERM and SIGHUP stop it the same way with 143 and 129 (128 + signal, see stop_signals).


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "classify",
        help="classify a folder of songs and write bedrock_results/",
        description="Classify every song under DIR (GTZAN layout <genre>/<file> or any folder) "
        "and write the standard reports to OUT/bedrock_results/. Per-song failures are listed "
        "in the summary and errors.log; the exit status is non-zero only when the run cannot "
        "start (or is cancelled). Settings come from settings.toml in the config folder, then "
        "REGION / MODEL_NAME / SAMPLES_PER_GENRE, then these flags.",
    )
    p.add_argument("dir", nargs="?", metavar="DIR", help="folder of songs (or one file)")
    p.add_argument("--backend", choices=("local", "bedrock", "ensemble"),
                   help="local: the offline model (default); bedrock: an LLM; ensemble: both")
    p.add_argument("--model", help="Bedrock model ID or inference profile")
    p.add_argument("--profile", help="AWS profile (from ~/.aws or one saved in the app)")
    p.add_argument("--region", help="AWS region")
    p.add_argument("--endpoint-url", help="a Bedrock-compatible endpoint instead of AWS")
    p.add_argument("--requests-per-minute", type=float, metavar="N",
                   help="client-side limit of Bedrock requests per minute")
    p.add_argument("--tokens-per-minute", type=float, metavar="N",
                   help="client-side limit of Bedrock tokens per minute")
    p.add_argument("--samples-per-genre", type=int, metavar="N",
                   help="stratified random sample of N songs per genre (0: all)")
    p.add_argument("--seed", type=int, help="random seed of the sample")
    p.add_argument("--workers", type=int, metavar="N", help="classification threads")
    p.add_argument("--extract-workers", type=int, metavar="N",
                   help="feature extraction processes (default: one per core)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="extract features on a Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--max-seconds", type=float, help="analyse at most this much of each song")
    p.add_argument("--reference", metavar="TABLE", help="labelled feature table (CSV)")
    p.add_argument("--out", metavar="DIR", help="reports go to DIR/bedrock_results/")
    p.add_argument("--resume", metavar="RUN", help="continue a run by its id, skipping "
                   "finished songs (DIR may be left out)")
    p.add_argument("--list-runs", action="store_true",
                   help="list the stored runs (id, songs finished / planned) and exit")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --resume: classify songs that failed earlier again")
    p.add_argument("--batch", metavar="S3_URI",
                   help="a Bedrock batch job (half price, takes hours): JSONL in and out of "
                   "s3://bucket/prefix; needs --role-arn (see docs/batch-runs.md)")
    p.add_argument("--role-arn", metavar="ARN",
                   help="with --batch: the service role Bedrock reads and writes S3 with")
    p.add_argument("--poll-seconds", type=float, metavar="S",
                   help="with --batch: first wait between job status checks (default 30)")
    p.add_argument("--on-demand", action="store_true",
                   help="with --resume of a batch run: classify the songs left on demand")
    p.add_argument("--no-cache", action="store_true", help="do not use the feature cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "backend": args.backend, "model": args.model, "profile": args.profile,
        "region": args.region, "endpoint_url": args.endpoint_url,
        "requests_per_minute": args.requests_per_minute,
        "tokens_per_minute": args.tokens_per_minute,
        "samples_per_genre": args.samples_per_genre, "seed": args.seed, "workers": args.workers,
        "extract_workers": args.extract_workers, "cluster": args.cluster,
        "max_seconds": args.max_seconds,
        "reference": args.reference, "out_dir": args.out,
        "batch_s3": args.batch, "batch_role_arn": args.role_arn,
        "batch_poll_s": args.poll_seconds,
        # --batch alone means Bedrock: batch jobs exist nowhere else
        **({"backend": args.backend or "bedrock"} if args.batch else {}),
    }


def _fail(message: str) -> int:
    print(f"genre-desktop classify: {message}", file=sys.stderr)
    return EXIT_SETUP


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.runs import RunRequest, RunSession, RunSetupError
    from genre_desktop.core.settings import SettingsError, load_settings
    from genre_desktop.core.store import StoreWriteError

    if args.list_runs:
        return _list_runs()
    try:
        if args.resume:
            # Only flags given now change a resumed run; the file and env do not.
            given = {k: v for k, v in _overrides(args).items() if v is not None}
            session = RunSession.resume(args.resume, overrides=given,
                                        retry_failed=args.retry_failed,
                                        use_cache=not args.no_cache)
        else:
            if not args.dir:
                return _fail("give a folder of songs (DIR) or --resume RUN.")
            settings = load_settings(overrides=_overrides(args))
            session = RunSession.start(RunRequest(folder=args.dir, settings=settings,
                                                  use_cache=not args.no_cache))
    except (RunSetupError, SettingsError, StoreWriteError) as exc:
        return _fail(str(exc))
    from genre_desktop.commands import classify_batch

    with session:
        prepared = session.prepared
        if classify_batch.wants_batch(prepared, args):
            return classify_batch.run_batch(prepared, args)
        if prepared.settings.batch_s3 and (blocked := classify_batch.open_job_blocks_on_demand(
                prepared)):
            return _fail(blocked)
        return _run_session(session, args)


def _list_runs() -> int:
    import datetime

    from genre_desktop.core.store import list_runs, runs_dir

    runs = list_runs()
    if not runs:
        print(f"No runs in {runs_dir()}")
    for r in runs:
        when = datetime.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M")
        state = "complete" if r.finished >= r.planned else "resumable"
        print(f"{r.run_id}  {when}  {r.finished}/{r.planned} songs  {state}")
    return 0


def _run_session(session: Any, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from genre_desktop.core.pipeline import PipelineError, PipelineProgress
    from genre_desktop.core.store import StoreWriteError

    store, settings = session.store, session.settings
    verb = "Resuming" if session.resumed else "Starting"
    print(f"{verb} run {store.run_id}: {len(session.songs)} songs, backend "
          f"{session.backend.name} ({session.backend.model}), store {store.path}", flush=True)
    from genre_desktop.core.runs import backend_notices

    for notice in backend_notices(session.backend):
        print(notice, flush=True)  # e.g. the inference profile used, a legacy model's EOL date
    cancel = threading.Event()
    stop = StopSignals(cancel, "Cancelling (Ctrl+C again to stop now)...")
    stop.__enter__()  # SIGINT, SIGTERM and SIGHUP alike; restored in the finally below
    planned = {song.path for song in session.songs}
    already = len(store.finished_paths(include_errors=not args.retry_failed) & planned)
    bar = tqdm(total=len(session.songs), initial=already, unit="song",
               disable=args.no_progress, dynamic_ncols=True, file=sys.stderr)

    def on_progress(ev: PipelineProgress) -> None:
        bar.n = ev.done
        acc = f"{ev.accuracy:.0%}" if ev.accuracy is not None else "-"
        bar.set_description_str(ev.phase_text, refresh=False)
        bar.set_postfix_str(f"acc {acc} cost ${ev.cost_usd:.4f} errors {ev.errors}",
                            refresh=False)
        bar.refresh()

    fatal, interrupted, unsaved = "", False, None
    try:
        summary = session.run(on_progress, cancel)
    except (PipelineError, StoreWriteError) as exc:  # e.g. a full disk under the run store
        fatal, summary = str(exc), None
        unsaved = exc if isinstance(exc, StoreWriteError) and exc.unsaved else None
    except KeyboardInterrupt:  # a second Ctrl+C: songs finished so far are stored; report them
        interrupted, summary = True, None
    finally:
        bar.close()
        stop.__exit__(None, None, None)

    stopped = interrupted or (summary is not None and summary.cancelled)
    try:
        # Stopped: the user waits for the prompt. The songs' files take milliseconds; the
        # metrics and plot (scikit-learn, matplotlib: 3-5 s on a loaded machine) wait.
        paths = session.report(songs_only=stopped)
    except OSError as exc:  # the results are stored: say how to write the reports elsewhere
        print(f"Cannot write the reports to {settings.out_dir}: {exc}\nThe results are "
              f"stored; write them with: genre-desktop report {store.run_id} --out DIR",
              file=sys.stderr)
        return 1
    _print_summary(session.results(), len(session.songs), paths["tagged_songs.json"].parent)
    if fatal:
        print(f"The run stopped: {fatal}\nResume it with --resume {store.run_id}",
              file=sys.stderr)
        if unsaved is not None:
            _print_unsaved(unsaved)
        return 1
    if stopped:
        print(f"Stopped: only tagged_songs.json and errors.log were written; write the "
              f"metrics and plot with: genre-desktop report {store.run_id}")
        print(f"Cancelled. Resume with: genre-desktop classify --resume {store.run_id}")
        return stop.exit_status if stop.signum is not None else EXIT_CANCELLED
    return 0


def _print_unsaved(exc: Any) -> None:
    """The answers that finished after the store stopped taking writes: where they are."""
    import json

    from genre_desktop.core.redact import redact
    from genre_desktop.core.results import result_to_dict

    n = len(exc.unsaved)
    what = (f"{n} song{'s' if n != 1 else ''} finished after the run store failed (answers "
            f"already paid for)")
    if exc.unsaved_file is not None:
        print(f"{what} are kept in {exc.unsaved_file}; --resume stores them without asking "
              f"again.", file=sys.stderr)
        return
    print(f"{what} could not be written anywhere on disk: they follow as one JSON line.",
          file=sys.stderr)
    line = json.dumps({"unsaved_results": [result_to_dict(r) for r in exc.unsaved]})
    print(redact(line), file=sys.stderr, flush=True)


def _print_summary(results: list[Any], asked: int, folder: Any) -> None:
    from collections import Counter

    from genre_desktop.core.reports import unique_by_path

    # Counted here, not with compute_metrics: a stopped run must not wait for scikit-learn.
    results = unique_by_path(results)
    tagged = [r for r in results if r.prediction is not None]
    scored = [r for r in tagged if r.actual_genre is not None]
    correct = sum(r.prediction.predicted_genre == r.actual_genre for r in scored)
    acc = f"{correct / len(scored):.1%}" if scored else "n/a"
    cost = sum(r.prediction.cost_usd for r in tagged)
    failed = [r for r in results if r.prediction is None]
    print(f"Classified {len(tagged)} of {asked} songs; accuracy {acc} on {len(scored)} songs "
          f"of known genre; cost ${cost:.4f}; {len(failed)} failed.")
    failed = [r for r in failed if r.error is not None]
    for r in failed[:20]:
        print(f"  FAILED {r.file}: {r.error.reason}: {r.error.message}")
    if len(failed) > 20:
        print(f"  ... and {len(failed) - 20} more (see errors.log)")
    missing = Counter(f for r in results if r.prediction is not None
                      for f in r.prediction.member_failures)
    for failure, n in sorted(missing.items()):  # the ensemble voted without a member
        name, reason = failure.split(": ", 1)
        print(f"  The ensemble's {name} member failed on {n} of {len(results)} songs "
              f"({reason}); those songs were decided without it.")
    for r in results:  # silence, white noise: tagged, but the genre means nothing
        if "warning:" in (r.note or ""):
            print(f"  WARNING {r.file}: {r.note[r.note.index('warning:') + 9:]}")
    print(f"Reports: {folder}")
