"""Plain (Qt-free) calls the app makes into the core, each meant for a worker thread.

The classification settings are the core's own `Settings` (settings.toml; the dialog edits it);
a run over the songs the user picked goes through the core's run API (`RunSession`, as the
CLI's runs do); the setup check becomes a list of (step, passed, detail) rows the profiles
dialog shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from genre_desktop.app.settings_data import BackendChoice
from genre_desktop.core.songs import Song, discover_songs

ProbeResult = dict[str, float | None]


def scan_folder(folder: str) -> list[Any]:
    """Every audio file under `folder`, as browser rows (the folder name gives the genre)."""
    from genre_desktop.app.browser import SongRow

    return [SongRow.from_path(s.path, s.actual_genre) for s in discover_songs(folder)]


def probe_durations(paths: Sequence[str]) -> ProbeResult:
    """File durations from headers only (fast); None when the header does not say."""
    import soundfile

    out: ProbeResult = {}
    for path in paths:
        try:
            info = soundfile.info(path)
            out[path] = float(info.frames) / float(info.samplerate) if info.samplerate else None
        except Exception:  # unreadable header or a format soundfile lacks: shown as blank
            out[path] = None
    return out


def core_settings(choice: BackendChoice, workers: int | None = None) -> Any:
    """The user's TOML settings with the window's choices on top."""
    from genre_desktop.core.settings import load_settings

    overrides: dict[str, Any] = {
        "backend": choice.backend, "region": choice.region, "model": choice.model,
        "profile": choice.profile or None, "endpoint_url": choice.endpoint_url or None,
    }
    if choice.batch_s3 and choice.backend == "bedrock":  # batch jobs exist only on Bedrock
        overrides.update(batch_s3=choice.batch_s3, batch_role_arn=choice.batch_role_arn or None)
    if workers:
        overrides["workers"] = workers
    settings = load_settings(overrides=overrides)
    if not (choice.batch_s3 and choice.backend == "bedrock"):
        # On demand, whatever settings.toml holds (the window chose it, e.g. for a batch job
        # too small for Bedrock); None overrides are skipped, so it is set here.
        import dataclasses

        settings = dataclasses.replace(settings, batch_s3=None, batch_role_arn=None)
    return settings


def batch_minimum(model: str) -> int:
    """The fewest records a Bedrock batch job of this model takes (its quota, registry)."""
    from genre_desktop.core.backends.registry import ModelRegistry

    return int(ModelRegistry.load().get(model).batch_min_records)


def songs_for(paths: Sequence[str]) -> list[Song]:
    from genre_desktop.core.runs import songs_for as core_songs_for

    return core_songs_for(paths)


def make_run_function(paths: Sequence[str], choice: BackendChoice, *, workers: int | None = None,
                      on_store: Callable[[Any], None] | None = None,
                      use_cache: bool = True, folder: str | None = None,
                      resume: str | None = None) -> Callable[..., Any]:
    """A function(progress, cancel) that runs the songs through the core's run API
    (core.runs.RunSession, as the CLI does): a new run of `folder` for `paths`, or the stored
    run `resume` carried on.

    Building the backend may train the offline model or open an AWS session, so all of it
    runs on the worker thread, never in the window's thread.
    """

    def run(progress: Callable[[Any], None], cancel: Any) -> Any:
        from genre_desktop.core.runs import RunRequest, RunSession

        if resume:
            session = RunSession.resume(resume, use_cache=use_cache)
        else:
            settings = core_settings(choice, workers)
            # With the songs, the offline model leaves out their own reference-table rows, so
            # accuracy on GTZAN files is measured on songs the model has not seen.
            session = RunSession.start(RunRequest(folder=folder, paths=list(paths),
                                                  settings=settings, source="app",
                                                  use_cache=use_cache))
        if on_store is not None:
            on_store(session.store)
        from genre_desktop.core.runs import backend_notices
        from genre_desktop.core.types import RunNotice

        for text in backend_notices(session.backend):  # once per run, before any song
            progress(RunNotice(text))
        with session:
            if session.settings.batch_s3:
                from genre_desktop.core.batch_run import run_batch_job

                return run_batch_job(session.songs, session.backend, session.store,
                                     session.settings, progress=progress, cancel=cancel,
                                     say=lambda _line: None, use_cache=use_cache).summary
            return session.run(progress, cancel)

    return run


def stored_run(run_id: str) -> tuple[list[str], list[Any]]:
    """A stored run's planned song paths and every result it holds (to reopen it)."""
    from genre_desktop.core.store import RunStore

    with RunStore.open(run_id) as store:
        return [s.path for s in store.planned_songs()], store.results()


def past_runs() -> list[Any]:
    from genre_desktop.core.runs import past_runs as core_past_runs

    return core_past_runs()


StepRow = tuple[str, str, str]  # (step name, PASS | FAIL | SKIP, reason with hint)


def run_setup_check(choice: BackendChoice,
                    on_step: Callable[[StepRow], None] | None = None) -> list[StepRow]:
    """The core setup check; each step is also passed to `on_step` as soon as it ends."""
    from genre_desktop.core.setupcheck import run_checks

    def row(step: Any) -> StepRow:
        detail = step.reason
        if step.hint and step.status == "FAIL":
            detail = f"{detail} Hint: {step.hint}"
        return (step.name, step.status, detail)

    steps = run_checks(
        profile=choice.profile or None, region=choice.region, model=choice.model,
        endpoint_url=choice.endpoint_url or None,
        on_step=(lambda step: on_step(row(step))) if on_step else None,
    )
    return [row(s) for s in steps]


def download_gtzan(target: str | None = None) -> tuple[str | None, str]:
    """Fetch GTZAN with the same function as `genre-desktop download`.

    Returns (folder of genre sub-folders, "") or (None, one plain sentence saying why not:
    no network, no Kaggle credentials, kagglehub missing).
    """
    from genre_desktop.core.dataset import DownloadError, genres_folder
    from genre_desktop.core.dataset import download_gtzan as fetch

    try:
        root = fetch(target)
    except DownloadError as exc:
        return None, str(exc)
    return str(genres_folder(root)), ""
