"""Help > About: the version, the licences of the parts it is built on, where it keeps things."""

from __future__ import annotations

import html
import sys
from importlib import metadata
from pathlib import Path

# The licences of the parts a user receives with the app (from each project's own metadata;
# read 2026-12-01 from the installed packages' metadata).
LICENCES = (
    ("Qt for Python (PySide6)", "PySide6-Essentials", "LGPL-3.0 (or GPL-2.0/3.0)"),
    ("librosa", "librosa", "ISC"),
    ("NumPy", "numpy", "BSD-3-Clause and others"),
    ("SciPy", "scipy", "BSD-3-Clause"),
    ("scikit-learn", "scikit-learn", "BSD-3-Clause"),
    ("pandas", "pandas", "BSD-3-Clause"),
    ("matplotlib", "matplotlib", "PSF-based (matplotlib licence)"),
    ("sounddevice", "sounddevice", "MIT"),
    ("soundfile", "soundfile", "BSD-3-Clause"),
    ("boto3 (AWS SDK)", "boto3", "Apache-2.0"),
    ("keyring", "keyring", "MIT"),
)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def about_text(app_settings_path: Path | str) -> str:
    """Rich text for QMessageBox.about."""
    from genre_desktop import __version__
    from genre_desktop.core.resources import cache_dir, data_dir
    from genre_desktop.core.settings import settings_path
    from genre_desktop.core.store import runs_dir

    places = (
        ("Classification settings", settings_path()),
        ("Window and player state", Path(app_settings_path)),
        ("Runs and their results", runs_dir()),
        ("Data", data_dir()),
        ("Cache (features, offline model)", cache_dir()),
    )
    parts = [
        f"<h3>Genre Desktop {html.escape(__version__)}</h3>",
        "<p>Listen to a music collection and tag it by genre, offline or with a large "
        "language model on AWS Bedrock.</p>",
        "<p>Genre Desktop is free software under the MIT licence. AWS secrets are kept in the "
        "system keyring, never in these files.</p>",
        "<p><b>Where things are kept</b><br>",
        "<br>".join(f"{html.escape(label)}: <code>{html.escape(str(path))}</code>"
                    for label, path in places),
        "</p><p><b>Built with</b> (Python "
        f"{sys.version_info.major}.{sys.version_info.minor})<br>",
        "<br>".join(f"{html.escape(name)} {html.escape(_version(dist))}: {html.escape(lic)}"
                    for name, dist, lic in LICENCES),
        "</p>",
    ]
    return "".join(parts)
