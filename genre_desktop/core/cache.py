"""A SQLite cache of extracted features, keyed by file content and extractor version.

The key is the sha256 of the file's bytes plus the extractor version and the extraction
settings, so a renamed or moved song is still found and a new extractor never reads old numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from genre_desktop.core.resources import cache_dir
from genre_desktop.core.types import SongFeatures

CACHE_FILE = "features.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    content_hash TEXT NOT NULL,
    extractor TEXT NOT NULL,
    settings TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (content_hash, extractor, settings)
)
"""


# The tagger's output has rows of its own (extractor = tagger.TAGGER_VERSION, "musicnn-...").
_NOT_TAGGER = "extractor NOT LIKE 'musicnn-%'"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """Feature results per (content hash, extractor version, settings) in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError:
                # Not a database (damaged, overwritten): it only held copies, start afresh.
                for extra in ("", "-wal", "-shm"):
                    Path(f"{self.path}{extra}").unlink(missing_ok=True)
                self._conn = self._open()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, content_hash: str, extractor: str, settings: str,
            tagger: str | None = None) -> SongFeatures | None:
        """The cached result (with an empty path: the caller knows it), or None.

        With `tagger` (a tagger version), the tagger output is read from its own rows
        (keyed like the features, under that version) and a result without it is a miss.
        """
        song = self._get(content_hash, extractor, settings)
        if song is None or tagger is None:
            return song
        payload = self._payload(content_hash, tagger, settings)
        if payload is None:
            return None
        song.tagger = payload
        return song

    def _payload(self, content_hash: str, extractor: str, settings: str) -> Any:
        try:
            row = self._db().execute(
                "SELECT payload FROM features WHERE content_hash=? AND extractor=? AND settings=?",
                (content_hash, extractor, settings),
            ).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.DatabaseError, ValueError):
            return None

    def _get(self, content_hash: str, extractor: str, settings: str) -> SongFeatures | None:
        data = self._payload(content_hash, extractor, settings)
        if data is None:
            return None  # absent, or a damaged cache: only a slower run
        try:
            return SongFeatures(**data)
        except TypeError:
            return None

    def put(self, song: SongFeatures, extractor: str, settings: str,
            tagger: str | None = None) -> None:
        data = asdict(song)
        data["path"] = ""  # the same bytes may live at many paths
        rows = [(extractor, {**data, "tagger": {}})]
        if tagger is not None and song.tagger:  # its own rows: its own version
            rows.append((tagger, song.tagger))
        # Caching is best effort: the result itself is already in hand.
        with contextlib.suppress(sqlite3.DatabaseError):
            for version, payload in rows:
                self._db().execute(
                    "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)",
                    (song.content_hash, version, settings, json.dumps(payload), time.time()),
                )

    def clear(self) -> int:
        """Delete every entry (tagger rows too); returns how many songs' entries there were."""
        db = self._db()
        count = int(db.execute(f"SELECT COUNT(*) FROM features WHERE {_NOT_TAGGER}").fetchone()[0])
        db.execute("DELETE FROM features")
        db.execute("VACUUM")
        return count

    def info(self) -> dict[str, Any]:
        db = self._db()
        count, versions = db.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT extractor) FROM features WHERE {_NOT_TAGGER}"
        ).fetchone()
        tagged = db.execute(f"SELECT COUNT(*) FROM features WHERE NOT {_NOT_TAGGER}").fetchone()
        size = sum(
            p.stat().st_size
            for p in self.path.parent.glob(self.path.name + "*")
            if p.is_file()
        )
        return {
            "path": str(self.path),
            "entries": int(count),
            "extractor_versions": int(versions),
            "tagger_entries": int(tagged[0]),
            "size_bytes": int(size),
        }
