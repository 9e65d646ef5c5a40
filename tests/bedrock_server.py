"""A local, wire-compatible Amazon Bedrock server for tests and benchmarks.

It speaks the REST-JSON protocol the real boto3 clients use:
  runtime   POST /model/{modelId}/converse
  control   GET  /foundation-models, GET /foundation-models/{modelIdentifier},
            GET  /inference-profiles; other operations go to `server.hooks`
What is offered (lifecycle LEGACY/EOL, profile-only models and their us./eu./apac./global.
profiles, prompt-cache usage, structured output, parameter checks) is in bedrock_catalog.py.
Errors come back as AWS sends them: HTTP status, `x-amzn-ErrorType` header, JSON {"message"}.
Every request must carry a SigV4 signature made with the fixture's throwaway keys; the server
recomputes it with botocore's signer and answers 403 like AWS when it is missing or wrong.

Behaviour is scripted per test: `server.queue(throttle(), times=5)` then `server.queue(...)`;
when the queue is empty, `server.default` answers (a sensible genre from the prompt's few-shot
examples). `delay_s` slows every Converse call (the pipeline benchmark uses 1.5 s);
`hang()` and `drop()` never answer or close without answering; `drop_rate` drops that share of
Converse calls at random (seeded).

Use it through the `bedrock_server` fixture (registered in tests/conftest.py), or
`start_bedrock_server()` in a benchmark.
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from bedrock_catalog import Catalog, StatusView
from bedrock_sigv4 import verify_sigv4
from bedrock_structured import shape_reply

GENRES = ("blues", "classical", "country", "disco", "hiphop",
          "jazz", "metal", "pop", "reggae", "rock")
ACCESS_KEY = "AKIDGENREDESKTOPTEST"
SECRET_KEY = "genre-desktop-throwaway-secret-0000000000"
REGION = "us-east-1"


@dataclass
class Call:
    """One request the server received."""

    method: str
    path: str
    operation: str  # "converse" | "list_models" | "get_model" | "unknown"
    model_id: str
    headers: dict[str, str]
    body: Any
    signed: bool  # an Authorization header was present
    signature_ok: bool
    region: str = ""
    service: str = ""
    at: float = 0.0
    reply: Reply | None = None  # what the server answered

    @property
    def system_text(self) -> str:
        blocks = (self.body or {}).get("system") or []
        return "\n".join(b.get("text", "") for b in blocks if isinstance(b, dict))

    @property
    def user_text(self) -> str:
        parts = []
        for msg in (self.body or {}).get("messages") or []:
            for block in msg.get("content") or []:
                if isinstance(block, dict) and "text" in block:
                    parts.append(block["text"])
        return "\n".join(parts)

    @property
    def prompt_text(self) -> str:
        return self.system_text + "\n" + self.user_text


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON, bytes/str -> as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    action: str = ""  # "hang": accept and never answer; "drop": close with no answer


Behaviour = Callable[[Call], Reply]


# ---- behaviours ---------------------------------------------------------------------------

def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def answer(text: str, *, stop_reason: str = "end_turn", input_tokens: int | None = None,
           output_tokens: int | None = None, delay_s: float = 0.0) -> Behaviour:
    """A Converse reply with this exact model text; usage counted from the prompt unless given."""

    def reply(call: Call) -> Reply:
        inp = input_tokens if input_tokens is not None else _tokens(call.prompt_text)
        out = output_tokens if output_tokens is not None else _tokens(text)
        return Reply(body={
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop_reason,
            "usage": {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out},
            "metrics": {"latencyMs": int(delay_s * 1000) + 5},
        }, delay_s=delay_s)

    return reply


def answer_json(genre: str, confidence: float = 0.82, **kw: Any) -> str:
    alts = [g for g in GENRES if g != genre][:2]
    return json.dumps({
        "predicted_genre": genre,
        "confidence": confidence,
        "reasoning": f"The tempo, brightness and timbre match typical {genre} examples.",
        "key_indicators": ["tempo", "spectral centroid", "MFCC shape"],
        "alternative_genres": [{"genre": alts[0], "confidence": 0.1},
                               {"genre": alts[1], "confidence": 0.05}],
        **kw,
    })


def genre_answer(genre: str, confidence: float = 0.82, **kw: Any) -> Behaviour:
    return answer(answer_json(genre, confidence), **kw)


def prose_json(genre: str) -> Behaviour:
    return answer("Sure! After weighing the three perspectives, here is my answer:\n```json\n"
                  + answer_json(genre) + "\n```\nLet me know if you need more detail.")


def malformed_json() -> Behaviour:
    return answer('{"predicted_genre": "rock", "confidence": 0.7, "reasoning": "distorted '
                  'guitars", "key_indicators": ["rolloff", ]], "alternative_genres": {{}')


def refusal() -> Behaviour:
    return answer("I'm sorry, but I can't determine a genre from numbers alone.")


def unknown_genre() -> Behaviour:
    return answer(answer_json("polka", 0.9))


def truncated() -> Behaviour:
    text = answer_json("jazz")[:60]
    return answer(text, stop_reason="max_tokens", output_tokens=1024)


def error(status: int, error_type: str, message: str, delay_s: float = 0.0) -> Behaviour:
    def reply(call: Call) -> Reply:
        return Reply(status=status, body={"message": message},
                     headers={"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/"},
                     delay_s=delay_s)

    return reply


def throttle() -> Behaviour:
    return error(429, "ThrottlingException", "Too many requests, please wait before trying again.")


def internal_error() -> Behaviour:
    return error(500, "InternalServerException", "The server encountered an internal error.")


def unavailable() -> Behaviour:
    return error(503, "ServiceUnavailableException", "The service is unavailable. Try again.")


def access_denied() -> Behaviour:
    return error(403, "AccessDeniedException",
                 "You don't have access to the model with the specified model ID.")


def validation_error(message: str = "The provided model identifier is invalid.") -> Behaviour:
    return error(400, "ValidationException", message)


def model_not_ready() -> Behaviour:
    return error(429, "ModelNotReadyException", "Model is not ready to serve inference requests.")


def model_timeout() -> Behaviour:
    return error(408, "ModelTimeoutException", "The request took too long to process.")


def model_error() -> Behaviour:
    return error(424, "ModelErrorException", "The model failed to process the request.")


def echo_headers(status: int = 400, error_type: str = "ValidationException") -> Behaviour:
    """An error whose message echoes every request header (Authorization, the session token):
    what a misbehaving proxy or endpoint does, so redaction of outgoing text can be tested."""

    def reply(call: Call) -> Reply:
        echoed = "; ".join(f"{k}: {v}" for k, v in sorted(call.headers.items()))
        return error(status, error_type, f"Bad request. Headers were: {echoed}")(call)

    return reply


def hang() -> Behaviour:
    """Read the request and never answer (until the server stops): a hung endpoint."""
    return lambda call: Reply(action="hang")


def drop() -> Behaviour:
    """Close the connection without an answer (botocore: ConnectionClosedError)."""
    return lambda call: Reply(action="drop")


def garbage_body() -> Behaviour:
    return lambda call: Reply(body=b"<html>502 Bad Gateway</html>",
                              headers={"Content-Type": "text/html"})


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait `seconds` before answering (a client read timeout shorter than this fires)."""

    def reply(call: Call) -> Reply:
        r = (then or sensible_answer)(call)
        r.delay_s += seconds
        return r

    return reply


