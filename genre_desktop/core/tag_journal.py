"""The tag journal: tables of their own inside a run's SQLite store, on a connection of their own.

Kept apart from core.store (only the store's path is shared) so the run store can change
without touching the journal. SQLite's WAL lets both connections work on the one file.

- ``file_hashes``: every content hash a file is known to have had: when it was analysed, after
  each of our writes and after each undo. The latest one is what the file must still hash to
  before we touch it again; anything else means someone else changed it.
- ``tag_journal``: one row per file write, inserted (and committed) before the file is touched:
  path, format, old and new genre fields, the hashes before and after. Its state moves
  planned -> writing (new hash known, copy ready) -> written -> undone, or ends as failed.
- ``review``: the user's decisions per song (accepted, corrected to a genre, rejected).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre_desktop.core.tagio import RawGenre

_DDL = """
CREATE TABLE IF NOT EXISTS file_hashes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, content_hash TEXT NOT NULL,
    source TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS file_hashes_path ON file_hashes(path);
CREATE TABLE IF NOT EXISTS tag_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, batch INTEGER NOT NULL, path TEXT NOT NULL,
    kind TEXT NOT NULL, old_json TEXT NOT NULL, new_json TEXT NOT NULL, old_hash TEXT NOT NULL,
    new_hash TEXT, state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tag_journal_path ON tag_journal(path);
CREATE TABLE IF NOT EXISTS review (
    path TEXT PRIMARY KEY, decision TEXT NOT NULL, genre TEXT, at REAL NOT NULL);
