"""A whole app session in its own interpreter, as `genre-desktop` runs it, for test_app_close.py.

    python tests/app_session.py FOLDER MODE      MODE: close-during-run | close-after-run

Opens FOLDER in a real MainWindow, classifies, then closes the window the way a person does
(answering the confirmation dialog through its real buttons) and prints one JSON line of what
it saw. The test then looks for processes that outlived this one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable


def main(folder: str, mode: str) -> int:
    import matplotlib

    matplotlib.use("QtAgg")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from genre_desktop.app.main import create_application
    from genre_desktop.app.main_window import MainWindow

    app = create_application()
    window = MainWindow()
    window.show()
    seen: dict[str, object] = {"mode": mode}

    def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            app.processEvents()
            time.sleep(0.02)
        return True

    def answer_next_dialog(button: QMessageBox.StandardButton) -> None:
        """Click `button` in the next message box, as a person would."""
        def poll() -> None:
            box = QApplication.activeModalWidget()
            if isinstance(box, QMessageBox):
                seen.setdefault("dialogs", []).append(box.text().split("\n")[0])  # type: ignore[union-attr]
                box.button(button).click()
                timer.stop()

        timer = QTimer(window)
        timer.setInterval(50)
        timer.timeout.connect(poll)
        timer.start()

    window.open_folder(folder)
    assert wait_until(lambda: window.browser.model.rowCount() > 0, 30), "no songs"
    window.results.setCurrentWidget(window.results.plots)  # the plot helper process starts
    if mode == "close-during-run":
        window.use_feature_cache = False  # real extraction: the run is still going at close
    window.classify_all()
    assert window.run_controller.is_running(), "the run did not start"
    if mode == "close-during-run":
        assert wait_until(lambda: window.results.tagged.model.rowCount() >= 1, 300), \
            "no song finished"
        seen["running_at_close"] = window.run_controller.is_running()
        answer_next_dialog(QMessageBox.StandardButton.No)
        window.close()
        seen["no_keeps_it_open"] = window.isVisible() and window.run_controller.is_running()
        answer_next_dialog(QMessageBox.StandardButton.Yes)
    else:
        assert wait_until(lambda: not window.run_controller.is_running(), 300), "run hangs"
        assert wait_until(lambda: window.results.plots.draw_count >= 1, 60), "no plots"
        seen["done"] = window.last_summary.done if window.last_summary else None
    started = time.monotonic()
    window.close()
    seen["close_s"] = round(time.monotonic() - started, 2)
    seen["visible_after_close"] = window.isVisible()
    app.processEvents()  # the run's last signals
    summary = window.last_summary
    seen["songs"] = window.browser.model.rowCount()
    seen["results"] = len(window.results.results())
    seen["cancelled"] = None if summary is None else summary.cancelled
    print(json.dumps(seen), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
