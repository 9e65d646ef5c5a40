"""The app's error log masks the credentials in use (issue 11, item 5): a real dock under Xvfb."""

from __future__ import annotations

from app_fixtures import *  # noqa: F403

from genre_desktop.core import redact
from genre_desktop.core.types import SongError

TOKEN = "FwoGZXIvYXdzAPPLOGsessiontoken9876543210TESTONLY"


def test_the_error_log_dock_masks_an_echoed_token(main_window):
    redact.register(TOKEN)  # as resolving the profile's credentials does
    dock = main_window.log_dock
    dock.add_errors([SongError("bad_response", f"Bedrock said: x-amz-security-token: {TOKEN}",
                               stage="classify", path="/music/jazz/a.wav")])
    row = dock.table.rowCount() - 1
    texts = [dock.table.item(row, c).text() for c in range(dock.table.columnCount())]
    assert any("x-amz-security-token: ****" in t for t in texts)
    assert not any(TOKEN in t for t in texts)
