"""The details pane (Answer, Prompt, Raw response) on real widgets: it follows the browser's
current song, also when that song's answer arrives later, and forgets the last folder."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def _result(path: str, genre: str):
    from genre_desktop.core.results import SongResult
    from genre_desktop.core.types import Prediction

    prediction = Prediction(genre, 0.83, f"sounds like {genre}", ["tempo"], [("jazz", 0.1)],
                            {genre: 0.83, "jazz": 0.1}, "local", "offline")
    return SongResult(path, "blues", prediction)


def test_the_current_songs_answer_shows_when_it_arrives(qtbot, xvfb_display):
    """The details pane followed clicks only: after classifying the song one was on, it stayed
    empty; and another folder's songs kept the last folder's answer on screen."""
    from genre_desktop.app.results import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    tagged = panel.tagged
    tagged.follow("/music/blues/a.wav")  # the browser's current song, no result yet
    assert tagged.answer.toPlainText() == ""
    panel.add_results([_result("/music/blues/b.wav", "rock")])  # another song: not shown
    assert "rock" not in tagged.answer.toPlainText()
    panel.add_results([_result("/music/blues/a.wav", "blues")])
    assert "blues" in tagged.answer.toPlainText()
    tagged.follow("/music/blues/b.wav")  # a song with a result: shown at once
    assert "rock" in tagged.answer.toPlainText()
    panel.clear()  # another folder
    assert tagged.answer.toPlainText() == ""
    assert tagged.response.toPlainText() == ""