"""

DECISIONS: tuple[str, ...] = ("accepted", "corrected", "rejected")


@dataclass(frozen=True)
class JournalEntry:
    id: int
    batch: int
    path: str
    kind: str
    old: RawGenre
    new: RawGenre
    old_hash: str
    new_hash: str | None
    state: str
    message: str


@dataclass(frozen=True)
class Decision:
    decision: str  # accepted | corrected | rejected
    genre: str | None = None  # the corrected genre


class TagJournal:
    """Thread-safe; every call is its own committed transaction."""

    def __init__(self, store_path: str | Path) -> None:
        self.path = Path(store_path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a journal row is on disk before the file it describes is replaced, even if the
        # machine (not only the process) dies in between.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_DDL)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TagJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- hashes -----------------------------------------------------------------------------
    def record_hash(self, path: str, content_hash: str, source: str) -> None:
        if content_hash:
            self._run("INSERT INTO file_hashes(path, content_hash, source, at) VALUES (?,?,?,?)",
                      (path, content_hash, source, time.time()))

    def record_hashes(self, items: Iterable[tuple[str, str]], source: str) -> None:
        rows = [(p, h, source, time.time()) for p, h in items if h]
        with self._lock:
            self._db.executemany(
                "INSERT INTO file_hashes(path, content_hash, source, at) VALUES (?,?,?,?)", rows)

    def known_hash(self, path: str) -> str | None:
        """The hash the file had when we last analysed, wrote or restored it."""
        rows = self._all("SELECT content_hash FROM file_hashes WHERE path = ? ORDER BY id DESC"
                         " LIMIT 1", (path,))
        return rows[0][0] if rows else None

    # -- the journal -------------------------------------------------------------------------
    def next_batch(self) -> int:
        return int(self._all("SELECT COALESCE(MAX(batch), 0) + 1 FROM tag_journal")[0][0])

    def begin(self, batch: int, path: str, kind: str, old: RawGenre, new: RawGenre,
              old_hash: str, *, state: str = "planned", message: str = "") -> int:
        """Journal a write before anything touches the file; returns the entry id."""
        cur = self._run(
            "INSERT INTO tag_journal(batch, path, kind, old_json, new_json, old_hash, state,"
            " message, at) VALUES (?,?,?,?,?,?,?,?,?)",
            (batch, path, kind, json.dumps(old.to_dict()), json.dumps(new.to_dict()), old_hash,
             state, message, time.time()),
        )
        return int(cur.lastrowid or 0)

    def set_new_hash(self, entry_id: int, new_hash: str) -> None:
        """The prepared copy's hash: from here on the file holds either old_hash or this."""
        self._run("UPDATE tag_journal SET new_hash = ?, state = CASE state WHEN 'planned' THEN"
                  " 'writing' ELSE state END WHERE id = ?", (new_hash, entry_id))

    def set_state(self, entry_id: int, state: str, message: str = "") -> None:
        self._run("UPDATE tag_journal SET state = ?, message = ?, at = ? WHERE id = ?",
                  (state, message, time.time(), entry_id))

    def entries(self, *, states: Iterable[str] | None = None,
                batch: int | None = None) -> list[JournalEntry]:
        sql = ("SELECT id, batch, path, kind, old_json, new_json, old_hash, new_hash, state,"
               " message FROM tag_journal")
        where, params = [], []
        if states is not None:
            wanted = list(states)
            where.append(f"state IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        if batch is not None:
            where.append("batch = ?")
            params.append(batch)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._all(sql + " ORDER BY id", tuple(params))
        return [JournalEntry(r[0], r[1], r[2], r[3], RawGenre.from_dict(json.loads(r[4])),
                             RawGenre.from_dict(json.loads(r[5])), r[6], r[7], r[8], r[9])
                for r in rows]

    def written_paths(self) -> set[str]:
        """Files whose latest journal entry is a write that has not been undone."""
        rows = self._all("SELECT path, state FROM tag_journal t WHERE id = "
                         "(SELECT MAX(id) FROM tag_journal u WHERE u.path = t.path)")
        return {p for p, state in rows if state == "written"}

    def last_batch_with_writes(self) -> int | None:
        rows = self._all("SELECT MAX(batch) FROM tag_journal WHERE state = 'written'")
        return rows[0][0] if rows and rows[0][0] is not None else None

    def last_write(self) -> tuple[int, int, float] | None:
        """(batch, files still written, when) of the newest batch with writes not undone."""
        rows = self._all("SELECT batch, COUNT(*), MAX(at) FROM tag_journal WHERE state ="
                         " 'written' GROUP BY batch ORDER BY batch DESC LIMIT 1")
        return (int(rows[0][0]), int(rows[0][1]), float(rows[0][2])) if rows else None

    # -- review decisions ----------------------------------------------------------------------
    def set_decision(self, path: str, decision: str | None, genre: str | None = None) -> None:
        if decision is None:
            self._run("DELETE FROM review WHERE path = ?", (path,))
            return
        if decision not in DECISIONS:
            raise ValueError(f"unknown review decision {decision!r}")
        self._run("INSERT OR REPLACE INTO review(path, decision, genre, at) VALUES (?,?,?,?)",
                  (path, decision, genre, time.time()))

    def decisions(self) -> dict[str, Decision]:
        return {p: Decision(d, g) for p, d, g in
                self._all("SELECT path, decision, genre FROM review")}


class AnalysedHashes:
    """Records each classified file's content hash in its run store (the pipeline's hook)."""

    def __init__(self, store: Any) -> None:
        path = getattr(store, "path", None)
        self._journal: TagJournal | None = None
        if path is not None and Path(path).is_file():
            try:
                self._journal = TagJournal(path)
            except sqlite3.Error:  # tags can still be written, without the analysed-hash check
                self._journal = None

    def record(self, result: Any) -> None:
        digest = getattr(result, "content_hash", "")
        if self._journal is not None and digest:
            with contextlib.suppress(sqlite3.Error):  # a hash is worth less than the run
                self._journal.record_hash(result.path, digest, "analysed")

    def record_many(self, items: Iterable[tuple[str, str]]) -> None:
        """(path, content hash) pairs, for songs analysed before their answer comes back (a
        batch job's answers are joined minutes or a restart later, without the features)."""
        if self._journal is not None:
            with contextlib.suppress(sqlite3.Error):
                self._journal.record_hashes(items, "analysed")

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
