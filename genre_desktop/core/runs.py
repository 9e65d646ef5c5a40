"""Starting and resuming batch runs: the one run API the CLI, the app and the self-test share.

`RunSession.start(RunRequest(...))` or `RunSession.resume(run)`, then `.run(progress, cancel)`
and `.report()`. Underneath, `start_run` discovers and samples the songs, builds the backend and
opens a new store recording what was asked; `resume_run` reopens a store with the settings it
was started with. A run belongs to its folder (recorded in the store).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre_desktop import __version__
from genre_desktop.core.resources import resource
from genre_desktop.core.settings import Settings, merge
from genre_desktop.core.songs import Song, discover_songs, genre_from_path, sample_songs
from genre_desktop.core.store import RunStore
from genre_desktop.core.types import Backend, CancelFlag, SetupError


class RunSetupError(RuntimeError):
    """The run cannot start: no songs, unknown run, a backend that cannot be built."""


@dataclass
class PreparedRun:
    store: RunStore
    songs: list[Song]
    backend: Backend
    settings: Settings
    resumed: bool


def prompt_template_hash() -> str:
    """sha256 over the shipped prompt templates, so a run records which prompt it used."""
    folder = resource("prompts")
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_backend(settings: Settings, songs: Sequence[Song] | None = None) -> Backend:
    """The backend the settings name; raises RunSetupError when it cannot be built.

    `songs` no longer changes the offline model: it is cross-fitted (a song whose own audio is
    in the reference table is classified by a model trained without it), so a song's answer
    does not depend on the other songs of the run.
    """
    from genre_desktop.core.reference import ReferenceError as TableError
    from genre_desktop.core.user_reference import with_user_rows

    del songs
    try:
        # Songs the user accepted or corrected in review join the reference (examples and
        # training rows) at once.
        settings = with_user_rows(settings)
        if settings.backend == "local":
            from genre_desktop.core.backends.local import LocalBackend

            return LocalBackend(**_local_kwargs(settings))
        bedrock = _bedrock(settings)
        if settings.backend == "bedrock":
            return bedrock
        from genre_desktop.core.backends.ensemble import EnsembleBackend
        from genre_desktop.core.backends.local import LocalBackend

        return EnsembleBackend([LocalBackend(**_local_kwargs(settings)), bedrock])
    except RunSetupError:
        raise
    except SetupError as exc:  # the Bedrock pre-flight: one sentence with its hint
        raise RunSetupError(str(exc)) from exc
    except TableError as exc:  # an unreadable or unusable reference table: its own sentence
        raise RunSetupError(str(exc)) from exc
    except Exception as exc:  # missing credentials, bad reference table, ...
        raise RunSetupError(
            f"Cannot set up the {settings.backend} backend: {type(exc).__name__}: {exc}"
        ) from exc


def _local_kwargs(settings: Settings) -> dict[str, Any]:
    from genre_desktop.core.reference import load_reference, training_problem

    kwargs: dict[str, Any] = {"table": settings.reference} if settings.reference else {}
    # Found now, not as every song's model_unavailable error once the run has started.
    problem = training_problem(load_reference(settings.reference))
    if problem:
        raise RunSetupError(problem)
    return kwargs


def _bedrock(settings: Settings) -> Backend:
    from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig

    limits = {k: v for k, v in (("requests_per_minute", settings.requests_per_minute),
                                 ("tokens_per_minute", settings.tokens_per_minute))
              if v is not None}
    config = BedrockConfig(
        model_id=settings.model, profile=settings.profile, region=settings.region,
        endpoint_url=settings.endpoint_url, reference_path=settings.reference,
        # One HTTP connection per classification thread, at least botocore's default.
        max_pool_connections=max(10, settings.workers), **limits,
    )
    backend = BedrockBackend(config)
    backend.prepare()  # set-up problems stop here, before any song (raises SetupError)
    return backend


def backend_notices(backend: Backend) -> list[str]:
    """The set-up notices of a backend and of an ensemble's members, each once."""
    found: list[str] = list(getattr(backend, "notices", None) or [])
    for member in getattr(backend, "members", None) or []:
        found += [n for n in getattr(member, "notices", None) or [] if n not in found]
    return found


