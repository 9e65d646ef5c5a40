"""Bedrock batch jobs of a run: two small tables beside the run store's own, in the same file.

A run's SQLite file (core.store) gains `batch_jobs` (one row per CreateModelInvocationJob: its
ARN, S3 locations, last status) and `batch_records` (recordId -> song path and prompt, and
whether its output has been joined). A separate connection keeps this apart from RunStore's
code; WAL lets both write the file. Everything is committed as it happens, so a CLI killed
mid-job finds its job again with `--resume` and never joins a record twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DDL = """
CREATE TABLE IF NOT EXISTS batch_jobs (
    number INTEGER PRIMARY KEY, job_name TEXT NOT NULL, token TEXT NOT NULL,
    job_arn TEXT, model_id TEXT NOT NULL, input_uri TEXT NOT NULL, output_uri TEXT NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', estimate_usd REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, joined INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS batch_records (
    record_id TEXT PRIMARY KEY, job INTEGER NOT NULL, path TEXT NOT NULL, prompt TEXT NOT NULL,
    joined INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS batch_records_job ON batch_records(job);
"""

# GetModelInvocationJob's statuses (botocore's bedrock model, ModelInvocationJobStatus).
ACTIVE = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping")
FINISHED = ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired")
PREPARING = "Preparing"  # ours: recorded, not yet created at Bedrock


@dataclass(frozen=True)
class BatchJob:
    number: int
    job_name: str
    token: str  # clientRequestToken: a re-sent create after a crash gives back the same job
    job_arn: str | None
    model_id: str
    input_uri: str
    output_uri: str
    status: str
    message: str
    estimate_usd: float
    joined: bool

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class BatchRecord:
    record_id: str
    path: str
    prompt: str
    joined: bool


class BatchJobs:
    """The batch tables of one run file; thread-confined (the CLI's or the app worker's)."""

    def __init__(self, store_path: str | Path) -> None:
        self._db = sqlite3.connect(Path(store_path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_DDL)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> BatchJobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------
    def add_job(self, *, job_name: str, token: str, model_id: str, input_uri: str,
                output_uri: str, estimate_usd: float,
                records: Iterable[tuple[str, str, str]]) -> BatchJob:
        """Record a job about to be created and its (record_id, path, prompt) rows, at once."""
        return self.add_jobs([dict(job_name=job_name, token=token, model_id=model_id,
                                   input_uri=input_uri, output_uri=output_uri,
                                   estimate_usd=estimate_usd, records=records)])[0]

    def add_jobs(self, specs: Sequence[dict[str, Any]]) -> list[BatchJob]:
        """Record the jobs of one submission (a run split into several) in one transaction:
        after a crash either all of them are in the run file or none is."""
        now = time.time()
        numbers = []
        with self._db:
            self._db.execute("BEGIN")
            for spec in specs:
                cur = self._db.execute(
                    "INSERT INTO batch_jobs(job_name, token, model_id, input_uri, output_uri,"
                    " status, estimate_usd, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (spec["job_name"], spec["token"], spec["model_id"], spec["input_uri"],
                     spec["output_uri"], PREPARING, spec["estimate_usd"], now, now))
                number = int(cur.lastrowid or 0)
                numbers.append(number)
                self._db.executemany(
                    "INSERT INTO batch_records(record_id, job, path, prompt) VALUES (?,?,?,?)",
                    [(rid, number, path, prompt) for rid, path, prompt in spec["records"]])
        jobs = [self.job(n) for n in numbers]
        return [j for j in jobs if j is not None]

    def set_arn(self, number: int, job_arn: str, status: str = "Submitted") -> None:
        self._db.execute("UPDATE batch_jobs SET job_arn = ?, status = ?, updated_at = ?"
                         " WHERE number = ?", (job_arn, status, time.time(), number))

    def set_status(self, number: int, status: str, message: str = "") -> None:
        self._db.execute("UPDATE batch_jobs SET status = ?, message = ?, updated_at = ?"
                         " WHERE number = ?", (status, message, time.time(), number))

    def set_joined(self, number: int) -> None:
        self._db.execute("UPDATE batch_jobs SET joined = 1 WHERE number = ?", (number,))

    def job(self, number: int) -> BatchJob | None:
        rows = self._jobs("WHERE number = ?", (number,))
        return rows[0] if rows else None

    def jobs(self) -> list[BatchJob]:
        return self._jobs("ORDER BY number", ())

    def open_job(self) -> BatchJob | None:
        """The job to carry on with: the latest one whose results are not yet joined."""
        rows = self._jobs("WHERE joined = 0 ORDER BY number DESC LIMIT 1", ())
        return rows[0] if rows else None

    def open_jobs(self) -> list[BatchJob]:
        """Every job whose results are not yet joined (a split run has several), in order."""
        return self._jobs("WHERE joined = 0 ORDER BY number", ())

    def _jobs(self, where: str, params: tuple[object, ...]) -> list[BatchJob]:
        rows = self._db.execute(
            "SELECT number, job_name, token, job_arn, model_id, input_uri, output_uri, status,"
            f" message, estimate_usd, joined FROM batch_jobs {where}", params).fetchall()
        return [BatchJob(*row[:10], joined=bool(row[10])) for row in rows]

    # -- records ------------------------------------------------------------------------------
    def records(self, number: int) -> dict[str, BatchRecord]:
        rows = self._db.execute("SELECT record_id, path, prompt, joined FROM batch_records"
                                " WHERE job = ?", (number,)).fetchall()
        return {r[0]: BatchRecord(r[0], r[1], r[2], bool(r[3])) for r in rows}

    def mark_joined(self, record_id: str) -> bool:
        """True the first time only: a record that came back twice is joined once."""
        cur = self._db.execute("UPDATE batch_records SET joined = 1 WHERE record_id = ?"
                               " AND joined = 0", (record_id,))
        return cur.rowcount == 1

    def submitted_paths(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT path FROM batch_records")}


def has_batch_jobs(store_path: str | Path) -> bool:
    """Whether a run file holds batch jobs, without adding the tables to it."""
    db = sqlite3.connect(f"{Path(store_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'batch_jobs'").fetchone()
        return row is not None and db.execute("SELECT 1 FROM batch_jobs").fetchone() is not None
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()