_EXAMPLE_LABEL = re.compile(
    r"(?i)\b(?:genre|label)\b\W{0,4}(" + "|".join(GENRES) + r")\b")


def sensible_answer(call: Call) -> Reply:
    """Answer with the most common label among the prompt's labelled examples (a k-NN vote)."""
    votes = collections.Counter(m.lower() for m in _EXAMPLE_LABEL.findall(call.user_text))
    if votes:
        genre, n = votes.most_common(1)[0]
        confidence = round(min(0.95, 0.4 + 0.1 * n), 2)
    else:
        genre, confidence = GENRES[sum(call.user_text.encode()) % len(GENRES)], 0.5
    return answer(answer_json(genre, confidence))(call)


# ---- the server ---------------------------------------------------------------------------

class BedrockServer:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s  # added to every Converse call
        self.calls: list[Call] = []
        self.default: Behaviour = sensible_answer
        # Models, lifecycle, profiles, prompt cache: tests/bedrock_catalog.py
        self.catalog = Catalog()
        self.models = StatusView(self.catalog)  # model ID -> ACTIVE | LEGACY | EOL
        self.drop_rate = 0.0  # share of Converse calls dropped without an answer
        self._rng = random.Random(1234)
        self.stopping = threading.Event()  # releases hung calls
        self.secrets = {ACCESS_KEY: SECRET_KEY}
        # Extra control-plane operations (tests/bedrock_batch_server.py): each hook answers a
        # signed call it knows, else None.
        self.hooks: list[Callable[[Call], Reply | None]] = []
        self._queues: dict[str, collections.deque[Behaviour]] = collections.defaultdict(
            collections.deque)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # scripting
    def queue(self, behaviour: Behaviour, times: int = 1, op: str = "converse") -> BedrockServer:
        with self._lock:
            self._queues[op].extend([behaviour] * times)
        return self

    def pending(self, op: str = "converse") -> int:
        with self._lock:
            return len(self._queues[op])

    def count(self, op: str = "converse") -> int:
        with self._lock:
            return sum(1 for c in self.calls if c.operation == op)

    def converse_calls(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.operation == "converse"]

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BedrockServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bedrock-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # dispatch
    def _next(self, op: str) -> Behaviour | None:
        with self._lock:
            q = self._queues[op]
            return q.popleft() if q else None

    def handle(self, call: Call) -> Reply:
        with self._lock:
            self.calls.append(call)
        if not call.signed:
            return error(403, "MissingAuthenticationTokenException",
                         "Missing Authentication Token")(call)
        if not call.signature_ok:
            return error(403, "InvalidSignatureException",
                         "The request signature we calculated does not match the signature "
                         "you provided.")(call)
        behaviour = self._next(call.operation)
        if behaviour is not None:
            reply = behaviour(call)
        elif call.operation == "converse":
            refused = self.catalog.refuse(call.model_id, call.body or {})
            if refused is not None:
                reply = error(*refused)(call)
            else:
                reply = self.default(call)
                reply.delay_s += self.delay_s
                if reply.status == 200 and isinstance(reply.body, dict) \
                        and "output" in reply.body:
                    # constrained decoding: the answer follows the requested schema
                    reply.body = shape_reply(call.body or {}, reply.body)
        elif call.operation == "list_models":
            reply = Reply(body=self.catalog.list_models())
        elif call.operation == "get_model":
            found = self.catalog.get_model(call.model_id)
            reply = error(*found)(call) if isinstance(found, tuple) else Reply(body=found)
        elif call.operation == "list_profiles":
            reply = Reply(body=self.catalog.list_profiles())
        else:
            for hook in self.hooks:
                hooked = hook(call)
                if hooked is not None:
                    return hooked
            return error(404, "UnknownOperationException", "Unknown operation")(call)
        if call.operation == "converse":
            reply = self._finish_converse(call, reply)
        return reply

    def _finish_converse(self, call: Call, reply: Reply) -> Reply:
        """Prompt-cache usage on a served answer; a random drop when drop_rate is set."""
        if self.drop_rate and not reply.action:
            with self._lock:
                dropped = self._rng.random() < self.drop_rate
            if dropped:
                return Reply(action="drop")
        body = reply.body
        if reply.status == 200 and isinstance(body, dict) and isinstance(body.get("usage"), dict):
            usage = body["usage"]
            body["usage"] = {**usage, **self.catalog.usage(
                call.model_id, call.body or {}, int(usage.get("inputTokens", 0)),
                int(usage.get("outputTokens", 0)))}
        return reply


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many workers connecting at once must not hit the listen backlog
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    owner: BedrockServer
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        operation, model_id = "unknown", ""
        if self.command == "POST" and len(parts) == 3 and parts[0] == "model" \
                and parts[2] == "converse":
            operation, model_id = "converse", unquote(parts[1])
        elif self.command == "GET" and parts == ["foundation-models"]:
            operation = "list_models"
        elif self.command == "GET" and len(parts) == 2 and parts[0] == "foundation-models":
            operation, model_id = "get_model", unquote(parts[1])
        elif self.command == "GET" and parts == ["inference-profiles"]:
            operation = "list_profiles"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        ok, _key, region, service = verify_sigv4(self.command, self.path, headers, raw,
                                                 self.owner.secrets)
        call = Call(method=self.command, path=self.path, operation=operation,
                    model_id=model_id, headers=headers, body=body,
                    signed="authorization" in headers, signature_ok=ok, region=region,
                    service=service, at=time.monotonic())
        reply = self.owner.handle(call)
        call.reply = reply
        if reply.action == "hang":
            self.owner.stopping.wait(600)
            self.close_connection = True
            return
        if reply.action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        payload = reply.body
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = payload or b""
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.headers.get("Content-Type",
                                                               "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", f"req-{len(self.owner.calls)}")
            for k, v in reply.headers.items():
                if k != "Content-Type":
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (read timeout): what a slow server must tolerate

    do_GET = _dispatch
    do_POST = _dispatch


def throwaway_aws_env(tmp_dir, server_url: str) -> dict[str, str | None]:
    """Env vars that point boto3 at the server with throwaway keys and never at ~/.aws."""
    config = tmp_dir / "aws_config"
    creds = tmp_dir / "aws_credentials"
    config.write_text(f"[default]\nregion = {REGION}\n")
    creds.write_text("")
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": None,
        "AWS_SECURITY_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_REGION": None,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": None,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
        "AWS_RETRY_MODE": None,
        "AWS_MAX_ATTEMPTS": None,
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server_url,
        "AWS_ENDPOINT_URL_BEDROCK": server_url,
    }


def start_bedrock_server(delay_s: float = 0.0) -> BedrockServer:
    return BedrockServer(delay_s=delay_s).start()


@pytest.fixture
def bedrock_server(tmp_path, monkeypatch) -> Iterator[BedrockServer]:
    """A running server; boto3 in this test reaches it through the standard endpoint env vars.

    Set `server.delay_s` for a per-call delay (e.g. 1.5 for the pipeline benchmark).
    """
    server = start_bedrock_server()
    for key, value in throwaway_aws_env(tmp_path, server.url).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    try:
        yield server
    finally:
        server.stop()