def run_meta(settings: Settings, backend: Backend) -> dict[str, Any]:
    return {
        "backend": getattr(backend, "name", settings.backend),
        "model": getattr(backend, "model", settings.model),
        # A bare model ID resolved to an inference profile: what was asked and why.
        "model_requested": getattr(backend, "requested", settings.model),
        "notices": backend_notices(backend),
        "prompt_template_hash": prompt_template_hash(),
        "app_version": __version__,
    }


def _absolute_paths(settings: Settings) -> Settings:
    """The out folder and reference table as absolute paths, so the run records where they are
    (a --resume from another folder must find the same ones)."""
    changes: dict[str, Any] = {"out_dir": str(Path(settings.out_dir).expanduser().resolve())}
    if settings.reference:
        changes["reference"] = str(Path(settings.reference).expanduser().resolve())
    return settings.replace(**changes)


def check_out_dir(out_dir: str | Path) -> None:
    """RunSetupError unless the reports folder can be made: found now, not after the songs."""
    path = Path(out_dir).expanduser().absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), path.anchor)
    existing = Path(existing)
    if not existing.is_dir():
        raise RunSetupError(f"Cannot write the reports to {path}: {existing} is not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunSetupError(f"Cannot write the reports to {path}: {existing} is not writable.")


def start_run(folder: str | Path, settings: Settings, *, backend: Backend | None = None,
              run_id: str | None = None, songs: list[Song] | None = None,
              source: str = "cli") -> PreparedRun:
    """Discover and sample the songs under `folder` (or take `songs`, all of them) and open a
    new run store for them."""
    if songs is None:
        try:
            found = discover_songs(folder)
        except FileNotFoundError as exc:
            raise RunSetupError(str(exc)) from exc
        songs = sample_songs(found, settings.samples_per_genre, settings.seed)
    # Absolute, so `--resume` from another folder writes the reports to the same place.
    settings = _absolute_paths(settings)
    if not songs:
        raise RunSetupError(f"No audio files found under {folder}.")
    check_out_dir(settings.out_dir)
    backend = backend or build_backend(settings, songs)
    meta = {**run_meta(settings, backend), "folder": str(Path(folder).resolve()),
            "source": source}
    store = RunStore.create(songs, settings=settings.to_dict(), meta=meta, run_id=run_id)
    return PreparedRun(store, songs, backend, settings, resumed=False)


def resume_run(run: str | Path, *, overrides: dict[str, Any] | None = None,
               backend: Backend | None = None) -> PreparedRun:
    """Reopen a run with the settings it started with (flags may change e.g. workers)."""
    from genre_desktop.core.store import StoreError

    try:
        store = RunStore.open(run, writer=True)  # a second resume of it is refused
    except StoreError as exc:
        raise RunSetupError(str(exc)) from exc
    try:
        store.take_unsaved()  # answers a full disk kept beside the store: not asked again
    except BaseException:
        store.close()
        raise
    meta = store.meta()
    settings = merge(Settings(), meta["settings"], source=f"run {store.run_id}")
    if overrides:
        settings = merge(settings, {k: v for k, v in overrides.items() if v is not None},
                         source="command line")
    settings.validate()
    # Absolute, as in start_run: the run records where its reports go, not where it was typed.
    settings = _absolute_paths(settings)
    try:
        check_out_dir(settings.out_dir)
    except RunSetupError:
        store.close()
        raise
    songs = store.planned_songs()
    try:
        backend = backend or build_backend(settings, songs)
    except RunSetupError:
        store.close()
        raise
    if settings.to_dict() != meta["settings"]:
        # The run now goes on with these settings; its metadata says so.
        store.set_meta("settings", settings.to_dict())
        for key, value in run_meta(settings, backend).items():
            store.set_meta(key, value)
    return PreparedRun(store, songs, backend, settings, resumed=True)


# -- the one run API: the CLI, the app's run process and the self-test all go through it -----
@dataclass
class RunRequest:
    """What to classify and how.

    `folder`: the run's folder (songs are discovered and sampled under it, and report paths
    are relative to it). `paths`: exactly these files instead (the app's selection), still
    belonging to `folder`. `settings`: None loads the settings file and environment.
    """

    folder: str | Path | None = None
    paths: Sequence[str] | None = None
    settings: Settings | None = None
    source: str = "cli"  # recorded in the run's metadata
    use_cache: bool = True
    retry_failed: bool = False
    # Carry each song's good answer from earlier runs of the same folder, so a failed
    # re-classify shows it beside the failure instead of erasing it.
    keep_last_good: bool = True


class RunSession:
    """One run: `start` or `resume`, then `run(progress, cancel)`, then `report()`."""

    def __init__(self, prepared: PreparedRun, request: RunRequest) -> None:
        self.prepared = prepared
        self.request = request

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def start(cls, request: RunRequest, *, backend: Backend | None = None,
              run_id: str | None = None) -> RunSession:
        from genre_desktop.core.settings import load_settings

        settings = request.settings or load_settings()
        if request.paths is not None:
            songs = songs_for(request.paths)
            if not songs:
                raise RunSetupError("No songs were given to classify.")
            folder = Path(request.folder) if request.folder else _common_folder(songs)
        else:
            if request.folder is None:
                raise RunSetupError("Give a folder of songs or the songs themselves.")
            folder, songs = Path(request.folder), None
        prepared = start_run(folder, settings, backend=backend, run_id=run_id, songs=songs,
                             source=request.source)
        session = cls(prepared, request)
        if request.keep_last_good:
            prepared.store.keep_last_good(earlier_good_answers(
                session.folder, {s.path for s in prepared.songs},
                skip=prepared.store.run_id))
        return session

    @classmethod
    def resume(cls, run: str | Path, *, overrides: dict[str, Any] | None = None,
               backend: Backend | None = None, retry_failed: bool = False,
               use_cache: bool = True) -> RunSession:
        prepared = resume_run(run, overrides=overrides, backend=backend)
        meta = prepared.store.meta()
        request = RunRequest(folder=meta.get("folder"), settings=prepared.settings,
                             source=str(meta.get("source", "cli")), use_cache=use_cache,
                             retry_failed=retry_failed, keep_last_good=False)
        return cls(prepared, request)

    # -- what it holds ---------------------------------------------------------------------
    @property
    def store(self) -> RunStore:
        return self.prepared.store

    @property
    def songs(self) -> list[Song]:
        return self.prepared.songs

    @property
    def backend(self) -> Backend:
        return self.prepared.backend

    @property
    def settings(self) -> Settings:
        return self.prepared.settings

    @property
    def resumed(self) -> bool:
        return self.prepared.resumed

    @property
    def run_id(self) -> str:
        return self.store.run_id

    @property
    def folder(self) -> Path | None:
        folder = self.store.meta().get("folder")
        return Path(folder) if folder else None

    def results(self) -> list[Any]:
        return self.store.results()

    # -- doing -------------------------------------------------------------------------------
    def run(self, progress: Callable[[Any], None] | None = None, cancel: CancelFlag | None = None,
            *, report: bool = False) -> Any:
        """Train or load the model, run the pipeline, then (with `report`) write the reports.

        Every stage goes out as a progress event with its phase, so a caller never shows a
        silent "0%" while the model trains or the kernels compile.
        """
        from genre_desktop.core.pipeline import run_pipeline

        if progress is not None:
            progress(self._event("training", "starting"))
        if not (cancel is not None and cancel.is_set()):
            prepare_backend(self.backend)
        summary = run_pipeline(self.songs, self.backend, self.store, self.settings,
                               progress=progress, cancel=cancel,
                               retry_failed=self.request.retry_failed,
                               use_cache=self.request.use_cache)
        if report:
            if progress is not None and summary.last is not None:
                progress(dataclasses.replace(summary.last, phase="reports"))
            self.report()
            if progress is not None and summary.last is not None:
                progress(summary.last)
        return summary

    def report(self, out_dir: str | Path | None = None, *,
               songs_only: bool = False) -> dict[str, Path]:
        """The standard report files from everything this run has stored.

        `songs_only`: just tagged_songs.json and errors.log, in milliseconds (a stopped run on
        its way out); the metrics and plot come later from `report_run` (`genre-desktop
        report RUN`) or the next `report()`.
        """
        return report_run(self.store, out_dir or self.settings.out_dir,
                          songs_asked=len(self.songs), songs_only=songs_only)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _event(self, phase: str, stage: str) -> Any:
        from genre_desktop.core.pipeline import PipelineProgress

        planned = {s.path for s in self.songs}
        done = len(self.store.finished_paths(include_errors=not self.request.retry_failed)
                   & planned)
        return PipelineProgress(done, len(self.songs), 0, 0, 0, 0, 0, 0.0, 0.0, None, stage,
                                phase=phase)


def report_run(store: RunStore, out_dir: str | Path | None = None, *,
               songs_asked: int | None = None, songs_only: bool = False) -> dict[str, Path]:
    """Write a stored run's reports (to the out folder it recorded unless `out_dir` is given);
    a reader of the store is enough, so a run in progress elsewhere can be reported too."""
    from genre_desktop.core.reports import write_reports, write_song_reports

    meta = store.meta()
    out = out_dir or (meta.get("settings") or {}).get("out_dir") or Settings().out_dir
    folder = meta.get("folder")
    root = Path(folder) if folder else None
    if songs_only:
        return write_song_reports(store.results(), out, root=root, stale=True)
    asked = songs_asked if songs_asked is not None else len(store.planned_songs())
    return write_reports(
        store.results(), out, songs_asked=asked, elapsed_s=store.elapsed_s(),
        run_info={"run_id": store.run_id, **{k: v for k, v in meta.items()
                                             if k != "settings"}},
        root=root,
    )


def prepare_backend(backend: Backend) -> None:
    """Train (or load) the offline model now, as its own phase, not inside the first song."""
    for member in [backend, *getattr(backend, "members", [])]:
        trained = getattr(member, "trained", None)
        if callable(trained):
            with contextlib.suppress(Exception):  # the first song reports the problem
                trained()


def songs_for(paths: Sequence[str]) -> list[Song]:
    """The songs at these paths, each labelled by its folder name when that is a genre."""
    # abspath, not resolve: a symlinked song keeps the path (and genre folder) the user sees.
    return [Song(os.path.abspath(p), genre_from_path(p)) for p in paths]


def _common_folder(songs: Sequence[Song]) -> Path:
    common = Path(os.path.commonpath([s.path for s in songs]))
    return common if common.is_dir() else common.parent


def earlier_good_answers(folder: Path | None, paths: set[str], *, skip: str = "",
                         limit: int = 50) -> list[Any]:
    """The newest good answer for each of `paths` from earlier runs of `folder`."""
    from genre_desktop.core.store import StoreError, list_runs

    if folder is None or not paths:
        return []
    found: dict[str, Any] = {}
    for info in list_runs()[:limit]:
        if info.run_id == skip or len(found) == len(paths):
            continue
        try:
            with RunStore.open(info.path) as store:
                if store.meta().get("folder") != str(folder):
                    continue
                for r in store.results():
                    if r.prediction is not None and r.path in paths:
                        found.setdefault(r.path, r)
        except (StoreError, OSError):
            continue
    return list(found.values())


@dataclass(frozen=True)
class PastRun:
    """A stored run as the app lists it."""

    run_id: str
    path: Path
    created_at: float
    folder: str
    backend: str
    model: str
    planned: int
    finished: int
    batch_status: str = ""  # a batch job not yet joined: its last known status ("InProgress")

    @property
    def complete(self) -> bool:
        return self.finished >= self.planned and not self.batch_status


def past_runs(folder: str | Path | None = None) -> list[PastRun]:
    """Stored runs, newest first; only those of `folder` when given."""
    from genre_desktop.core.store import StoreError, list_runs

    wanted = str(Path(folder).resolve()) if folder else None
    out = []
    for info in list_runs():
        try:
            with RunStore.open(info.path) as store:
                meta = store.meta()
        except (StoreError, OSError):
            continue
        run_folder = str(meta.get("folder", ""))
        if wanted is not None and run_folder != wanted:
            continue
        out.append(PastRun(info.run_id, info.path, info.created_at, run_folder,
                           str(meta.get("backend", "")), str(meta.get("model", "")),
                           info.planned, info.finished, _batch_status(info.path)))
    return out


def _batch_status(path: Path) -> str:
    """The status of the run's batch jobs not yet joined ('' for none): what resume follows."""
    from genre_desktop.core.batch_jobs import BatchJobs, has_batch_jobs

    if not has_batch_jobs(path):
        return ""
    with BatchJobs(path) as jobs:
        states = [j.status for j in jobs.open_jobs()]
    return ", ".join(dict.fromkeys(states))
