"""Bedrock's batch inference control plane, for tests/bedrock_server.py, over a real S3 (moto).

moto's own Bedrock implements neither invocation jobs nor Converse (moto 5.2), so this part is
ours. Plugged into a running BedrockServer with `BatchControlPlane(server, s3).attach()`, it
answers the REST-JSON operations of botocore's bedrock model:
  POST /model-invocation-job                       CreateModelInvocationJob
  GET  /model-invocation-job/{jobIdentifier}       GetModelInvocationJob
  POST /model-invocation-job/{jobIdentifier}/stop  StopModelInvocationJob
  GET  /model-invocation-jobs                      ListModelInvocationJobs
A job moves Submitted -> Validating -> Scheduled -> InProgress -> Completed (or
PartiallyCompleted when records failed, Failed, Stopping -> Stopped) on a background thread: it
reads the JSONL input from S3, answers each record with the server's Converse behaviour, and
writes `{output}/{jobId}/{input}.out` in shuffled order plus `manifest.json.out`.

Scripting: `hold.set()` keeps jobs in InProgress until `hold.clear()`; `fail_records` (record
ids) or `fail_every` make single records errors; `refuse_creates` (1 = the first create) answers
those creates ServiceQuotaExceededException; `fail_job = "message"` fails the whole job in
Validating; `min_records` is the model's minimum and `max_records` / `max_input_bytes` its
per-job maximum and input file size (jobs outside them fail validation, as on AWS).

The moto S3 server: `start_s3_server()` (ThreadedMotoServer on 127.0.0.1, a free port), used by
the session fixture `s3_server`.
"""

from __future__ import annotations

import datetime
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from bedrock_server import ACCESS_KEY, REGION, SECRET_KEY, BedrockServer, Call, Reply, error

