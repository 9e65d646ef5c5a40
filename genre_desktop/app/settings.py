"""App settings in QSettings: an INI file in the user config folder, with a schema version.

It keeps window, folder, results-view and player state only. Classification settings (backend,
model, profile, region, endpoint, batch, workers) are the core's `Settings` in settings.toml,
the same file the CLI reads; `backend_choice`/`save_backend_choice` read and write that file.

Secrets never go here: keyring-backed AWS profiles keep their keys in the system keyring and
only their names are remembered. `assert_no_secret_keys` guards the key names we write.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from genre_desktop.app.settings_data import BackendChoice
from genre_desktop.core.resources import config_dir

SCHEMA_VERSION = 1
__all__ = ["SCHEMA_VERSION", "AppSettings", "BackendChoice"]
_FORBIDDEN_WORDS = ("secret", "password", "token", "access_key")


RECENT_LIMIT = 8


class AppSettings:
    """Typed access to the few things the app remembers between runs."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or (config_dir() / "genre-desktop-app.ini")
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)
        self._migrate()

    # -- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = int(self._qs.value("schema_version", 0) or 0)
        if version > SCHEMA_VERSION:
            # Written by a newer app: keep the file, read what we understand.
            return
        if version < SCHEMA_VERSION:
            # Version 0 is "no file yet"; later migrations go here step by step.
            self._qs.setValue("schema_version", SCHEMA_VERSION)
            self._qs.sync()

    @property
    def schema_version(self) -> int:
        return int(self._qs.value("schema_version", 0) or 0)

    def _set(self, key: str, value: object) -> None:
        lowered = key.lower()
        if any(word in lowered for word in _FORBIDDEN_WORDS):
            raise ValueError(f"refusing to store a secret-looking key in settings: {key}")
        self._qs.setValue(key, value)

    def sync(self) -> None:
        self._qs.sync()

    # -- window -----------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._set("window/geometry", geometry)
        self._set("window/state", state)

    # -- folders ----------------------------------------------------------------------------
    @property
    def last_folder(self) -> str:
        return str(self._qs.value("paths/last_folder", "") or "")

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self._set("paths/last_folder", value)

    @property
    def recent_folders(self) -> list[str]:
        """Most recent first (the File > Recent folders menu)."""
        value = self._qs.value("paths/recent_folders", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [str(v) for v in items if v][:RECENT_LIMIT]

    def add_recent_folder(self, folder: str) -> None:
        items = [folder, *(f for f in self.recent_folders if f != folder)][:RECENT_LIMIT]
        self._set("paths/recent_folders", items)

    @property
    def export_folder(self) -> str:
        return str(self._qs.value("paths/export_folder", "") or "")

    @export_folder.setter
    def export_folder(self, value: str) -> None:
        self._set("paths/export_folder", value)

    # -- classification: the core's Settings (settings.toml), never this INI ---------------
    def backend_choice(self) -> BackendChoice:
        """The dialog's fields, read from the core's settings file (what the CLI uses too)."""
        from genre_desktop.core.settings import load_settings

        self._migrate_model_keys()
        # The file only: an environment override is not the user's choice to save back.
        return BackendChoice.from_settings(load_settings(env={}))

    def save_backend_choice(self, choice: BackendChoice) -> None:
        """Into the core's settings file, with the core's own save (validated, atomic)."""
        from genre_desktop.core.settings import load_settings, save_settings

        self._migrate_model_keys()
        batch = choice.backend == "bedrock" and bool(choice.batch_s3)
        settings = load_settings(env={}).replace(
            backend=choice.backend, profile=choice.profile or None, region=choice.region,
            model=choice.model, endpoint_url=choice.endpoint_url or None,
            batch_s3=choice.batch_s3 if batch else None,
            batch_role_arn=(choice.batch_role_arn or None) if batch else None,
        )
        save_settings(settings)

    def _migrate_model_keys(self) -> None:
        """Once: model/* values of older apps move into settings.toml and leave the INI."""
        keys = [k for k in self._qs.allKeys() if k.startswith("model/")]
        if not keys:
            return
        from genre_desktop.core.settings import load_settings, save_settings, settings_path

        names = {"backend": "backend", "profile": "profile", "region": "region",
                 "model_id": "model", "endpoint_url": "endpoint_url", "batch_s3": "batch_s3",
                 "batch_role_arn": "batch_role_arn", "workers": "workers"}
        old = {names[k[6:]]: self._qs.value(k) for k in keys if k[6:] in names}
        if old.get("workers") in (0, "0"):
            old.pop("workers")  # 0 meant "the core's default"
        if not settings_path().is_file():  # the file, once written, wins over old INI values
            with contextlib.suppress(ValueError):  # an unusable old value: core defaults
                save_settings(load_settings(env={}, overrides=old))
        for key in keys:
            self._qs.remove(key)
        self._qs.sync()

    @property
    def low_confidence(self) -> float:
        return float(self._qs.value("results/low_confidence", 0.5))

    @low_confidence.setter
    def low_confidence(self, value: float) -> None:
        self._set("results/low_confidence", float(value))

    # -- player -----------------------------------------------------------------------------
    @property
    def output_device(self) -> str:
        return str(self._qs.value("player/output_device", "") or "")

    @output_device.setter
    def output_device(self, value: str) -> None:
        self._set("player/output_device", value)

    @property
    def volume(self) -> int:
        return int(self._qs.value("player/volume", 80))

    @volume.setter
    def volume(self, value: int) -> None:
        self._set("player/volume", int(value))
