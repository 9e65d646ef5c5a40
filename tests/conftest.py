"""Shared fixtures: where the GTZAN sample data lives, temporary user folders.

With CI=true a missing data folder or system part is a failure, never a skip.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
# features.py keeps numba's compiled kernels under cache_dir(), which is private per test: one
# shared folder for the whole session (and later runs) saves a minute-long JIT in every test.
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".pytest_cache" / "numba"))

# Xvfb, Secret Service and PulseAudio fixtures: see tests/harness/__init__.py
pytest_plugins = ("harness.fixtures", "bedrock_server", "bedrock_batch_server")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Compile librosa's numba kernels here, once, under numba_setup's lock, before any test
    # starts worker processes or subprocesses that would otherwise compile them concurrently.
    from genre_desktop.core.numba_setup import ensure_librosa

    ensure_librosa()


def require(condition: bool, why: str) -> None:
    """Skip locally, fail in CI: used for every external prerequisite."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and a prerequisite is missing: {why}")
    pytest.skip(why)


def _data_root() -> Path:
    env = os.environ.get("GENRE_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "gtzan")


@pytest.fixture(scope="session")
def gtzan_dir() -> Path:
    root = _data_root()
    require((root / "MANIFEST.tsv").is_file(), f"GTZAN sample data not found at {root}")
    return root


@pytest.fixture(scope="session")
def manifest(gtzan_dir: Path) -> list[dict[str, str]]:
    """Rows of MANIFEST.tsv with an absolute `path` added."""
    with open(gtzan_dir / "MANIFEST.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["path"] = str(gtzan_dir / row["file"])
    return rows


@pytest.fixture(scope="session")
def full_clips(manifest: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in manifest if r["clip"] == "full"]


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test away from the real user cache/config/data folders."""
    base = tmp_path_factory.mktemp("userdirs")
    for name in ("CACHE", "CONFIG", "DATA"):
        monkeypatch.setenv(f"GENRE_DESKTOP_{name}_DIR", str(base / name.lower()))


@pytest.fixture(autouse=True)
def _end_feature_pools():
    """No test leaves extraction workers or a forkserver behind (each holds ~0.3 GB)."""
    yield
    import sys

    batch = sys.modules.get("genre_desktop.core._feature_batch")
    if batch is not None:
        batch.shutdown_pool()
