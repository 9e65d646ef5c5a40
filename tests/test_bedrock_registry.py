"""Model registry (prices, max tokens, overrides, inference profiles) and the rate limiter."""

from __future__ import annotations

import json
import threading

import pytest
from fake_clock import FakeClock

from genre_desktop.core.backends.ratelimit import Cancelled, RateLimiter, shared_limiter
from genre_desktop.core.backends.registry import (
    CLAUDE_3_HAIKU,
    CLAUDE_35_SONNET_V1,
    CLAUDE_35_SONNET_V2,
    MIXTRAL_8X7B,
    ModelRegistry,
    base_model_id,
    is_inference_profile,
    save_override,
)


def test_the_four_models_have_prices_and_max_tokens():
    reg = ModelRegistry()
    ids = [m.model_id for m in reg.builtin()]
    assert ids == [MIXTRAL_8X7B, CLAUDE_3_HAIKU, CLAUDE_35_SONNET_V1, CLAUDE_35_SONNET_V2]
    for info in reg.builtin():
        assert info.price_known and info.input_per_1k > 0 and info.output_per_1k > 0
        assert 256 <= info.max_tokens <= 4096
    assert reg.get(CLAUDE_3_HAIKU).cost(1000, 1000) == pytest.approx(0.0015)
    assert not reg.get(MIXTRAL_8X7B).supports_system


def test_inference_profiles_and_arns_inherit_their_base_model():
    reg = ModelRegistry()
    for ident in (f"us.{CLAUDE_35_SONNET_V2}", f"eu.{CLAUDE_35_SONNET_V2}",
                  f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us."
                  f"{CLAUDE_35_SONNET_V2}"):
        assert is_inference_profile(ident)
        assert base_model_id(ident) == CLAUDE_35_SONNET_V2
        info = reg.get(ident)
        assert info.model_id == ident and info.input_per_1k == 0.003 and info.price_known
    assert not is_inference_profile(CLAUDE_3_HAIKU)


def test_an_unknown_model_works_with_an_unknown_price():
    info = ModelRegistry().get("meta.llama3-70b-instruct-v1:0")
    assert not info.price_known and info.cost(5000, 500) == 0.0 and info.max_tokens > 0
    assert ModelRegistry().get("mistral.mistral-7b-instruct-v0:2").supports_system is False
    with pytest.raises(ValueError):
        ModelRegistry().get("  ")


def test_overrides_from_toml_and_json_in_the_config_folder(tmp_path):
    (tmp_path / "models.toml").write_text(
        f'[models."{CLAUDE_3_HAIKU}"]\ninput_per_1k = 0.5\n\n'
        '[models."meta.llama3-70b-instruct-v1:0"]\nlabel = "Llama 3 70B"\n'
        "input_per_1k = 0.00265\noutput_per_1k = 0.0035\nmax_tokens = 800\n")
    (tmp_path / "models.json").write_text(json.dumps(
        {"models": {CLAUDE_3_HAIKU: {"output_per_1k": 0.25, "max_tokens": 512}}}))
    reg = ModelRegistry.load(tmp_path)
    haiku = reg.get(CLAUDE_3_HAIKU)
    assert (haiku.input_per_1k, haiku.output_per_1k, haiku.max_tokens) == (0.5, 0.25, 512)
    llama = reg.get("meta.llama3-70b-instruct-v1:0")
    assert llama.label == "Llama 3 70B" and llama.price_known and llama.max_tokens == 800
    assert reg.get(f"us.{CLAUDE_3_HAIKU}").input_per_1k == 0.5  # profiles follow the override


def test_save_override_round_trips_and_validates(tmp_path):
    save_override(MIXTRAL_8X7B, tmp_path, input_per_1k=0.001, output_per_1k=0.002)
    save_override(MIXTRAL_8X7B, tmp_path, max_tokens=700)
    info = ModelRegistry.load(tmp_path).get(MIXTRAL_8X7B)
    assert (info.input_per_1k, info.output_per_1k, info.max_tokens) == (0.001, 0.002, 700)
    with pytest.raises(ValueError):
        save_override(MIXTRAL_8X7B, tmp_path, input_per_1k=-1)
    with pytest.raises(ValueError):
        save_override(MIXTRAL_8X7B, tmp_path, max_tokens=0)


def test_requests_per_minute_paces_after_the_burst():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=6, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(9)]
    assert waits[:6] == [0.0] * 6
    # then one request every 10 s
    assert clock.now == pytest.approx(30.0, abs=0.3)
    assert limiter.waited_s == pytest.approx(30.0, abs=0.3)


def test_fewer_than_one_request_per_minute_paces_instead_of_hanging():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=0.5, clock=clock, sleep=clock.sleep)

    class GiveUp:  # ends a wait that would otherwise never end (the bucket never holds 1)
        def __init__(self) -> None:
            self.calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > 10_000

    assert limiter.acquire(cancel=GiveUp()) == 0.0
    limiter.acquire(cancel=GiveUp())
    assert clock.now == pytest.approx(120.0, abs=0.3)  # one request every two minutes


def test_tokens_per_minute_and_settling_real_usage():
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=6000, clock=clock, sleep=clock.sleep)
    limiter.acquire(3000)
    limiter.acquire(3000)
    assert clock.now == 0.0
    limiter.settle(3000, 1000)  # used less than estimated: 2000 tokens come back
    limiter.acquire(2000)
    assert clock.now == 0.0
    limiter.settle(2000, 8000)  # used far more: the bucket goes into debt
    limiter.acquire(1000)
    assert clock.now == pytest.approx(70.0, abs=0.3)  # 7000 tokens at 100 tokens/s
    limiter.acquire(50_000)  # larger than a minute's budget: waits for a full bucket, no hang
    assert clock.now == pytest.approx(70.0 + 60.0, abs=0.5)


def test_cancel_stops_a_waiting_caller():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=1, clock=clock, sleep=clock.sleep)
    limiter.acquire()

    class Flag:
        def __init__(self) -> None:
            self.calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > 3

    with pytest.raises(Cancelled):
        limiter.acquire(cancel=Flag())


def test_limiter_is_thread_safe_under_contention():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=600, clock=clock, sleep=clock.sleep)
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(100)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 800 requests at 10/s after a burst of 600: at least 20 s of (fake) time went by
    assert clock.now >= 20.0 - 0.3


def test_shared_limiters_are_keyed_by_profile_region_model():
    a = shared_limiter("p", "us-east-1", CLAUDE_3_HAIKU, 10, 1000)
    assert shared_limiter("p", "us-east-1", CLAUDE_3_HAIKU, 10, 1000) is a
    assert shared_limiter("p", "us-west-2", CLAUDE_3_HAIKU, 10, 1000) is not a
    assert shared_limiter("q", "us-east-1", CLAUDE_3_HAIKU, 10, 1000) is not a
    changed = shared_limiter("p", "us-east-1", CLAUDE_3_HAIKU, 20, 1000)
    assert changed is not a and changed.requests_per_minute == 20
