"""Classify with an LLM on AWS Bedrock through the Converse API (one code path for every model).

Per song: build the hybrid prompt, send it with `converse`, parse the JSON answer, cost it from
the response's usage (cache reads and writes at their prices). Before the first song `prepare`
runs a cheap pre-flight: lifecycle from the registry and GetFoundationModel, credentials, region,
and a bare model ID that needs an inference profile resolved to the region's profile. Set-up
problems raise `SetupError` once (the run stops); per-song problems are error values.
Reliability layers, outermost first:
- our retry loop with full-jitter backoff for throttling, model-not-ready, timeouts, dropped
  connections, 5xx and model errors; it outlasts long throttle storms where botocore gives up;
- botocore's own retries (standard mode) inside each call;
- the shared client-side rate limiter on every HTTP attempt through a `before-send` hook.
Each HTTP call runs on a helper thread the caller stops waiting for on cancel, so Ctrl+C or
Cancel stops a song within a fraction of a second whatever the endpoint does (a hung call ends
at the read timeout on its own). Endpoints: `endpoint_url`, else AWS_ENDPOINT_URL_BEDROCK_RUNTIME
/ AWS_ENDPOINT_URL, else the regional AWS endpoint.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from genre_desktop.core.backends.bedrock_errors import HINTS, setup_error_for, verdict_for
from genre_desktop.core.backends.ratelimit import Cancelled, RateLimiter, shared_limiter
from genre_desktop.core.backends.registry import ModelInfo, ModelRegistry, base_model_id
from genre_desktop.core.types import CancelFlag, Prediction, SetupError, SongError, SongFeatures

USER_AGENT = "genre-desktop"
ANSWER_TOOL = "genre_answer"  # the JSON-schema name and the strict answer tool's name
_POLL_S = 0.05  # how often a waiting caller looks at the cancel flag


@dataclass
class BedrockConfig:
    model_id: str
    profile: str | None = None  # ~/.aws or keyring profile; None: the standard chain
    region: str | None = None  # None: the profile's, AWS_REGION, else us-east-1
    endpoint_url: str | None = None
    connect_timeout_s: float = 10.0
    # Bounded: a call that never answers ends here (cancel does not wait for it).
    read_timeout_s: float = 60.0
    # botocore's mode inside each call. Not "adaptive": its client-side limiter crawls after a
    # few 429s (benchmarks/bench_bedrock_client.py); our own limiter paces the workers.
    retry_mode: str = "standard"
    botocore_attempts: int = 3  # total attempts botocore makes per call
    max_retries: int = 5  # our loop's retries around botocore's
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    temperature: float = 0.1
    top_p: float | None = None  # sent only to models that accept it with temperature
    max_tokens: int | None = None  # None: the registry's value for the model
    requests_per_minute: float | None = 60.0
    tokens_per_minute: float | None = 200_000.0
    prompt_level: str = "standard"
    n_examples: int = 5
    one_per_genre: bool = False
    reference_path: str | None = None  # None: the shipped Kaggle table
    max_pool_connections: int = 16
    prompt_cache: bool = True  # a cachePoint after the per-song-invariant prefix, where it pays
    structured: bool = True  # Converse structured output where the model supports it
    preflight: bool = True  # the control-plane checks in `prepare`


@dataclass
class UsageTotals:
    """Running totals for one backend (a run): failures cost tokens too."""

    api_calls: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    songs: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: Any) -> None:
        with self._lock:
            for key, value in amounts.items():
                setattr(self, key, getattr(self, key) + value)


def make_client(service: str, *, profile: str | None = None, region: str | None = None,
                endpoint_url: str | None = None, connect_timeout_s: float = 10.0,
                read_timeout_s: float = 60.0, retry_mode: str = "standard",
                botocore_attempts: int = 3, max_pool_connections: int = 10, session=None):
    """A boto3 client for `bedrock-runtime` or `bedrock` with our timeouts and retry policy."""
    from botocore.config import Config

    from genre_desktop.core.credentials import make_session, redact_session_credentials

    session = session or make_session(profile, region)
    redact_session_credentials(session)
    config = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"mode": retry_mode, "total_max_attempts": max(1, botocore_attempts)},
        user_agent_extra=USER_AGENT,
        max_pool_connections=max_pool_connections,
    )
    return session.client(service, endpoint_url=endpoint_url or None, config=config)


class BedrockBackend:
    """`core.types.Backend` over Bedrock Converse. Thread-safe: one instance serves all workers."""

    name = "bedrock"

    def __init__(self, config: BedrockConfig | str, *, registry: ModelRegistry | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.config = config if isinstance(config, BedrockConfig) else BedrockConfig(config)
        self.requested = self.config.model_id.strip()
        self.model = self.requested  # what Converse is called with (a profile once resolved)
        self.registry = registry or ModelRegistry.load()
        self.info: ModelInfo = self.registry.get(self.model)
        self.notices: list[str] = []  # one sentence each: the profile used, a legacy warning
        self.region = ""
        self._limiter = limiter
        self._session = None
        self._client = None
        self._client_lock = threading.Lock()
        self._prepared = False
        self._setup_error: SetupError | None = None
        self._local = threading.local()  # per-thread attempt counter and token estimate
        self.totals = UsageTotals()

    # -- set-up ----------------------------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        return self.config.max_tokens or self.info.max_tokens

    @property
    def cache_min_tokens(self) -> int:
        """The prefix the prompt should reach for the model's cache (0: no caching)."""
        info = self.info
        if self.config.prompt_cache and info.supports_caching and info.supports_system:
            return info.cache_min_tokens
        return 0

    def prepare(self) -> list[str]:
        """The pre-flight; raises SetupError for a problem every song would hit. Idempotent."""
        from genre_desktop.core.backends.preflight import run_preflight

        with self._client_lock:
            if self._setup_error is not None:
                raise self._setup_error  # once found, not asked again for every song
            if not self._prepared:
                try:
                    run_preflight(self)
                except SetupError as exc:
                    self._setup_error = exc
                    raise
                self._prepared = True
        return self.notices

    def _new_client(self, session):
        c = self.config
        client = make_client(
            "bedrock-runtime", session=session, endpoint_url=c.endpoint_url,
            connect_timeout_s=c.connect_timeout_s, read_timeout_s=c.read_timeout_s,
            retry_mode=c.retry_mode, botocore_attempts=c.botocore_attempts,
            max_pool_connections=c.max_pool_connections)
        if self._limiter is None:
            self._limiter = shared_limiter(c.profile, client.meta.region_name, self.model,
                                           c.requests_per_minute, c.tokens_per_minute)
        client.meta.events.register("before-send.bedrock-runtime.Converse", self._before_send)
        return client

    def client(self):
        if not self._prepared:
            self.prepare()
        return self._client

    def _before_send(self, **_kwargs: Any) -> None:
        """Every HTTP attempt, botocore's retries included: count it and pass the limiter."""
        state = self._local
        state.attempts = getattr(state, "attempts", 0) + 1
        if self._limiter is not None:
            estimate = getattr(state, "estimate", 0)
            self._limiter.acquire(estimate, getattr(state, "cancel", None))
            state.reserved = getattr(state, "reserved", 0.0) + self._limiter.reserved_for(estimate)
        return None  # None: botocore sends the request itself

    def _backoff(self, attempt: int, cancel: CancelFlag | None) -> bool:
        """Sleep a full-jitter delay; False when cancelled meanwhile."""
        c = self.config
        delay = random.uniform(0.0, min(c.backoff_max_s, c.backoff_base_s * (2 ** attempt)))
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                return False
            time.sleep(min(left, _POLL_S))
        return not (cancel is not None and cancel.is_set())

    def build_request(self, system: str, user: str, *, cacheable: str = "") -> dict[str, Any]:
        """A Converse request. `cacheable` is the per-song-invariant system prefix (or "")."""
        from genre_desktop.core.prompt import answer_json_schema, cacheable_tokens

        info = self.info
        if not info.supports_system:
            user, system, cacheable = f"{system}\n\n{user}", "", ""
        inference: dict[str, Any] = {"maxTokens": self.max_tokens}
        if info.sampling in ("temperature", "both"):
            inference["temperature"] = self.config.temperature
        if info.sampling == "both" and self.config.top_p is not None:
            inference["topP"] = self.config.top_p
        request: dict[str, Any] = {
            "modelId": self.model,
            "messages": [{"role": "user", "content": [{"text": user}]}],
            "inferenceConfig": inference,
        }
        if system:
            blocks: list[dict[str, Any]] = [{"text": system}]
            # Measured, not hoped: a prefix under the model's minimum is silently not cached.
            if (self.cache_min_tokens and cacheable
                    and cacheable_tokens(cacheable) >= self.cache_min_tokens):
                blocks.append({"cachePoint": {"type": "default"}})
            request["system"] = blocks
        if self.config.structured and info.structured_output == "json_schema":
            request["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {
                "jsonSchema": {"name": ANSWER_TOOL, "schema": json.dumps(answer_json_schema()),
                               "description": "The genre classification of one song."}}}}
        elif self.config.structured and info.structured_output == "tool":
            request["toolConfig"] = {
                "tools": [{"toolSpec": {"name": ANSWER_TOOL, "strict": True,
                                        "description": "Record the genre classification.",
                                        "inputSchema": {"json": answer_json_schema()}}}],
                "toolChoice": {"tool": {"name": ANSWER_TOOL}}}
        return request

    # -- the call ------------------------------------------------------------------------
    def _send(self, client, request: dict[str, Any], estimate: int,
              cancel: CancelFlag | None) -> tuple[dict[str, Any] | BaseException | None, int]:
        """One botocore call on a helper thread; (response, exception or None if cancelled,
        HTTP attempts). The helper settles the limiter itself, also after being abandoned."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            state = self._local
            state.attempts, state.estimate, state.cancel, state.reserved = 0, estimate, cancel, 0.0
            used = 0
            try:
                box["response"] = client.converse(**request)
                usage = box["response"].get("usage") or {}
                used = int(usage.get("inputTokens", 0)) + int(usage.get("outputTokens", 0))
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            finally:
                if self._limiter is not None:
                    self._limiter.settle(state.reserved, used)
                box["attempts"] = state.attempts
                done.set()

        threading.Thread(target=work, name="bedrock-call", daemon=True).start()
        while not done.wait(_POLL_S):
            if cancel is not None and cancel.is_set():
                return None, 1
        return box.get("response", box.get("error")), int(box.get("attempts", 0))

    def converse(self, request: dict[str, Any], *, cancel: CancelFlag | None = None
                 ) -> tuple[dict[str, Any] | SongError, int]:
        """Send one Converse request with retries; (response or error, HTTP attempts made).
        Raises SetupError for a problem every song shares."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            ConnectTimeoutError,
            HTTPClientError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        from genre_desktop.core.credentials import CredentialsError

        client = self.client()
        if request.get("modelId") == self.requested != self.model:
            request = {**request, "modelId": self.model}  # built before the profile resolved
        estimate = request_estimate(request, self.max_tokens)
        attempts = attempt = 0
        while True:
            if cancel is not None and cancel.is_set():
                return SongError("cancelled", "Cancelled.", stage="classify"), attempts
            outcome, made = self._send(client, request, estimate, cancel)
            attempts += made
            if outcome is None or isinstance(outcome, Cancelled):
                return SongError("cancelled", "Cancelled while waiting for Bedrock.",
                                 stage="classify"), attempts
            if isinstance(outcome, dict):
                if "output" not in outcome:  # botocore reads a non-JSON body as {}
                    return SongError("bad_response", "Bedrock's response held no answer "
                                     "(not the Converse format).", stage="classify"), attempts
                return outcome, attempts
            exc = outcome
            if isinstance(exc, ClientError):
                err = exc.response.get("Error", {})
                code, message = str(err.get("Code", "")), str(err.get("Message", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                fatal = setup_error_for(code, message, status, model=self.model,
                                        region=self.region, profile=self.config.profile)
                if fatal is not None:
                    raise fatal
                verdict = verdict_for(code, message, status)
                reason, retryable, detail = verdict.reason, verdict.retryable, verdict.detail
            elif isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
                reason, retryable, detail = "timeout", True, type(exc).__name__
            elif isinstance(exc, ConnectionError):  # EndpointConnectionError included
                reason, retryable, detail = "unreachable", True, type(exc).__name__
            elif isinstance(exc, HTTPClientError):  # ConnectionClosedError: a dropped connection
                reason, retryable, detail = "connection_lost", True, type(exc).__name__
            elif isinstance(exc, (NoCredentialsError, CredentialsError)):
                raise SetupError("no_credentials", f"No usable AWS credentials: {exc}",
                                 "Add a profile in the app or run `aws configure`.")
            elif isinstance(exc, BotoCoreError):
                # e.g. an unparseable HTTP body: not something a retry fixes
                return SongError("bad_response", f"Bedrock's response could not be read "
                                 f"({type(exc).__name__}).", stage="classify"), attempts
            else:
                raise exc
            if not retryable or attempt >= self.config.max_retries:
                tries = "" if not retryable else f" after {attempts} attempts"
                hint = HINTS.get(reason, "")
                return SongError(reason, f"Bedrock {self.model}{tries}: {detail}. {hint}".strip(),
                                 stage="classify"), attempts
            if not self._backoff(attempt, cancel):
                return SongError("cancelled", "Cancelled while waiting to retry.",
                                 stage="classify"), attempts
            attempt += 1

    def song_request(self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset()
                     ) -> tuple[dict[str, Any], str] | SongError:
        """The Converse request for one song and its prompt text (on demand and batch alike)."""
        from genre_desktop.core.prompt import build_prompt
        from genre_desktop.core.reference import load_reference

        try:
            table = load_reference(self.config.reference_path)
            prompt = build_prompt(song.features, table, exclude_refs=exclude_refs,
                                  n_examples=self.config.n_examples,
                                  one_per_genre=self.config.one_per_genre,
                                  level=self.config.prompt_level,
                                  cache_min_tokens=self.cache_min_tokens,
                                  tagger=song.tagger or None)
        except (ValueError, KeyError, OSError) as exc:
            return SongError("prompt_failed", f"Could not build the prompt: {exc}",
                             stage="classify", path=song.path)
        # The system text is the per-song-invariant part: the cachePoint goes after it.
        request = self.build_request(prompt.system, prompt.user, cacheable=prompt.system)
        return request, prompt.full_text

    def prediction_from(self, response: dict[str, Any], *, path: str, prompt_text: str,
                        latency_s: float, attempts: int, price_factor: float = 1.0
                        ) -> Prediction | SongError:
        """A Converse response (on demand, or one record of a batch job) as a Prediction.

        `price_factor` scales the on-demand price (batch inference is billed at half). Cache
        reads and writes (Converse counts them apart from inputTokens) are priced as such.
        """
        from genre_desktop.core.parse import parse_answer

        retries = max(0, attempts - 1)
        usage = response.get("usage") or {}
        inp, out = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        read = int(usage.get("cacheReadInputTokens", 0) or 0)
        write = int(usage.get("cacheWriteInputTokens", 0) or 0)
        cost = self.info.cost(inp, out, read, write) * price_factor
        self.totals.add(api_calls=attempts, retries=retries, input_tokens=inp + read + write,
                        output_tokens=out, cache_read_tokens=read, cache_write_tokens=write,
                        cost_usd=cost, songs=1)
        text = response_text(response)
        parsed = parse_answer(text, stop_reason=response.get("stopReason"))
        if isinstance(parsed, SongError):
            self.totals.add(errors=1)
            return dataclasses.replace(parsed, stage="classify", path=path,
                                       raw_text=parsed.raw_text or text)
        return Prediction(
            predicted_genre=parsed.predicted_genre,
            confidence=parsed.confidence,
            reasoning=parsed.reasoning,
            key_indicators=list(parsed.key_indicators),
            alternative_genres=list(parsed.alternative_genres),
            genre_scores={},
            backend=self.name,
            model=self.model,
            input_tokens=inp + read + write,
            output_tokens=out,
            cost_usd=cost,
            latency_s=latency_s,
            api_calls=attempts,
            retries=retries,
            prompt=prompt_text,
            raw_response=text,
            cache_read_tokens=read,
            cache_write_tokens=write,
        )

    def classify(self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset(),
                 cancel: CancelFlag | None = None) -> Prediction | SongError:
        """One song; raises SetupError (the run should stop) for a problem of the set-up."""
        started = time.monotonic()
        self.client()  # the pre-flight, once: a SetupError stops the run before any song
        built = self.song_request(song, exclude_refs=exclude_refs)
        if isinstance(built, SongError):
            return built
        request, prompt_text = built
        result, attempts = self.converse(request, cancel=cancel)
        latency = time.monotonic() - started
        if isinstance(result, SongError):
            self.totals.add(api_calls=attempts, retries=max(0, attempts - 1), songs=1, errors=1)
            return dataclasses.replace(result, path=song.path)
        return self.prediction_from(result, path=song.path, prompt_text=prompt_text,
                                    latency_s=latency, attempts=attempts)


def request_estimate(request: dict[str, Any], max_tokens: int) -> int:
    text_len = sum(len(b.get("text", "")) for m in request["messages"] for b in m["content"])
    text_len += sum(len(b.get("text", "")) for b in request.get("system", []))
    return text_len // 4 + max_tokens


def response_text(response: dict[str, Any]) -> str:
    """The answer's text: the answer tool's input when the model called it (a strict tool's
    input follows the schema; any text before the call is preamble, not the answer), else all
    text blocks of the assistant message (Converse may split an answer into blocks)."""
    content = (response.get("output") or {}).get("message", {}).get("content") or []
    uses = [b["toolUse"] for b in content
            if isinstance(b, dict) and isinstance(b.get("toolUse"), dict)]
    for use in uses:
        if use.get("name") == ANSWER_TOOL:
            return json.dumps(use.get("input") or {})
    text = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    if not text.strip() and uses:
        return json.dumps(uses[0].get("input") or {})
    return text


__all__ = ["BedrockBackend", "BedrockConfig", "UsageTotals", "base_model_id", "make_client"]
