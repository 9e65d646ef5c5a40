"""The results store: one SQLite file (WAL) per run under data_dir()/runs/.

Every finished song is committed on its own, so a run killed at any moment (SIGKILL, a laptop
going to sleep for good) keeps all it finished and `--resume RUN` carries on from there. The run
also records what it was asked to do (settings, the sampled song list, model, prompt template
hash, app version), the exact prompt and raw response per song, and per-song errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from genre_desktop.core.redact import redact
from genre_desktop.core.resources import data_dir
from genre_desktop.core.results import (
    SongResult,
    error_from_dict,
    prediction_from_dict,
    prediction_to_dict,
    result_from_dict,
    result_to_dict,
)
from genre_desktop.core.songs import Song
from genre_desktop.core.types import Prediction


def _slim(p: Prediction) -> dict[str, Any]:
    data = prediction_to_dict(p)
    data["prompt"] = data["raw_response"] = ""  # the full exchange stays in its own run
    return data

STORE_SCHEMA = 1

_DDL = """
CREATE TABLE IF NOT EXISTS run_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS planned (
    position INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, actual_genre TEXT);
CREATE TABLE IF NOT EXISTS results (
    path TEXT PRIMARY KEY, file TEXT NOT NULL, actual_genre TEXT, status TEXT NOT NULL,
    predicted_genre TEXT, confidence REAL, is_correct INTEGER,
    prediction_json TEXT, error_reason TEXT, error_json TEXT,
    prompt TEXT NOT NULL DEFAULT '', raw_response TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, latency_s REAL NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '', finished_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS last_good (
    path TEXT PRIMARY KEY, prediction_json TEXT NOT NULL, finished_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, elapsed_s REAL NOT NULL,
    songs INTEGER NOT NULL, cancelled INTEGER NOT NULL);
"""


class StoreError(LookupError):
    """No such run, or a file that is not a run store."""


class StoreWriteError(RuntimeError):
    """The run store could not be written (a full disk, an I/O error); what was stored stays.

    `unsaved`: results finished after the failure (paid answers among them), which the store
    could not take; `unsaved_file`: where they were kept (`keep_unsaved`), None if nowhere.
    """

    unsaved: list[SongResult]
    unsaved_file: Path | None = None

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.unsaved = []


def unsaved_path(store_path: Path) -> Path:
    """Beside the store: answers it could not take; the next `--resume` stores them."""
    return Path(store_path).with_suffix(".unsaved.jsonl")


def keep_unsaved(store_path: Path, results: Iterable[SongResult]) -> Path | None:
    """Append the results to `unsaved_path` (one JSON object a line, credentials masked);
    None when that cannot be written either (usually the same full disk)."""
    path = unsaved_path(store_path)
    text = "".join(redact(json.dumps(result_to_dict(r))) + "\n" for r in results)
    existed = path.exists()
    size = path.stat().st_size if existed else 0
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        with contextlib.suppress(OSError):  # no half line left behind (freeing needs no room)
            if existed:
                os.truncate(path, size)
            else:
                path.unlink()
        return None
    return path


# SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY and SQLITE_CANTOPEN: the disk, not the data.
_DISK_CODES = {13: "the disk is full", 10: "a disk I/O error", 8: "it became read-only",
               14: "it cannot be opened"}


def _write_failed(store_path: Path, exc: sqlite3.Error) -> StoreWriteError:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes keep the primary low
    why = _DISK_CODES.get(code) or ("the disk is full" if "full" in str(exc) else str(exc))
    return StoreWriteError(f"Cannot write the run store {store_path} ({why}); every song "
                           f"stored until now is kept: free space and resume with "
                           f"--resume {store_path.stem}.")


class RunInUse(StoreError):
    """Another process is writing this run (one writer per run store)."""


def _lock_writer(store_path: Path) -> IO[str] | None:
    """Hold `<run>.lock` beside the store for as long as the returned file is open.

    Two processes writing one run would both classify every song (paid twice, costs reported
    half) and each keep its own rate limit; the second one is refused instead. flock is
    released by the kernel when the holder dies, so a killed run never leaves a stale lock.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; one writer is then up to the user
        return None
    fh = open(store_path.with_suffix(".lock"), "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise RunInUse(f"Run {store_path.stem} is in use by another process (pid {holder}); "
                       f"wait for it to end or stop it first.") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def runs_dir() -> Path:
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    path: Path
    created_at: float
    planned: int
    finished: int


class RunStore:
    """Thread-safe: one connection guarded by a lock; each save is its own transaction."""

    def __init__(self, path: Path, *, writer: bool = False) -> None:
        self.path = Path(path)
        self.run_id = self.path.stem
        self._lock = threading.Lock()
        self._writer_lock = _lock_writer(self.path) if writer else None
        self._db = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False, isolation_level=None
        )
        with self._writing():
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against process death in WAL mode; only power loss can drop
            # the tail.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_DDL)

    # -- creating and opening ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        songs: Iterable[Song],
        *,
        settings: dict[str, Any],
        meta: dict[str, Any] | None = None,
        run_id: str | None = None,
        folder: Path | None = None,
    ) -> RunStore:
        rid = run_id or new_run_id()
        path = (folder or runs_dir()) / f"{rid}.sqlite"
        if path.exists():
            raise StoreError(f"Run {rid} already exists.")
        store = cls(path, writer=True)
        info = {
            "store_schema": STORE_SCHEMA,
            "created_at": time.time(),
            "settings": settings,
            **(meta or {}),
        }
        with store._lock, store._writing(), store._db:
            store._db.execute("BEGIN")
            store._db.executemany(
                "INSERT INTO run_meta(key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in info.items()],
            )
            store._db.executemany(
                "INSERT INTO planned(position, path, actual_genre) VALUES (?, ?, ?)",
                [(i, s.path, s.actual_genre) for i, s in enumerate(songs)],
            )
        return store

    @classmethod
    def open(cls, run: str | Path, *, folder: Path | None = None,
             writer: bool = False) -> RunStore:
        """Open a run by id (under the runs folder) or by the path of its .sqlite file.

        `writer`: this process will classify into the run; refused (RunInUse) while another
        process does.
        """
        candidate = Path(run)
        if candidate.suffix != ".sqlite":
            candidate = (folder or runs_dir()) / f"{run}.sqlite"
        if not candidate.is_file():
            raise StoreError(f"No run {str(run)!r} in {candidate.parent}.")
        # Look read-only first: opening for real would add our tables (and WAL) to any SQLite
        # file given by mistake, and a damaged file would raise a bare DatabaseError.
        if not _is_run_file(candidate):
            raise StoreError(f"{candidate.name} is not a genre-desktop run.")
        return cls(candidate, writer=writer)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._writer_lock is not None:
                self._writer_lock.close()  # releases the flock
                self._writer_lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------
    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM run_meta")}

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock, self._writing():
            self._db.execute(
                "INSERT OR REPLACE INTO run_meta(key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    def planned_songs(self) -> list[Song]:
        rows = self._query("SELECT path, actual_genre FROM planned ORDER BY position")
        return [Song(path, genre) for path, genre in rows]

    def finished_paths(self, *, include_errors: bool = True) -> set[str]:
        sql = "SELECT path FROM results" + ("" if include_errors else " WHERE status = 'ok'")
        return {row[0] for row in self._query(sql)}

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM results")[0][0])

    def results(self) -> list[SongResult]:
        """Every stored result in the planned order (songs not in the plan last)."""
        rows = self._query(
            "SELECT r.path, r.actual_genre, r.status, r.prediction_json, r.error_json, r.prompt,"
            " r.raw_response, r.seconds, r.note, r.finished_at FROM results r"
            " LEFT JOIN planned p ON p.path = r.path ORDER BY COALESCE(p.position, 1e12), r.path"
        )
        good = self.last_good()
        out = []
        for path, genre, status, pred_json, err_json, prompt, raw, seconds, note, at in rows:
            result = SongResult(path, genre, seconds=seconds, note=note, finished_at=at)
            if status == "ok":
                pred = prediction_from_dict(json.loads(pred_json))
                pred.prompt, pred.raw_response = prompt, raw
                result.prediction = pred
            else:
                result.error = error_from_dict(json.loads(err_json))
                result.last_good = good.get(path)
            out.append(result)
        return out

    def last_good(self) -> dict[str, Prediction]:
        """Each song's last good answer, kept when a later attempt failed."""
        rows = self._query("SELECT path, prediction_json FROM last_good")
        return {path: prediction_from_dict(json.loads(data)) for path, data in rows}

    def last_good_for(self, path: str) -> Prediction | None:
        rows = self._query("SELECT prediction_json FROM last_good WHERE path = ?", (path,))
        return prediction_from_dict(json.loads(rows[0][0])) if rows else None

    def keep_last_good(self, results: Iterable[SongResult]) -> None:
        """Record good answers from elsewhere (an earlier run of the same folder) as the
        songs' last good answers, so a failed attempt in this run does not hide them."""
        rows = [(r.path, json.dumps(_slim(r.prediction)), r.finished_at or time.time())
                for r in results if r.prediction is not None]
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO last_good(path, prediction_json, finished_at)"
                " VALUES (?,?,?)", rows)

    def prompt_and_response(self, path: str) -> tuple[str, str] | None:
        rows = self._query("SELECT prompt, raw_response FROM results WHERE path = ?", (path,))
        return (rows[0][0], rows[0][1]) if rows else None

    def elapsed_s(self) -> float:
        """Time spent on the run over all its sessions.

        A session that never ended (the process was killed) counts from its start to the last
        song it stored: without it, songs per minute after a kill counted the killed
        session's songs but none of its time (395 songs/min).
        """
        rows = self._query("SELECT started_at, elapsed_s FROM sessions ORDER BY started_at")
        total = 0.0
        for i, (started, elapsed) in enumerate(rows):
            if elapsed >= 0:
                total += elapsed
                continue
            until = rows[i + 1][0] if i + 1 < len(rows) else float("inf")
            last = self._query("SELECT MAX(finished_at) FROM results WHERE finished_at >= ? "
                               "AND finished_at < ?", (started, until))[0][0]
            total += max(0.0, float(last) - started) if last is not None else 0.0
        return total

    # -- writing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """sqlite3's 'database or disk is full' becomes one sentence saying what is kept."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise _write_failed(self.path, exc) from None

    def save(self, result: SongResult) -> None:
        """Store one song's result (replacing an earlier one for the same path) and commit."""
        p, e = result.prediction, result.error
        if p is not None:
            pred = prediction_to_dict(p)
            prompt, raw = pred.pop("prompt"), pred.pop("raw_response")
            row = (
                "ok", p.predicted_genre, float(p.confidence), result.is_correct,
                json.dumps(pred), None, None, prompt, raw, p.input_tokens, p.output_tokens,
                p.cost_usd, p.latency_s,
            )
        elif e is not None:
            row = (
                "error", None, None, None, None, e.reason, json.dumps(e.to_dict()), "",
                e.raw_text, 0, 0, 0.0, 0.0,
            )
        else:
            raise ValueError("a SongResult needs a prediction or an error")
        finished = result.finished_at or time.time()
        # An error text (or a raw response) may quote a credential the endpoint echoed.
        row = tuple(redact(v) if isinstance(v, str) else v for v in row)
        with self._lock, self._writing(), self._db:
            self._db.execute("BEGIN")
            if p is not None:  # a good answer: nothing older to keep
                self._db.execute("DELETE FROM last_good WHERE path = ?", (result.path,))
            else:  # a failed attempt over a good one: keep that one beside the error
                self._db.execute(
                    "INSERT OR REPLACE INTO last_good(path, prediction_json, finished_at)"
                    " SELECT path, prediction_json, finished_at FROM results"
                    " WHERE path = ? AND status = 'ok'", (result.path,))
            self._db.execute(
                "INSERT OR REPLACE INTO results(path, file, actual_genre, status, predicted_genre,"
                " confidence, is_correct, prediction_json, error_reason, error_json, prompt,"
                " raw_response, input_tokens, output_tokens, cost_usd, latency_s, seconds, note,"
                " finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (result.path, result.file, result.actual_genre, *row, result.seconds,
                 result.note, finished),
            )

    def take_unsaved(self) -> int:
        """Store the answers a full disk kept beside the store (`keep_unsaved`), then remove
        that file; how many were stored. A song stored since is not replaced."""
        path = unsaved_path(self.path)
        if not path.is_file():
            return 0
        have = self.finished_paths(include_errors=True)
        taken = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                result = result_from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue  # the disk filled mid-line: that answer is lost
            if result.path not in have:
                self.save(result)
                have.add(result.path)
                taken += 1
        path.unlink()
        return taken

    def begin_session(self, started_at: float) -> int:
        """Record that a session started (elapsed -1 until end_session): a killed one counts."""
        with self._lock, self._writing():
            cur = self._db.execute(
                "INSERT INTO sessions(started_at, elapsed_s, songs, cancelled) VALUES (?,-1,0,0)",
                (started_at,),
            )
            return int(cur.lastrowid or 0)

    def end_session(self, session: int, elapsed_s: float, songs: int, cancelled: bool) -> None:
        with self._lock, self._writing():
            self._db.execute(
                "UPDATE sessions SET elapsed_s = ?, songs = ?, cancelled = ? WHERE id = ?",
                (elapsed_s, songs, int(cancelled), session),
            )

    def add_session(self, started_at: float, elapsed_s: float, songs: int, cancelled: bool) -> None:
        with self._lock, self._writing():
            self._db.execute(
                "INSERT INTO sessions(started_at, elapsed_s, songs, cancelled) VALUES (?,?,?,?)",
                (started_at, elapsed_s, songs, int(cancelled)),
            )


def _is_run_file(path: Path) -> bool:
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            row = probe.execute("SELECT 1 FROM run_meta WHERE key = 'settings'").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError:
        return False
    return row is not None


def list_runs(folder: Path | None = None) -> list[RunInfo]:
    """Runs in the runs folder, newest first."""
    out = []
    for path in sorted((folder or runs_dir()).glob("*.sqlite"), reverse=True):
        try:
            with RunStore.open(path) as store:
                meta = store.meta()
                planned = len(store.planned_songs())
                out.append(RunInfo(store.run_id, path, meta.get("created_at", 0.0), planned,
                                   store.count()))
        except (StoreError, sqlite3.DatabaseError):
            continue
    return out
