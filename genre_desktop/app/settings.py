"""App settings in QSettings: an INI file in the user config folder, with a schema version.

Secrets never go here: keyring-backed AWS profiles keep their keys in the system keyring and
only their names are remembered. `assert_no_secret_keys` guards the key names we write.
"""

from __future__ import annotations

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

    # -- classification ---------------------------------------------------------------------
    def backend_choice(self) -> BackendChoice:
        default = BackendChoice()
        return BackendChoice(
            backend=str(self._qs.value("model/backend", default.backend)),
            profile=str(self._qs.value("model/profile", default.profile) or ""),
            region=str(self._qs.value("model/region", default.region)),
            model=str(self._qs.value("model/model_id", default.model)),
            endpoint_url=str(self._qs.value("model/endpoint_url", default.endpoint_url) or ""),
            batch_s3=str(self._qs.value("model/batch_s3", "") or ""),
            batch_role_arn=str(self._qs.value("model/batch_role_arn", "") or ""),
        )

    def save_backend_choice(self, choice: BackendChoice) -> None:
        self._set("model/backend", choice.backend)
        self._set("model/profile", choice.profile)
        self._set("model/region", choice.region)
        self._set("model/model_id", choice.model)
        self._set("model/endpoint_url", choice.endpoint_url)
        self._set("model/batch_s3", choice.batch_s3)
        self._set("model/batch_role_arn", choice.batch_role_arn)

    @property
    def low_confidence(self) -> float:
        return float(self._qs.value("results/low_confidence", 0.5))

    @low_confidence.setter
    def low_confidence(self, value: float) -> None:
        self._set("results/low_confidence", float(value))

    @property
    def workers(self) -> int:
        """Classification threads; 0 = the core's default (more for an LLM than offline)."""
        return int(self._qs.value("model/workers", 0))

    @workers.setter
    def workers(self, value: int) -> None:
        self._set("model/workers", int(value))

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