ACCOUNT = "123456789012"
STEPS = ("Submitted", "Validating", "Scheduled", "InProgress")
_ROLE = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
_JOB_NAME = re.compile(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Job:
    arn: str
    name: str
    token: str
    model_id: str
    role_arn: str
    input_uri: str
    output_uri: str
    timeout_h: int
    status: str = "Submitted"
    message: str = ""
    submit_time: str = field(default_factory=_now)
    last_modified: str = field(default_factory=_now)
    end_time: str | None = None
    total: int = 0
    processed: int = 0
    success: int = 0
    errors: int = 0
    history: list[str] = field(default_factory=lambda: ["Submitted"])
    stop_requested: bool = False

    @property
    def job_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def describe(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "jobArn": self.arn, "jobName": self.name, "modelId": self.model_id,
            "clientRequestToken": self.token, "roleArn": self.role_arn, "status": self.status,
            "submitTime": self.submit_time, "lastModifiedTime": self.last_modified,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": self.input_uri,
                                                      "s3InputFormat": "JSONL"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": self.output_uri}},
            "timeoutDurationInHours": self.timeout_h, "modelInvocationType": "Converse",
            "totalRecordCount": self.total, "processedRecordCount": self.processed,
            "successRecordCount": self.success, "errorRecordCount": self.errors,
        }
        if self.message:
            body["message"] = self.message
        if self.end_time:
            body["endTime"] = self.end_time
        return body


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class BatchControlPlane:
    def __init__(self, server: BedrockServer, s3: Any, *, step_s: float = 0.05,
                 seed: int = 7) -> None:
        self.server, self.s3, self.step_s = server, s3, step_s
        self.jobs: dict[str, Job] = {}
        self.creates: list[dict[str, Any]] = []  # every CreateModelInvocationJob body
        self.stops: list[str] = []
        self.hold = threading.Event()  # set: jobs wait in InProgress
        self.fail_records: set[str] = set()
        self.fail_every = 0
        self.fail_job: str | None = None
        self.min_records = 100
        self.max_records = 50_000  # "Records per batch inference job" (registry.ModelInfo)
        self.max_input_bytes = 1000 * 1_000_000  # "Batch inference input file size": 1 GB
        self.duplicate_first = False  # write the first output line twice
        self.refuse_creates: set[int] = set()  # these creates (1 = the first) are refused
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def attach(self) -> BatchControlPlane:
        self.server.hooks.append(self.handle)
        return self

    def job(self, index: int = -1) -> Job:
        with self._lock:
            return list(self.jobs.values())[index]

    def wait_for(self, status: str, timeout_s: float = 120.0, index: int = -1) -> Job:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._lock:
                jobs = list(self.jobs.values())
            if jobs and jobs[index].status == status:
                return jobs[index]
            time.sleep(0.05)
        raise AssertionError(f"no job reached {status}; jobs: "
                             f"{[(j.name, j.status) for j in self.jobs.values()]}")

    def join_threads(self) -> None:
        for t in self._threads:
            t.join(timeout=10)

    # -- the REST-JSON operations ----------------------------------------------------------
    def handle(self, call: Call) -> Reply | None:
        parts = [unquote(p) for p in urlsplit(call.path).path.strip("/").split("/")]
        if call.method == "POST" and parts == ["model-invocation-job"]:
            return self._create(call.body or {})
        if call.method == "GET" and parts == ["model-invocation-jobs"]:
            with self._lock:
                return Reply(body={"invocationJobSummaries": [
                    j.describe() for j in self.jobs.values()]})
        if len(parts) >= 2 and parts[0] == "model-invocation-job":
            ident = unquote(urlsplit(call.path).path.split("/model-invocation-job/")[1])
            stop = ident.endswith("/stop") and call.method == "POST"
            ident = ident.removesuffix("/stop")
            job = self._find(ident)
            if job is None:
                return error(404, "ResourceNotFoundException",
                             f"The job {ident} was not found.")(call)
            if stop:
                return self._stop(job, call)
            if call.method == "GET":
                with self._lock:
                    return Reply(body=job.describe())
        return None

    def _find(self, ident: str) -> Job | None:
        with self._lock:
            for job in self.jobs.values():
                if ident in (job.arn, job.job_id):
                    return job
        return None

    def _create(self, body: dict[str, Any]) -> Reply:
        self.creates.append(body)
        if len(self.creates) in self.refuse_creates:  # e.g. too many jobs at once (a 400)
            return Reply(400, {"message": "The number of concurrent batch inference jobs "
                                          "exceeds the quota for this account."},
                         {"x-amzn-ErrorType": "ServiceQuotaExceededException"})
        missing = [k for k in ("jobName", "roleArn", "modelId", "inputDataConfig",
                               "outputDataConfig") if k not in body]
        if missing:
            return error(400, "ValidationException", f"Missing {missing}")(Call(
                "POST", "", "unknown", "", {}, body, True, True))
        if not _ROLE.fullmatch(body["roleArn"]) or not _JOB_NAME.fullmatch(body["jobName"]):
            return Reply(400, {"message": "1 validation error detected: roleArn or jobName"},
                         {"x-amzn-ErrorType": "ValidationException"})
        token = body.get("clientRequestToken", "")
        with self._lock:
            for job in self.jobs.values():  # idempotency: the same token is the same job
                if token and job.token == token:
                    return Reply(body={"jobArn": job.arn})
            arn = (f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/"
                   f"{secrets.token_hex(6)}")
            job = Job(arn, body["jobName"], token, body["modelId"], body["roleArn"],
                      body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"],
                      body["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"],
                      int(body.get("timeoutDurationInHours", 24)))
            self.jobs[arn] = job
        thread = threading.Thread(target=self._drive, args=(job,), daemon=True,
                                  name=f"batch-{job.job_id}")
        self._threads.append(thread)
        thread.start()
        return Reply(body={"jobArn": arn})

    def _stop(self, job: Job, call: Call) -> Reply:
        with self._lock:
            self.stops.append(job.arn)
            if job.status in ("Completed", "PartiallyCompleted", "Failed", "Stopped",
                              "Expired"):
                return error(400, "ValidationException",
                             f"The job is {job.status} and cannot be stopped.")(call)
            job.stop_requested = True
            self._set(job, "Stopping")
        return Reply(body={})

    # -- the job's life ------------------------------------------------------------------------
    def _set(self, job: Job, status: str, message: str = "") -> None:
        job.status, job.last_modified = status, _now()
        if message:
            job.message = message
        job.history.append(status)
        if status in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"):
            job.end_time = _now()

    def _advance(self, job: Job, status: str) -> bool:
        time.sleep(self.step_s)
        with self._lock:
            if job.stop_requested:
                return False
            self._set(job, status)
        return True

    def _drive(self, job: Job) -> None:
        try:
            bucket, key = _split(job.input_uri)
            raw = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            lines = [x for x in raw.decode().splitlines() if x.strip()]
        except Exception as exc:  # a missing input is the job's failure, as on AWS
            with self._lock:
                self._set(job, "Failed", f"Cannot read the input: {type(exc).__name__}")
            return
        job.total = len(lines)
        if not self._advance(job, "Validating"):
            return self._finish_stopped(job, [])
        reason = self.fail_job
        if len(lines) < self.min_records:
            reason = (f"The number of records ({len(lines)}) is below the minimum of "
                      f"{self.min_records} for this model.")
        elif len(lines) > self.max_records:
            reason = (f"The number of records ({len(lines)}) exceeds the maximum of "
                      f"{self.max_records} records per batch inference job for this model.")
        elif len(raw) > self.max_input_bytes:
            reason = (f"The input file ({len(raw)} bytes) exceeds the maximum input file size "
                      f"of {self.max_input_bytes} bytes.")
        if reason:
            with self._lock:
                self._set(job, "Failed", reason)
            return
        for status in STEPS[2:]:
            if not self._advance(job, status):
                return self._finish_stopped(job, [])
        out: list[str] = []
        for index, line in enumerate(lines):
            with self._lock:
                if job.stop_requested:
                    break
            out.append(self._answer(job, json.loads(line), index))
            job.processed += 1
        while self.hold.is_set():
            with self._lock:
                if job.stop_requested:
                    break
            time.sleep(0.05)
        with self._lock:
            stopped = job.stop_requested
        if stopped:
            return self._finish_stopped(job, out)
        self._write(job, out)
        with self._lock:
            self._set(job, "PartiallyCompleted" if job.errors else "Completed")

    def _answer(self, job: Job, record: dict[str, Any], index: int) -> str:
        rid = record.get("recordId", f"AUTO{index:07d}")
        body = record["modelInput"]
        if rid in self.fail_records or (self.fail_every and index % self.fail_every == 0):
            job.errors += 1
            return json.dumps({"recordId": rid, "modelInput": body,
                               "error": {"errorCode": 400,
                                         "errorMessage": "Malformed input request"}})
        call = Call("POST", "", "converse", "", {}, body, True, True)
        reply = self.server.default(call)
        job.success += 1
        return json.dumps({"recordId": rid, "modelInput": body, "modelOutput": reply.body})

    def _finish_stopped(self, job: Job, out: list[str]) -> None:
        self._write(job, out)  # what was done before the stop is in the output
        with self._lock:
            self._set(job, "Stopped")

    def _write(self, job: Job, out: list[str]) -> None:
        lines = list(out)
        self._rng.shuffle(lines)  # Bedrock does not keep the input order
        if self.duplicate_first and lines:
            lines.append(lines[0])
        bucket, prefix = _split(job.output_uri)
        base = f"{prefix.rstrip('/')}/{job.job_id}"
        name = _split(job.input_uri)[1].rsplit("/", 1)[-1]
        self.s3.put_object(Bucket=bucket, Key=f"{base}/{name}.out",
                           Body=("\n".join(lines) + "\n").encode())
        manifest = {"totalRecordCount": job.total, "processedRecordCount": job.processed,
                    "successRecordCount": job.success, "errorRecordCount": job.errors}
        self.s3.put_object(Bucket=bucket, Key=f"{base}/manifest.json.out",
                           Body=json.dumps(manifest).encode())


# ---- the S3 server --------------------------------------------------------------------------

class S3Server:
    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per S3 request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def stop(self) -> None:
        self._server.stop()


def start_s3_server() -> S3Server:
    return S3Server()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto in server mode on 127.0.0.1 for the whole session (buckets: one per test)."""
    server = start_s3_server()
    try:
        yield server
    finally:
        server.stop()
