"""First-run page shown until a folder is open: open a folder, or download GTZAN."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from genre_desktop.core.resources import resource

ICON_PATH = resource("icons", "genre-desktop.png")


class WelcomePage(QWidget):
    open_requested = Signal()
    download_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePage")
        logo = QLabel()
        if ICON_PATH.is_file():
            logo.setPixmap(QIcon(str(ICON_PATH)).pixmap(96, 96))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("<h2>Genre Desktop</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Point Genre Desktop at a folder of songs: a GTZAN-style folder with one sub-folder "
            "per genre, or any folder of music. Listen to any song, then classify one song, a "
            "selection or all of them with the built-in offline model or an LLM on AWS Bedrock."
            "<br><br>You can also drop a folder onto this window.")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setFixedWidth(560)  # a fixed width lets the wrapped label claim its full height
        self.open_button = QPushButton("Open a folder... (Ctrl+O)")
        self.open_button.setObjectName("welcomeOpen")
        self.open_button.clicked.connect(self.open_requested)
        self.download_button = QPushButton("Download GTZAN (needs a Kaggle account)")
        self.download_button.setObjectName("welcomeDownload")
        self.download_button.clicked.connect(self.download_requested)
        self.status = QLabel("")
        self.status.setObjectName("welcomeStatus")
        self.status.setWordWrap(True)
        self.status.setFixedWidth(560)
        self.status.setMinimumHeight(64)  # room for a three-line message without relayout
        self.status.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.status.setStyleSheet("color: #8a1c14;")

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.download_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(logo)
        layout.addWidget(title)
        layout.addWidget(text, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addWidget(self.status, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def set_busy(self, busy: bool, message: str) -> None:
        self.download_button.setEnabled(not busy)
        self.status.setText(message)
