"""One place for classification settings: the core's settings.toml. The app's INI keeps window
and player state only; an older INI's model/* values move into settings.toml once."""

from __future__ import annotations

import tomllib


def test_old_ini_model_values_move_to_the_core_settings_once(tmp_path):
    from PySide6.QtCore import QSettings

    from genre_desktop.app.settings import AppSettings
    from genre_desktop.app.settings_data import BackendChoice
    from genre_desktop.core.settings import load_settings, settings_path

    ini = tmp_path / "app.ini"
    old = QSettings(str(ini), QSettings.Format.IniFormat)
    for key, value in (("model/backend", "bedrock"), ("model/region", "eu-west-1"),
                       ("model/model_id", "mistral.mixtral-8x7b-instruct-v0:1"),
                       ("model/workers", 3), ("window/geometry", "kept")):
        old.setValue(key, value)
    old.sync()
    del old

    app = AppSettings(ini)
    choice = app.backend_choice()
    assert (choice.backend, choice.region) == ("bedrock", "eu-west-1")
    on_disk = tomllib.loads(settings_path().read_text())
    assert on_disk["backend"] == "bedrock" and on_disk["workers"] == 3
    keys = QSettings(str(ini), QSettings.Format.IniFormat).allKeys()
    assert not [k for k in keys if k.startswith("model/")] and "window/geometry" in keys

    # The dialog's save goes to settings.toml (what the CLI reads), never to the INI.
    app.save_backend_choice(BackendChoice(backend="local", region="us-west-2"))
    app.sync()
    assert load_settings().backend == "local" and load_settings().region == "us-west-2"
    keys = QSettings(str(ini), QSettings.Format.IniFormat).allKeys()
    assert not [k for k in keys if k.startswith("model/")]
