"""Client-side rate limiting: requests and tokens per minute, shared by every worker.

Bedrock quotas are per account, region and model, so there is one limiter per
(profile, region, model) in the process, obtained with `shared_limiter`. Two token buckets:
one for requests, one for tokens. A request takes its *estimated* tokens up front and
`settle` corrects the bucket with the real usage once the response arrives (it may go into
debt, which slows the next requests: what Bedrock would do to us otherwise).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from genre_desktop.core.types import CancelFlag


class Cancelled(Exception):
    """The cancel flag was set while waiting for the limiter."""


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    level: float

    def refill(self, elapsed: float) -> None:
        self.level = min(self.capacity, self.level + elapsed * self.per_second)

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 when it is now)."""
        if self.level >= amount - 1e-6:  # float dust must not cause endless tiny sleeps
            return 0.0
        return (amount - self.level) / self.per_second


class RateLimiter:
    """Thread-safe requests/min + tokens/min limiter. A limit of 0 or None means unlimited."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last = clock()
        self._requests = self._bucket(requests_per_minute)
        self._tokens = self._bucket(tokens_per_minute)
        self.waited_s = 0.0  # total time callers spent waiting: shown in run stats

    @staticmethod
    def _bucket(per_minute: float | None) -> _Bucket | None:
        if not per_minute or per_minute <= 0:
            return None
        return _Bucket(capacity=float(per_minute), per_second=per_minute / 60.0,
                       level=float(per_minute))

    @property
    def requests_per_minute(self) -> float | None:
        return self._requests.capacity if self._requests else None

    @property
    def tokens_per_minute(self) -> float | None:
        return self._tokens.capacity if self._tokens else None

    @property
    def available_tokens(self) -> float | None:
        """Tokens in the bucket now (None when tokens are not limited)."""
        if self._tokens is None:
            return None
        with self._lock:
            self._refill()
            return self._tokens.level

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        for bucket in (self._requests, self._tokens):
            if bucket is not None:
                bucket.refill(elapsed)

    def acquire(self, tokens: int = 0, cancel: CancelFlag | None = None) -> float:
        """Block until one request of about `tokens` tokens may go; return the seconds waited."""
        waited = 0.0
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            with self._lock:
                self._refill()
                need_tokens = float(tokens)
                if self._tokens is not None:
                    # One request larger than the whole minute budget must still go eventually.
                    need_tokens = min(need_tokens, self._tokens.capacity)
                delay = 0.0
                if self._requests is not None:
                    # Under 1 request/min the bucket never holds 1: wait for a full one, then
                    # go into debt, which paces at the asked rate instead of hanging forever.
                    delay = max(delay, self._requests.wait_for(min(1.0, self._requests.capacity)))
                if self._tokens is not None:
                    delay = max(delay, self._tokens.wait_for(need_tokens))
                if delay <= 0.0:
                    if self._requests is not None:
                        self._requests.level -= 1.0
                    if self._tokens is not None:
                        self._tokens.level -= need_tokens
                    self.waited_s += waited
                    return waited
            # Sleep in short slices so a cancel is noticed quickly.
            step = min(max(delay, 0.001), 0.25)
            self._sleep(step)
            waited += step

    def reserved_for(self, tokens: int) -> float:
        """How many tokens `acquire(tokens)` takes from the bucket (capped at its size)."""
        return min(float(tokens), self._tokens.capacity) if self._tokens is not None else 0.0

    def settle(self, reserved_tokens: float, actual_tokens: int) -> None:
        """Correct the token bucket once the real usage is known: give back what was reserved
        (`reserved_for` of each acquire), take what was used."""
        if self._tokens is None:
            return
        with self._lock:
            self._tokens.level += float(reserved_tokens) - float(actual_tokens)
            self._tokens.level = min(self._tokens.level, self._tokens.capacity)


_SHARED: dict[tuple[str, str, str], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(
    profile: str | None,
    region: str,
    model_id: str,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
) -> RateLimiter:
    """The process-wide limiter for one (profile, region, model); limits update in place."""
    key = (profile or "<default>", region, model_id)
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if (
            limiter is None
            or limiter.requests_per_minute != (requests_per_minute or None)
            or limiter.tokens_per_minute != (tokens_per_minute or None)
        ):
            limiter = RateLimiter(requests_per_minute, tokens_per_minute)
            _SHARED[key] = limiter
        return limiter
