"""Starting and resuming batch runs: the glue the CLI and the app share.

`start_run` discovers and samples the songs, builds the backend and opens a new store recording
what was asked; `resume_run` reopens a store with the settings it was started with.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre_desktop import __version__
from genre_desktop.core.resources import resource
from genre_desktop.core.settings import Settings, merge
from genre_desktop.core.songs import Song, discover_songs, sample_songs
from genre_desktop.core.store import RunStore
from genre_desktop.core.types import Backend, SetupError


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

    With `songs`, the offline model is trained without the reference rows of those songs (by
    file name), so a run over GTZAN itself measures accuracy on songs the model has not seen.
    """
    from genre_desktop.core.user_reference import with_user_rows

    try:
        # Songs the user accepted or corrected in review join the reference (examples and
        # training rows) at once.
        settings = with_user_rows(settings)
        if settings.backend == "local":
            from genre_desktop.core.backends.local import LocalBackend

            return LocalBackend(**_local_kwargs(settings, songs))
        bedrock = _bedrock(settings)
        if settings.backend == "bedrock":
            return bedrock
        from genre_desktop.core.backends.ensemble import EnsembleBackend
        from genre_desktop.core.backends.local import LocalBackend

        return EnsembleBackend([LocalBackend(**_local_kwargs(settings, songs)), bedrock])
    except RunSetupError:
        raise
    except SetupError as exc:  # the Bedrock pre-flight: one sentence with its hint
        raise RunSetupError(str(exc)) from exc
    except Exception as exc:  # missing credentials, bad reference table, ...
        raise RunSetupError(
            f"Cannot set up the {settings.backend} backend: {type(exc).__name__}: {exc}"
        ) from exc


def _local_kwargs(settings: Settings, songs: Sequence[Song] | None) -> dict[str, Any]:
    from genre_desktop.core.reference import load_reference

    kwargs: dict[str, Any] = {"table": settings.reference} if settings.reference else {}
    if songs:
        # Only names that are in the table: the trained-model cache key stays small and stable.
        in_table = set(load_reference(settings.reference).filenames)
        held_out = sorted({Path(s.path).name for s in songs} & in_table)
        if held_out:
            kwargs["exclude_from_training"] = held_out
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


def run_meta(settings: Settings, backend: Backend) -> dict[str, Any]:
    return {
        "backend": getattr(backend, "name", settings.backend),
        "model": getattr(backend, "model", settings.model),
        # A bare model ID resolved to an inference profile: what was asked and why.
        "model_requested": getattr(backend, "requested", settings.model),
        "notices": list(getattr(backend, "notices", []) or []),
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
              run_id: str | None = None) -> PreparedRun:
    """Discover and sample the songs under `folder` and open a new run store for them."""
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
    meta = {**run_meta(settings, backend), "folder": str(Path(folder).resolve())}
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
