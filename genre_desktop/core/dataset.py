"""The GTZAN collection from Kaggle (kagglehub): the dataset code the CLI and the app share.

Every way this can fail says so in one plain sentence with what to do next: kagglehub not
installed, no network, no or wrong Kaggle credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

KAGGLE_DATASET = "andradaolteanu/gtzan-dataset-music-genre-classification"

MSG_NO_KAGGLEHUB = (
    "Downloading needs the kagglehub package, which is not installed. "
    "Install it with: pip install 'genre-desktop[download]' (or pip install kagglehub)."
)
MSG_NO_NETWORK = (
    "Cannot reach Kaggle: there seems to be no network connection (or a firewall blocks "
    "kaggle.com). Connect and try again, or open a folder of songs you already have."
)
MSG_NO_CREDENTIALS = (
    "Kaggle refused the download: no valid Kaggle credentials. Create an API token on "
    "kaggle.com (Settings > API), then save kaggle.json in ~/.kaggle/ or set KAGGLE_USERNAME "
    "and KAGGLE_KEY, and accept the dataset's terms on its Kaggle page."
)


class DownloadError(RuntimeError):
    """A download that cannot happen, with a message meant for people."""


def _is_network_error(exc: BaseException) -> bool:
    import socket

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror) or name in {
            "ConnectionError", "ConnectTimeout", "ReadTimeout", "NewConnectionError",
            "NameResolutionError", "MaxRetryError", "ProxyError", "SSLError",
        }:
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_auth_error(exc: BaseException) -> bool:
    name = type(exc).__name__
    if name in {"UnauthenticatedError", "CredentialError"}:
        return True
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) in (401, 403)


def download_gtzan(to: str | Path | None = None) -> Path:
    """Download GTZAN and return the folder holding it; raises DownloadError with a message."""
    try:
        import kagglehub
    except ImportError:
        raise DownloadError(MSG_NO_KAGGLEHUB) from None
    kwargs: dict[str, Any] = {}
    if to is not None:
        Path(to).mkdir(parents=True, exist_ok=True)
        kwargs["output_dir"] = str(to)
    try:
        return Path(kagglehub.dataset_download(KAGGLE_DATASET, **kwargs))
    except Exception as exc:
        if _is_auth_error(exc):
            raise DownloadError(MSG_NO_CREDENTIALS) from exc
        if _is_network_error(exc):
            raise DownloadError(MSG_NO_NETWORK) from exc
        raise DownloadError(
            f"The download failed: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc


def genres_folder(root: Path) -> Path:
    """The `genres_original` folder inside the Kaggle download (songs by genre), else `root`."""
    for candidate in (root / "Data" / "genres_original", root / "genres_original"):
        if candidate.is_dir():
            return candidate
    return root
