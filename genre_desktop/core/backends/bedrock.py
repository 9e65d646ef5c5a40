"""Classify with an LLM on AWS Bedrock through the Converse API (one code path for every model).

Per song: build the hybrid prompt, send it with `converse`, parse the JSON answer, cost it from
the response's usage. Reliability layers, outermost first:
- our own retry loop with full-jitter backoff for throttling, model-not-ready, timeouts,
  500/503 and model errors; never for access-denied or validation errors. It outlasts long
  throttle storms where botocore gives up (few attempts, a shared retry quota);
- botocore's own retries (standard mode by default, adaptive on request) inside each call;
- the shared client-side rate limiter, applied to every HTTP attempt (botocore's retries too)
  through a `before-send` hook, so all workers together stay under the account's quota.
Endpoints: an explicit `endpoint_url`, else botocore's standard AWS_ENDPOINT_URL_BEDROCK_RUNTIME
/ AWS_ENDPOINT_URL, else the regional AWS endpoint.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from genre_desktop.core.backends.ratelimit import Cancelled, RateLimiter, shared_limiter
from genre_desktop.core.backends.registry import ModelInfo, ModelRegistry
from genre_desktop.core.types import CancelFlag, Prediction, SongError, SongFeatures

USER_AGENT = "genre-desktop"

# error code -> (reason, retryable)
_ERRORS: dict[str, tuple[str, bool]] = {
    "ThrottlingException": ("throttled", True),
    "TooManyRequestsException": ("throttled", True),
    "ServiceQuotaExceededException": ("throttled", True),
    "ModelNotReadyException": ("model_not_ready", True),
    "ModelTimeoutException": ("timeout", True),
    "InternalServerException": ("service_error", True),
    "ServiceUnavailableException": ("service_error", True),
    "ModelErrorException": ("model_error", True),
    "AccessDeniedException": ("access_denied", False),
    "UnrecognizedClientException": ("access_denied", False),
    "InvalidSignatureException": ("access_denied", False),
    "ExpiredTokenException": ("access_denied", False),
    "MissingAuthenticationTokenException": ("access_denied", False),
    "ValidationException": ("invalid_request", False),
    "ResourceNotFoundException": ("model_not_found", False),
}

_HINTS = {
    "throttled": "Bedrock kept throttling after all retries; lower the workers or the rate limit.",
    "access_denied": "Check the profile's IAM permissions and request model access in the "
                     "Bedrock console (Model access).",
    "invalid_request": "Bedrock rejected the request; check the model ID and region.",
    "model_not_found": "This model ID does not exist in this region.",
    "timeout": "Bedrock did not answer in time, even after retries.",
    "service_error": "Bedrock kept failing with server errors after all retries.",
    "unreachable": "Could not connect to Bedrock; check the network, region or endpoint.",
}


@dataclass
class BedrockConfig:
    model_id: str
    profile: str | None = None  # ~/.aws or keyring profile; None: the standard chain
    region: str | None = None  # None: the profile's, AWS_REGION, else us-east-1
    endpoint_url: str | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    # botocore's mode inside each call. Not "adaptive": its client-side limiter crawls after a
    # few 429s (benchmarks/bench_bedrock_client.py: 24 songs under a 30% 429 storm took
    # about 30 s in adaptive mode, 3.8 s in standard); our own limiter paces the workers.
    retry_mode: str = "standard"
    botocore_attempts: int = 3  # total attempts botocore makes per call
    max_retries: int = 5  # our loop's retries around botocore's
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    temperature: float = 0.1
    max_tokens: int | None = None  # None: the registry's value for the model
    requests_per_minute: float | None = 60.0
    tokens_per_minute: float | None = 200_000.0
    prompt_level: str = "standard"
    n_examples: int = 5
    one_per_genre: bool = False
    reference_path: str | None = None  # None: the shipped Kaggle table
    max_pool_connections: int = 16


@dataclass
class UsageTotals:
    """Running totals for one backend (a run): failures cost tokens too."""

    api_calls: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
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
                botocore_attempts: int = 3, max_pool_connections: int = 10):
    """A boto3 client for `bedrock-runtime` or `bedrock` with our timeouts and retry policy."""
    from botocore.config import Config

    from genre_desktop.core.credentials import make_session, redact_session_credentials

    session = make_session(profile, region)
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
        self.model = self.config.model_id
        self.info: ModelInfo = (registry or ModelRegistry.load()).get(self.model)
        self._limiter = limiter
        self._client = None
        self._client_lock = threading.Lock()
        self._local = threading.local()  # per-thread attempt counter and token estimate
        self.totals = UsageTotals()

    # -- plumbing ------------------------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        return self.config.max_tokens or self.info.max_tokens

    def client(self):
        with self._client_lock:
            if self._client is None:
                c = self.config
                client = make_client(
                    "bedrock-runtime", profile=c.profile, region=c.region,
                    endpoint_url=c.endpoint_url, connect_timeout_s=c.connect_timeout_s,
                    read_timeout_s=c.read_timeout_s, retry_mode=c.retry_mode,
                    botocore_attempts=c.botocore_attempts,
                    max_pool_connections=c.max_pool_connections)
                if self._limiter is None:
                    self._limiter = shared_limiter(c.profile, client.meta.region_name, self.model,
                                                   c.requests_per_minute, c.tokens_per_minute)
                client.meta.events.register("before-send.bedrock-runtime.Converse",
                                            self._before_send)
                self._client = client
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

    def _settle(self, used_tokens: int) -> None:
        if self._limiter is not None:
            self._limiter.settle(getattr(self._local, "reserved", 0.0), used_tokens)
            self._local.reserved = 0.0

    def _backoff(self, attempt: int, cancel: CancelFlag | None) -> bool:
        """Sleep a full-jitter delay; False when cancelled meanwhile."""
        c = self.config
        delay = random.uniform(0.0, min(c.backoff_max_s, c.backoff_base_s * (2 ** attempt)))
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                return False
            time.sleep(min(left, 0.1))
        return not (cancel is not None and cancel.is_set())

    def build_request(self, system: str, user: str) -> dict[str, Any]:
        if not self.info.supports_system:
            user, system = f"{system}\n\n{user}", ""
        request: dict[str, Any] = {
            "modelId": self.model,
            "messages": [{"role": "user", "content": [{"text": user}]}],
            "inferenceConfig": {"maxTokens": self.max_tokens,
                                "temperature": self.config.temperature},
        }
        if system:
            request["system"] = [{"text": system}]
        return request

    # -- the call ------------------------------------------------------------------------
    def converse(self, request: dict[str, Any], *, cancel: CancelFlag | None = None
                 ) -> tuple[dict[str, Any] | SongError, int]:
        """Send one Converse request with retries; (response or error, HTTP attempts made)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        from genre_desktop.core.credentials import CredentialsError

        try:
            client = self.client()
        except (NoCredentialsError, CredentialsError) as exc:
            return SongError("no_credentials", f"No usable AWS credentials: {exc}",
                             stage="classify"), 0
        except (BotoCoreError, ValueError) as exc:
            # A malformed region or endpoint: nothing was sent and no retry can help. Not a
            # "response could not be read", which is what it looked like before.
            return SongError("bad_config", f"Cannot set up the Bedrock client: "
                             f"{type(exc).__name__}: {exc}. Check the region and the endpoint "
                             f"setting.", stage="classify"), 0
        estimate = request_estimate(request, self.max_tokens)
        state = self._local
        state.attempts, state.estimate, state.cancel = 0, estimate, cancel
        attempt = 0
        while True:
            state.reserved = 0.0  # tokens this call's HTTP attempts took from the limiter
            try:
                response = client.converse(**request)
                usage = response.get("usage") or {}
                self._settle(int(usage.get("inputTokens", 0)) + int(usage.get("outputTokens", 0)))
                if "output" not in response:  # botocore reads a non-JSON body as {}
                    return SongError("bad_response", "Bedrock's response held no answer "
                                     "(not the Converse format).", stage="classify"), \
                        state.attempts
                return response, state.attempts
            except Cancelled:
                self._settle(0)
                return SongError("cancelled", "Cancelled before the request was sent.",
                                 stage="classify"), state.attempts
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code = str(err.get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                reason, retryable = _ERRORS.get(code, ("service_error", status >= 500))
                detail = f"{code or status}: {err.get('Message', '')}".strip()
            except (ReadTimeoutError, ConnectTimeoutError) as exc:
                reason, retryable, detail = "timeout", True, type(exc).__name__
            except (EndpointConnectionError, ConnectionError) as exc:
                reason, retryable, detail = "unreachable", True, type(exc).__name__
            except (NoCredentialsError, CredentialsError) as exc:
                self._settle(0)
                return SongError("no_credentials", f"No usable AWS credentials: {exc}",
                                 stage="classify"), state.attempts
            except BotoCoreError as exc:
                # e.g. an unparseable HTTP body: not something a retry fixes
                self._settle(0)
                return SongError("bad_response", f"Bedrock's response could not be read "
                                 f"({type(exc).__name__}).", stage="classify"), state.attempts
            self._settle(0)  # a failed call used no tokens
            if not retryable or attempt >= self.config.max_retries:
                tries = "" if not retryable else f" after {state.attempts} attempts"
                hint = _HINTS.get(reason, "")
                return SongError(reason, f"Bedrock {self.model}{tries}: {detail}. {hint}".strip(),
                                 stage="classify"), state.attempts
            if not self._backoff(attempt, cancel):
                return SongError("cancelled", "Cancelled while waiting to retry.",
                                 stage="classify"), state.attempts
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
                                  level=self.config.prompt_level)
        except (ValueError, KeyError, OSError) as exc:
            return SongError("prompt_failed", f"Could not build the prompt: {exc}",
                             stage="classify", path=song.path)
        return self.build_request(prompt.system, prompt.user), prompt.full_text

    def prediction_from(self, response: dict[str, Any], *, path: str, prompt_text: str,
                        latency_s: float, attempts: int, price_factor: float = 1.0
                        ) -> Prediction | SongError:
        """A Converse response (on demand, or one record of a batch job) as a Prediction.

        `price_factor` scales the on-demand price (batch inference is billed at half).
        """
        from genre_desktop.core.parse import parse_answer

        retries = max(0, attempts - 1)
        usage = response.get("usage") or {}
        inp, out = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        cost = self.info.cost(inp, out) * price_factor
        self.totals.add(api_calls=attempts, retries=retries, input_tokens=inp,
                        output_tokens=out, cost_usd=cost, songs=1)
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
            input_tokens=inp,
            output_tokens=out,
            cost_usd=cost,
            latency_s=latency_s,
            api_calls=attempts,
            retries=retries,
            prompt=prompt_text,
            raw_response=text,
        )

    def classify(self, song: SongFeatures, *, exclude_refs: frozenset[str] = frozenset(),
                 cancel: CancelFlag | None = None) -> Prediction | SongError:
        started = time.monotonic()
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
    text_len = sum(len(b["text"]) for m in request["messages"] for b in m["content"])
    text_len += sum(len(b["text"]) for b in request.get("system", []))
    return text_len // 4 + max_tokens


def response_text(response: dict[str, Any]) -> str:
    """All text blocks of the assistant message (Converse may split an answer into blocks)."""
    content = (response.get("output") or {}).get("message", {}).get("content") or []
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))
