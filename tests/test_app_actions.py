"""The window's actions on a real window: the status bar and tooltips show plain words, not
the menu's mnemonic '&'."""

from __future__ import annotations

import pytest
from app_fixtures import *  # noqa: F403

pytestmark = pytest.mark.gui


def test_status_tips_and_tooltips_are_plain_words(main_window):
    actions = [a for a in main_window.actions() if a.text()]
    assert len(actions) >= 10
    for action in actions:
        assert "&" not in action.statusTip(), action.text()  # was "&Model and AWS profile..."
        assert "&" not in action.toolTip(), action.text()
        assert action.statusTip(), action.text()
