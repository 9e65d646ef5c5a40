"""Entry point of the frozen app (PyInstaller runs this file as `__main__`)."""

from __future__ import annotations

import multiprocessing

if __name__ == "__main__":
    # The extraction pool's workers re-enter this executable; freeze_support() turns them into
    # workers instead of second copies of the app (needed for the spawn/forkserver methods).
    multiprocessing.freeze_support()
    from genre_desktop.cli import entry

    entry()
