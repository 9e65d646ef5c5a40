"""Bedrock batch inference: half the on-demand price, results in hours, no desktop needed.

The flow (all through real boto3 clients: `s3` and the `bedrock` control plane):
1. `build_records`: the very prompt and Converse request the on-demand backend sends (its
   `song_request`), as JSONL lines `{"recordId", "modelInput"}` (modelInvocationType
   "Converse": modelInput is the Converse request body without modelId). Only the prompt goes
   in: never a path or label; the record ids map back to songs in the run file only.
2. `BatchRunner.submit`: uploads the JSONL, records the job and its record ids in the run file
   (core.batch_jobs), then CreateModelInvocationJob with a clientRequestToken, so a create
   re-sent after a crash gives back the same job.
3. `BatchRunner.wait`: GetModelInvocationJob with growing intervals, reporting each status
   (Submitted, Validating, Scheduled, InProgress, ... Completed, PartiallyCompleted, Failed,
   Stopping, Stopped, Expired); a cancel sends StopModelInvocationJob.
4. `BatchRunner.join`: reads every `*.jsonl.out` under the job's output folder and joins the
   lines on recordId (their order is not guaranteed), each record once, into the run store.

Facts checked 2026-12-01:
- API shapes: botocore's bedrock service model (CreateModelInvocationJob inputDataConfig.
  s3InputDataConfig {s3Uri, s3InputFormat}, outputDataConfig.s3OutputDataConfig {s3Uri},
  roleArn, jobName (<= 63 chars), modelId, timeoutDurationInHours 24-168, modelInvocationType
  InvokeModel | Converse, clientRequestToken).
- Record and output formats, `{"recordId", "modelInput", "modelOutput" | "error"}` with
  output order not guaranteed: docs.aws.amazon.com/bedrock/latest/userguide/
  batch-inference-data.html and batch-inference-results.html.
- Price: batch inference is billed at 50% of the on-demand token price for supported models
  (aws.amazon.com/bedrock/pricing, as summarised by wring.co "AWS Bedrock Batch Inference: 50%
  Lower Cost", 2026-03-14, and awsnegotiations.com "Bedrock On-Demand vs Batch Pricing").
- Minimum records per job: a per-model quota ("Minimum number of records per batch inference
  job for {Model}", docs.aws.amazon.com/bedrock/latest/userguide/quotas.html), commonly 100.
- Maximum records per job and input file size: per-model quotas, in the registry
  (ModelInfo.batch_max_records, batch_max_input_mb, dated and sourced there). A run with more
  records is split into several jobs (`split_records`), each with one input file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from genre_desktop.core.backends.bedrock import BedrockBackend, make_client
from genre_desktop.core.batch_jobs import ACTIVE, FINISHED, BatchJob, BatchJobs
from genre_desktop.core.prompt import estimate_tokens
from genre_desktop.core.results import SongResult
from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore
from genre_desktop.core.types import CancelFlag, SongError, SongFeatures

BATCH_PRICE_FACTOR = 0.5  # batch = half the on-demand token price (sources above, 2026-12-01)
MIN_RECORDS = 100  # Bedrock's usual minimum records per job (quotas page above)
MAX_RECORDS = 50_000  # "Records per batch inference job" (registry.ModelInfo, 2026-12-04)
MAX_INPUT_BYTES = 1000 * 1_000_000  # "Batch inference input file size (in GB)": 1
ANSWER_TOKENS = 350  # a typical strict-JSON answer, for the estimate before any is known
INPUT_FILE = "records.jsonl"


class BatchError(RuntimeError):
    """The batch job cannot go on (bad S3 location, the job failed, Bedrock refused it)."""


class TooFewRecords(BatchError):
    def __init__(self, count: int, minimum: int) -> None:
        self.count, self.minimum = count, minimum
        super().__init__(f"Bedrock batch jobs need at least {minimum} records for this model; "
                         f"this run has {count} song(s) to classify.")


@dataclass
class BatchConfig:
    s3_uri: str  # s3://bucket/prefix: inputs and outputs go below it, one folder per run
    role_arn: str  # the service role Bedrock reads and writes that bucket with
    timeout_hours: int = 24  # the API allows 24-168
    poll_s: float = 30.0  # first wait between status checks; grows while nothing changes
    poll_max_s: float = 300.0
    min_records: int = MIN_RECORDS
    max_records: int = MAX_RECORDS  # per job; more records are split into several jobs
    max_input_bytes: int = MAX_INPUT_BYTES  # per job (its one JSONL input file)

    @classmethod
    def for_model(cls, s3_uri: str, role_arn: str, info: Any, **kw: Any) -> BatchConfig:
        """The job limits of a model from the registry (its quotas, or a models.toml value)."""
        return cls(s3_uri, role_arn, min_records=info.batch_min_records,
                   max_records=info.batch_max_records,
                   max_input_bytes=info.batch_max_input_mb * 1_000_000, **kw)


@dataclass(frozen=True)
class Record:
    record_id: str
    path: str
    model_input: dict[str, Any]
    prompt: str

    def line(self) -> str:
        return json.dumps({"recordId": self.record_id, "modelInput": self.model_input})

    def size(self) -> int:
        return len(self.line().encode("utf-8")) + 1  # with its newline


@dataclass(frozen=True)
class CostEstimate:
    records: int
    input_tokens: int
    output_tokens: int
    batch_usd: float
    on_demand_usd: float
    price_known: bool

    def describe(self) -> str:
        if not self.price_known:
            return (f"{self.records} records, about {self.input_tokens:,} input tokens; this "
                    "model's price is unknown (add it to models.toml for an estimate).")
        return (f"{self.records} records, about {self.input_tokens:,} input and "
                f"{self.output_tokens:,} output tokens: estimated ${self.batch_usd:.4f} as a "
                f"batch job (on demand: ${self.on_demand_usd:.4f}).")


@dataclass
class JoinSummary:
    joined: int = 0
    failed: int = 0  # records the job answered with an error (or an unreadable answer)
    missing: int = 0  # records with no output line although the job finished
    duplicates: int = 0  # output lines for a record already joined: skipped
    unknown: int = 0  # output lines whose recordId is not one of ours: skipped
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    failed_paths: list[str] = field(default_factory=list)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix without slashes at the ends) of s3://bucket/prefix."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise BatchError(f"{uri!r} is not an S3 location; give s3://bucket/prefix.")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


def record_id(job_number: int, index: int) -> str:
    """11 alphanumeric characters, unique in the run (the job's number is part of it)."""
    return f"R{job_number % 1000:03d}{index:07d}"


def split_records(records: Sequence[Record], config: BatchConfig) -> list[list[Record]]:
    """The records as job-sized chunks: within the per-job record and file-size quotas, as
    even as possible so that no chunk falls below the minimum. Raises BatchError when the
    quotas leave no way (a record bigger than a file, or a minimum above half the maximum)."""
    if not records:
        return []
    sizes = [r.size() for r in records]
    if max(sizes) > config.max_input_bytes:
        raise BatchError(f"A song's batch record is {max(sizes):,} bytes, more than the "
                         f"{config.max_input_bytes:,} bytes a batch input file may hold.")
    count = max(1, -(-len(records) // config.max_records),
                -(-sum(sizes) // config.max_input_bytes))
    while True:
        bounds = [len(records) * i // count for i in range(count + 1)]
        chunks = [list(records[a:b]) for a, b in pairwise(bounds)]
        if all(sum(r.size() for r in c) <= config.max_input_bytes for c in chunks):
            break
        count += 1
    if len(chunks) > 1 and min(len(c) for c in chunks) < config.min_records:
        raise BatchError(f"{len(records)} records cannot be split into jobs of "
                         f"{config.min_records}-{config.max_records} records.")
    return chunks


def build_records(backend: BedrockBackend, items: Sequence[tuple[Song, SongFeatures]],
                  job_number: int) -> tuple[list[Record], list[SongResult]]:
    """The JSONL records (the on-demand prompt code) and the songs whose prompt failed."""
    records: list[Record] = []
    failed: list[SongResult] = []
    for index, (song, features) in enumerate(items):
        # The song's own table row must never be its few-shot example, as on demand.
        built = backend.song_request(features, exclude_refs=frozenset({Path(song.path).name}))
        if isinstance(built, SongError):
            failed.append(SongResult(song.path, song.actual_genre, error=built,
                                     finished_at=time.time()))
            continue
        request, prompt = built
        model_input = {k: v for k, v in request.items() if k != "modelId"}
        records.append(Record(record_id(job_number, index), song.path, model_input, prompt))
    return records, failed


def estimate_cost(backend: BedrockBackend, records: Sequence[Record]) -> CostEstimate:
    """Tokens x batch price, before submitting; output tokens are a typical answer's."""
    inp = sum(estimate_tokens(r.prompt) for r in records)
    out = len(records) * min(ANSWER_TOKENS, backend.max_tokens)
    on_demand = backend.info.cost(inp, out)
    return CostEstimate(len(records), inp, out, on_demand * BATCH_PRICE_FACTOR, on_demand,
                        backend.info.price_known)


class BatchRunner:
    """Submit, follow and join the batch jobs of one run, for one Bedrock backend."""

    def __init__(self, backend: BedrockBackend, store: RunStore, jobs: BatchJobs,
                 config: BatchConfig, *, say: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.backend, self.store, self.jobs, self.config = backend, store, jobs, config
        self.say = say
        self._sleep = sleep
        c = backend.config
        common = {"profile": c.profile, "region": c.region,
                  "connect_timeout_s": c.connect_timeout_s, "read_timeout_s": 60.0}
        # The control plane honours the same endpoint setting as the runtime (tests, proxies);
        # S3 takes the standard AWS_ENDPOINT_URL_S3.
        self.bedrock = make_client("bedrock", endpoint_url=c.endpoint_url, **common)
        self.s3 = make_client("s3", **common)

    # -- submit -------------------------------------------------------------------------------
    def next_job_number(self) -> int:
        return len(self.jobs.jobs()) + 1

    def submit(self, records: Sequence[Record], estimate: CostEstimate,
               job_number: int | None = None) -> BatchJob:
        """One job of these records (they must fit one job's quotas)."""
        if len(records) < self.config.min_records:
            raise TooFewRecords(len(records), self.config.min_records)
        if len(records) > self.config.max_records:
            raise BatchError(f"{len(records)} records are more than one job may hold "
                             f"({self.config.max_records}); use submit_all.")
        return self.submit_all([list(records)], [estimate], job_number)[0]

    def submit_all(self, chunks: Sequence[Sequence[Record]],
                   estimates: Sequence[CostEstimate],
                   first_number: int | None = None) -> list[BatchJob]:
        """Upload every chunk, record all the jobs in one transaction, then create each.

        A crash during the uploads records nothing (the next try overwrites the objects);
        after the record, --resume re-sends each missing create with its job's token."""
        number = first_number or self.next_job_number()
        bucket, prefix = parse_s3_uri(self.config.s3_uri)
        specs = []
        for offset, (records, estimate) in enumerate(zip(chunks, estimates, strict=True)):
            n = number + offset
            base = "/".join(p for p in (prefix, self.store.run_id, f"job-{n}") if p)
            input_key = f"{base}/input/{INPUT_FILE}"
            body = ("\n".join(r.line() for r in records) + "\n").encode("utf-8")
            self._call(self.s3.put_object, Bucket=bucket, Key=input_key, Body=body,
                       ContentType="application/jsonl")
            specs.append(dict(
                job_name=f"genre-desktop-{self.store.run_id}-{n}"[:63],
                token=f"genre-desktop-{self.store.run_id}-{n}",
                model_id=self.backend.model, input_uri=f"s3://{bucket}/{input_key}",
                output_uri=f"s3://{bucket}/{base}/output/", estimate_usd=estimate.batch_usd,
                records=[(r.record_id, r.path, r.prompt) for r in records]))
        return [self.create(job) for job in self.jobs.add_jobs(specs)]

    def create(self, job: BatchJob) -> BatchJob:
        """CreateModelInvocationJob (again, after a crash: the token makes it the same job)."""
        answer = self._call(
            self.bedrock.create_model_invocation_job,
            jobName=job.job_name, roleArn=self.config.role_arn, clientRequestToken=job.token,
            modelId=job.model_id, modelInvocationType="Converse",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": job.input_uri,
                                                   "s3InputFormat": "JSONL"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": job.output_uri}},
            timeoutDurationInHours=self.config.timeout_hours)
        self.jobs.set_arn(job.number, answer["jobArn"])
        self.say(f"Submitted batch job {job.job_name} ({answer['jobArn']}).")
        fresh = self.jobs.job(job.number)
        assert fresh is not None
        return fresh

    # -- wait ---------------------------------------------------------------------------------
    def wait(self, job: BatchJob, cancel: CancelFlag | None = None) -> BatchJob:
        """Poll until the job finishes; a cancel stops it (and waits for Stopped)."""
        if job.job_arn is None:
            job = self.create(job)
        assert job.job_arn is not None
        delay, last, stop_sent, failures = self.config.poll_s, "", False, 0
        while True:
            if cancel is not None and cancel.is_set() and not stop_sent:
                self.stop(job)
                stop_sent = True
            try:
                info = self.bedrock.get_model_invocation_job(jobIdentifier=job.job_arn)
                failures = 0
            except Exception as exc:  # network or throttling: keep following the job
                failures += 1
                if failures >= 10:
                    raise BatchError(f"Cannot get the batch job's status: {exc}") from exc
                self.say(f"Could not get the job's status ({type(exc).__name__}); retrying.")
                self._pause(delay, cancel, stop_sent)
                delay = min(delay * 2, self.config.poll_max_s)
                continue
            status, message = str(info.get("status", "")), str(info.get("message") or "")
            if status != last:
                self.jobs.set_status(job.number, status, message)
                self.say(_status_line(job, info))
                last, delay = status, self.config.poll_s
            if status in FINISHED:
                fresh = self.jobs.job(job.number)
                assert fresh is not None
                return fresh
            if status not in ACTIVE:
                raise BatchError(f"Bedrock reported an unknown job status {status!r}.")
            self._pause(delay, cancel, stop_sent)
            delay = min(delay * 1.5, self.config.poll_max_s)

    def _pause(self, seconds: float, cancel: CancelFlag | None, stop_sent: bool) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set() and not stop_sent:
                return  # stop the job now, not after the wait
            self._sleep(min(left, 0.2))

    def stop(self, job: BatchJob) -> None:
        if job.job_arn is None:
            return
        self.say(f"Stopping batch job {job.job_name}...")
        try:
            self._call(self.bedrock.stop_model_invocation_job, jobIdentifier=job.job_arn)
        except BatchError as exc:  # e.g. it finished meanwhile: the status check tells
            self.say(str(exc))

    # -- join ---------------------------------------------------------------------------------
    def join(self, job: BatchJob) -> JoinSummary:
        """Read the job's output and store one result per record, whatever the line order."""
        summary = JoinSummary()
        records = self.jobs.records(job.number)
        genres = {s.path: s.actual_genre for s in self.store.planned_songs()}
        for line in self._output_lines(job):
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a torn line: its record counts as missing below
            rec = records.get(str(item.get("recordId", "")))
            if rec is None:
                summary.unknown += 1
                continue
            if rec.joined:
                summary.duplicates += 1
                continue
            result = self._result(rec.path, genres.get(rec.path), rec.prompt, item)
            self.store.save(result)  # by path: a re-join after a crash replaces, never adds
            self.jobs.mark_joined(rec.record_id)
            records[rec.record_id] = type(rec)(rec.record_id, rec.path, rec.prompt, True)
            if result.prediction is not None:
                summary.joined += 1
                summary.cost_usd += result.prediction.cost_usd
                summary.input_tokens += result.prediction.input_tokens
                summary.output_tokens += result.prediction.output_tokens
            else:
                summary.failed += 1
                summary.failed_paths.append(rec.path)
        if job.status in ("Completed", "PartiallyCompleted"):
            # A finished job answered every record; one without a line is this song's error.
            for rec in records.values():
                if rec.joined:
                    continue
                error = SongError("batch_record_missing", "The batch job's output holds no "
                                  "answer for this song.", stage="classify", path=rec.path)
                self.store.save(SongResult(rec.path, genres.get(rec.path), error=error,
                                           finished_at=time.time()))
                self.jobs.mark_joined(rec.record_id)
                summary.missing += 1
                summary.failed_paths.append(rec.path)
        self.jobs.set_joined(job.number)
        return summary

    def _result(self, path: str, genre: str | None, prompt: str,
                item: dict[str, Any]) -> SongResult:
        result = SongResult(path, genre, finished_at=time.time())
        output = item.get("modelOutput")
        if isinstance(output, dict):
            answer = self.backend.prediction_from(output, path=path, prompt_text=prompt,
                                                  latency_s=0.0, attempts=1,
                                                  price_factor=BATCH_PRICE_FACTOR)
        else:
            err = item.get("error") if isinstance(item.get("error"), dict) else {}
            code = err.get("errorCode", "?")
            answer = SongError("batch_record_failed", f"The batch job could not classify this "
                               f"song: {code}: {err.get('errorMessage', 'no answer')}",
                               stage="classify", path=path)
        if isinstance(answer, SongError):
            result.error = answer
        else:
            result.prediction = answer
        return result

    def _output_lines(self, job: BatchJob) -> list[str]:
        bucket, prefix = parse_s3_uri(job.output_uri)
        lines: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call(self.s3.list_objects_v2, Bucket=bucket, Prefix=prefix + "/",
                              **token)
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".jsonl.out"):
                    body = self._call(self.s3.get_object, Bucket=bucket, Key=obj["Key"])["Body"]
                    lines.extend(x for x in body.read().decode("utf-8").splitlines() if x.strip())
            if not page.get("IsTruncated"):
                return lines
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise BatchError(f"{fn.__name__}: {err.get('Code', '?')}: "
                             f"{err.get('Message', '')}".strip()) from exc
        except BotoCoreError as exc:
            raise BatchError(f"{fn.__name__}: {type(exc).__name__}: {exc}") from exc


def _status_line(job: BatchJob, info: dict[str, Any]) -> str:
    counts = ""
    if info.get("totalRecordCount"):
        counts = (f" ({info.get('processedRecordCount', 0)}/{info['totalRecordCount']} "
                  f"records, {info.get('errorRecordCount', 0)} errors)")
    message = f": {info['message']}" if info.get("message") else ""
    return f"Batch job {job.job_name}: {info.get('status')}{counts}{message}"
