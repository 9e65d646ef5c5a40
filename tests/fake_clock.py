"""A clock for rate-limiter tests: time advances only when the limiter sleeps, so no test waits."""

from __future__ import annotations

import threading


class FakeClock:
    """Callable as the limiter's clock; `sleep` is its sleep function."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds
            self.slept += seconds
