"""The app's "Batch job (half price, takes hours)" field: typed in the model dialog, kept in the
app settings (never a secret), and handed to the core as Settings.batch_s3 / batch_role_arn."""

from __future__ import annotations

import pytest
from app_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.gui]

ROLE = "arn:aws:iam::123456789012:role/GenreDesktopBatch"


def test_batch_field_round_trips_into_core_settings(qtbot, app_settings):
    from genre_desktop.app.core_calls import core_settings
    from genre_desktop.app.profiles_dialog import ProfilesDialog

    dialog = ProfilesDialog(app_settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    labels = [dialog.findChild(type(dialog.batch), "batchS3"), dialog.batch_role]
    assert all(w is not None and w.isVisible() for w in labels)
    dialog.backend.setCurrentIndex(dialog.backend.findData("bedrock"))
    qtbot.keyClicks(dialog.batch, "s3://my-bucket/genre-runs")
    qtbot.keyClicks(dialog.batch_role, ROLE)
    dialog.accept()

    choice = app_settings.backend_choice()  # read back from the .ini file
    assert (choice.batch_s3, choice.batch_role_arn) == ("s3://my-bucket/genre-runs", ROLE)
    settings = core_settings(choice)
    assert settings.batch_s3 == "s3://my-bucket/genre-runs" and settings.batch_role_arn == ROLE
    assert settings.backend == "bedrock"
