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
    DEFAULT_MODEL,
    GPT_OSS_120B,
    HAIKU_45,
    LLAMA4_MAVERICK,
    LLAMA4_SCOUT,
    MISTRAL_LARGE_3,
    MIXTRAL_8X7B,
    NOVA_LITE,
    NOVA_MICRO,
    NOVA_PRO,
    SONNET_45,
    ModelRegistry,
    base_model_id,
    is_inference_profile,
    profile_prefixes,
    save_override,
)
from genre_desktop.core.resources import resource

CURRENT = [HAIKU_45, SONNET_45, NOVA_MICRO, NOVA_LITE, NOVA_PRO, MIXTRAL_8X7B, MISTRAL_LARGE_3,
           LLAMA4_MAVERICK, LLAMA4_SCOUT, GPT_OSS_120B]
RETIRED = [CLAUDE_3_HAIKU, CLAUDE_35_SONNET_V1, CLAUDE_35_SONNET_V2]


def test_the_registry_holds_the_current_models_with_prices_and_limits():
    reg = ModelRegistry()
    assert [m.model_id for m in reg.builtin()] == CURRENT
    assert [m.model_id for m in reg.builtin(include_retired=True)] == CURRENT + RETIRED
    for info in reg.builtin(include_retired=True):
        assert info.price_known and info.input_per_1m > 0 and info.output_per_1m > 0
        assert 256 <= info.max_tokens <= 4096 and info.context_window >= 32_000
        assert info.max_tokens <= info.max_output_tokens
        assert info.lifecycle in ("ACTIVE", "LEGACY", "EOL")
    # the prices the issue quotes from the AWS price list (per 1M tokens)
    prices = {m: (reg.get(m).input_per_1m, reg.get(m).output_per_1m) for m in CURRENT}
    assert prices[HAIKU_45] == (1.0, 5.0) and prices[SONNET_45] == (3.0, 15.0)
    assert prices[NOVA_MICRO] == (0.035, 0.14) and prices[NOVA_LITE] == (0.06, 0.24)
    assert prices[NOVA_PRO] == (0.8, 3.2)
    # caching minimums (model cards) and what caching costs
    assert reg.get(HAIKU_45).cache_min_tokens == 4096 and reg.get(SONNET_45).cache_min_tokens \
        == 1024 and reg.get(NOVA_LITE).cache_min_tokens == 1000
    assert reg.get(HAIKU_45).cache_read_per_1m == 0.1 and reg.get(HAIKU_45).cache_write_per_1m \
        == 1.25
    assert not reg.get(MIXTRAL_8X7B).supports_system and not reg.get(MIXTRAL_8X7B).supports_caching
    assert reg.get(HAIKU_45).needs_profile and reg.get(HAIKU_45).structured_output == "json_schema"
    assert reg.get(HAIKU_45).sampling == "temperature"  # no temperature together with top_p


def test_retired_models_stay_known_with_their_end_of_life_dates():
    reg = ModelRegistry()
    assert reg.get(CLAUDE_3_HAIKU).retired and reg.get(CLAUDE_3_HAIKU).eol_date == "2026-09-10"
    for m in (CLAUDE_35_SONNET_V1, CLAUDE_35_SONNET_V2):
        assert reg.get(m).retired and reg.get(m).eol_date == "2026-07-30"
    assert not reg.get(DEFAULT_MODEL).retired and DEFAULT_MODEL == HAIKU_45


def test_the_data_file_says_where_and_when_its_prices_come_from():
    text = resource("bedrock_models.toml").read_text(encoding="utf-8")
    assert "July 2026" in text and "AWS" in text and "Price List" in text
    assert "checked 2026-" in text.lower()


def test_cost_with_cache_reads_and_writes_and_the_regional_premium():
    reg = ModelRegistry()
    glob = reg.get(f"global.{HAIKU_45}")
    assert glob.cost(1_000_000, 0) == pytest.approx(1.0)
    assert glob.cost(0, 0, cache_read_tokens=1_000_000) == pytest.approx(0.10)
    assert glob.cost(0, 0, cache_write_tokens=1_000_000) == pytest.approx(1.25)
    # a us. profile costs 10% more than global. for the Claude 4.5 models (Bedrock pricing)
    assert reg.get(f"us.{HAIKU_45}").cost(1_000_000, 1_000_000) == pytest.approx(6.6)
    assert reg.get(f"us.{NOVA_LITE}").cost(1_000_000, 0) == pytest.approx(0.06)


def test_inference_profiles_and_arns_inherit_their_base_model():
    reg = ModelRegistry()
    for ident in (f"us.{SONNET_45}", f"eu.{SONNET_45}", f"global.{SONNET_45}",
                  f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET_45}"):
        assert is_inference_profile(ident)
        assert base_model_id(ident) == SONNET_45
        info = reg.get(ident)
        assert info.model_id == ident and info.input_per_1m == 3.0 and info.price_known
    assert not is_inference_profile(HAIKU_45)
    assert profile_prefixes("us-east-1") == ("us", "global")
    assert profile_prefixes("eu-west-3") == ("eu", "global")
    assert profile_prefixes("ap-south-1") == ("apac", "global")


def test_an_unknown_model_works_with_an_unknown_price():
    info = ModelRegistry().get("meta.llama3-70b-instruct-v1:0")
    assert not info.price_known and info.cost(5000, 500) == 0.0 and info.max_tokens > 0
    assert ModelRegistry().get("mistral.mistral-7b-instruct-v0:2").supports_system is False
    with pytest.raises(ValueError):
        ModelRegistry().get("  ")


@pytest.mark.parametrize("bad", ["nan", "inf", '"cheap"'])
def test_non_finite_or_non_numeric_prices_are_refused(tmp_path, bad):
    (tmp_path / "models.toml").write_text(f'[models."{HAIKU_45}"]\ninput_per_1k = {bad}\n')
    with pytest.raises(ValueError) as caught:
        ModelRegistry.load(tmp_path)
    assert HAIKU_45 in str(caught.value) and "input_per_1k" in str(caught.value)


def test_overrides_from_toml_and_json_in_the_config_folder(tmp_path):
    (tmp_path / "models.toml").write_text(
        f'[models."{HAIKU_45}"]\ninput_per_1k = 0.5\n\n'
        '[models."meta.llama3-70b-instruct-v1:0"]\nlabel = "Llama 3 70B"\n'
        "input_per_1k = 0.00265\noutput_per_1k = 0.0035\nmax_tokens = 800\n")
    (tmp_path / "models.json").write_text(json.dumps(
        {"models": {HAIKU_45: {"output_per_1k": 0.25, "max_tokens": 512}}}))
    reg = ModelRegistry.load(tmp_path)
    haiku = reg.get(HAIKU_45)
    assert (haiku.input_per_1k, haiku.output_per_1k, haiku.max_tokens) == (0.5, 0.25, 512)
    llama = reg.get("meta.llama3-70b-instruct-v1:0")
    assert llama.label == "Llama 3 70B" and llama.price_known and llama.max_tokens == 800
    assert reg.get(f"us.{HAIKU_45}").input_per_1k == 0.5  # profiles follow the override


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
    a = shared_limiter("p", "us-east-1", HAIKU_45, 10, 1000)
    assert shared_limiter("p", "us-east-1", HAIKU_45, 10, 1000) is a
    assert shared_limiter("p", "us-west-2", HAIKU_45, 10, 1000) is not a
    assert shared_limiter("q", "us-east-1", HAIKU_45, 10, 1000) is not a
    changed = shared_limiter("p", "us-east-1", HAIKU_45, 20, 1000)
    assert changed is not a and changed.requests_per_minute == 20
