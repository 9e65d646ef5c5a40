"""Masks the credentials in use in every text that leaves the process.

An endpoint (or a proxy in front of it) may echo the request headers in its error text: the
access key ID, the signature and the session token then sit in an exception message that would
reach stdout, errors.log, the run store, `check` output or the app's error log. Whoever
resolves credentials registers them here (credentials.redact_session_credentials); every sink
passes its text through `redact`. The secret access key never travels, but is masked as well.
"""

from __future__ import annotations

import threading
from typing import Any, TextIO

MASK = "****"
_MIN_LEN = 8  # shorter values would mask ordinary words
_secrets: set[str] = set()
_lock = threading.Lock()


def register(*values: str | None) -> None:
    """Mask these values (keys, secrets, tokens) from now on in this process."""
    with _lock:
        _secrets.update(v for v in values if isinstance(v, str) and len(v) >= _MIN_LEN)


def registered() -> bool:
    with _lock:
        return bool(_secrets)


def redact(text: str) -> str:
    """`text` with every registered value replaced by ****."""
    if not text:
        return text
    with _lock:
        # Longest first: a token that contains a shorter registered value is masked whole.
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(value: Any) -> Any:
    """Strings inside dicts, lists and tuples redacted (for JSON about to be written)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(v) for v in value)
    return value


class RedactingStream:
    """A text stream (stdout, stderr) that masks registered values in everything written."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
