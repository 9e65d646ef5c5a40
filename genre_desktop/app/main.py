"""Entry point of the desktop app."""

from __future__ import annotations

import sys


def run_app(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle("Genre Desktop")
    window.setCentralWidget(QLabel("Genre Desktop: the app is being built."))
    window.resize(900, 600)
    window.show()
    return app.exec()
