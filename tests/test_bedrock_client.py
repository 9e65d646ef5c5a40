"""The real boto3 Bedrock client against the local wire-compatible server: endpoints, signing,
retries (counted on the server), errors as values, the shared rate limiter."""

from __future__ import annotations

import threading

import pytest
from bedrock_server import (
    ACCESS_KEY,
    BedrockServer,
    access_denied,
    garbage_body,
    genre_answer,
    internal_error,
    model_error,
    model_not_ready,
    model_timeout,
    slow,
    throttle,
    unavailable,
    validation_error,
)
from fake_clock import FakeClock

from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig, make_client
from genre_desktop.core.backends.ratelimit import RateLimiter, shared_limiter
from genre_desktop.core.backends.registry import HAIKU_45, MIXTRAL_8X7B
from genre_desktop.core.types import SetupError, SongError


def fast_config(**kw) -> BedrockConfig:
    """Real retry logic with millisecond backoff so the tests stay quick."""
    base = dict(model_id=HAIKU_45, retry_mode="standard", botocore_attempts=1,
                max_retries=4, backoff_base_s=0.01, backoff_max_s=0.05, read_timeout_s=10.0,
                requests_per_minute=None, tokens_per_minute=None)
    base.update(kw)
    return BedrockConfig(**base)


def request(backend: BedrockBackend, text: str = "Which genre? Example genre: jazz") -> dict:
    return backend.build_request("You classify music.", text)


def test_standard_endpoint_env_vars_reach_the_local_server(bedrock_server: BedrockServer):
    runtime = make_client("bedrock-runtime")
    control = make_client("bedrock")
    assert runtime.meta.endpoint_url == bedrock_server.url
    assert control.meta.endpoint_url == bedrock_server.url
    backend = BedrockBackend(fast_config())
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert attempts == 1
    call = bedrock_server.converse_calls()[-1]
    # botocore signed it with the throwaway keys, for service "bedrock" in the region asked for
    assert call.signed and call.signature_ok
    assert call.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert (call.region, call.service) == ("us-east-1", "bedrock")
    # the bare Haiku 4.5 ID needs an inference profile: resolved to the region's us. one
    assert call.model_id == f"us.{HAIKU_45}" and backend.model == f"us.{HAIKU_45}"
    assert any(f"us.{HAIKU_45}" in n for n in backend.notices)
    assert bedrock_server.count("list_profiles") == 1
    # Claude 4.5 rejects temperature together with top_p: only temperature goes
    assert call.body["inferenceConfig"] == {"maxTokens": 1024, "temperature": 0.1}
    assert call.system_text == "You classify music."


def test_explicit_endpoint_and_region_win_over_the_environment(bedrock_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")  # nothing there
    backend = BedrockBackend(fast_config(endpoint_url=bedrock_server.url, region="eu-west-3"))
    response, _ = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert bedrock_server.converse_calls()[-1].region == "eu-west-3"


def test_a_throttle_storm_is_retried_until_it_passes(bedrock_server):
    bedrock_server.queue(throttle(), times=3)
    backend = BedrockBackend(fast_config(max_retries=4))
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert attempts == 4
    assert bedrock_server.count() == 4


def test_throttling_that_outlasts_the_retries_is_a_throttled_error(bedrock_server):
    bedrock_server.queue(throttle(), times=20)
    backend = BedrockBackend(fast_config(max_retries=2))
    response, attempts = backend.converse(request(backend))
    assert isinstance(response, SongError)
    assert response.reason == "throttled" and response.stage == "classify"
    assert attempts == 3 and bedrock_server.count() == 3
    assert bedrock_server.pending() == 17


def test_server_errors_model_not_ready_and_model_timeouts_are_retried(bedrock_server):
    for behaviour in (internal_error(), unavailable(), model_not_ready(), model_timeout(),
                      model_error()):
        bedrock_server.queue(behaviour)
    backend = BedrockBackend(fast_config(max_retries=5))
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert attempts == 6 and bedrock_server.count() == 6


def test_botocore_retries_inside_a_call_are_counted(bedrock_server):
    bedrock_server.queue(internal_error())
    backend = BedrockBackend(fast_config(botocore_attempts=2, max_retries=0))
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore did this retry
    assert attempts == 2 and bedrock_server.count() == 2


@pytest.mark.parametrize(("behaviour", "reason"), [
    (access_denied(), "access_denied"),
    (validation_error(), "invalid_request"),
])
def test_access_denied_and_validation_errors_are_never_retried(bedrock_server, behaviour, reason):
    bedrock_server.queue(behaviour, times=5)
    # botocore may retry too (3 attempts): neither layer may retry these, and every song would
    # fail alike: a set-up error that stops the run
    backend = BedrockBackend(fast_config(botocore_attempts=3, max_retries=4))
    with pytest.raises(SetupError) as caught:
        backend.converse(request(backend))
    assert caught.value.reason == reason and caught.value.hint
    assert bedrock_server.count() == 1
    assert ACCESS_KEY not in str(caught.value)


def test_a_wrong_secret_fails_the_signature_check_and_is_not_retried(bedrock_server):
    bedrock_server.secrets = {ACCESS_KEY: "not-the-secret-boto3-signed-with"}
    backend = BedrockBackend(fast_config())
    with pytest.raises(SetupError) as caught:
        backend.converse(request(backend))
    assert caught.value.reason == "bad_credentials"
    # caught by the pre-flight's one control-plane call: no Converse request at all
    assert len(bedrock_server.calls) == 1 and bedrock_server.count() == 0
    assert not bedrock_server.calls[-1].signature_ok


def test_a_read_timeout_is_retried_then_reported(bedrock_server):
    bedrock_server.queue(slow(1.5))
    backend = BedrockBackend(fast_config(read_timeout_s=0.4, max_retries=2))
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert attempts == 2

    bedrock_server.queue(slow(1.5), times=3)
    response, attempts = backend.converse(request(backend))
    assert isinstance(response, SongError) and response.reason == "timeout"
    assert attempts == 3


def test_an_unreadable_http_body_is_an_error_value(bedrock_server):
    bedrock_server.queue(garbage_body())
    backend = BedrockBackend(fast_config())
    response, _ = backend.converse(request(backend))
    assert isinstance(response, SongError) and response.reason == "bad_response"
    assert bedrock_server.count() == 1


def test_unreachable_endpoint_stops_at_set_up_and_is_retried_per_call(bedrock_server):
    backend = BedrockBackend(fast_config(endpoint_url="http://127.0.0.1:9", max_retries=1,
                                         connect_timeout_s=1.0))
    with pytest.raises(SetupError) as caught:  # the pre-flight finds nothing there
        backend.converse(request(backend))
    assert caught.value.reason == "unreachable"
    # past the pre-flight (it went away mid-run) it is an error value after the retries
    backend = BedrockBackend(fast_config(endpoint_url="http://127.0.0.1:9", max_retries=1,
                                         connect_timeout_s=1.0, preflight=False))
    response, attempts = backend.converse(request(backend))
    assert isinstance(response, SongError) and response.reason == "unreachable"
    assert attempts == 2


def test_mixtral_gets_the_system_text_inside_the_user_message(bedrock_server):
    backend = BedrockBackend(fast_config(model_id=MIXTRAL_8X7B))
    response, _ = backend.converse(backend.build_request("SYSTEM RULES", "the song"))
    assert not isinstance(response, SongError)
    call = bedrock_server.converse_calls()[-1]
    assert "system" not in call.body
    assert call.user_text.startswith("SYSTEM RULES") and call.user_text.endswith("the song")
    assert call.model_id == MIXTRAL_8X7B


def test_the_rate_limiter_gates_every_http_attempt(bedrock_server):
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, clock=clock, sleep=clock.sleep)
    backend = BedrockBackend(fast_config(botocore_attempts=2, max_retries=0), limiter=limiter)
    bedrock_server.queue(internal_error())  # botocore's own retry must pass the limiter too
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError) and attempts == 2
    assert clock.slept == 0.0  # two requests fit in the burst of 2
    response, _ = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert clock.slept == pytest.approx(30.0, abs=0.3)  # 2/min: the third waits half a minute
    assert bedrock_server.count() == 3


def test_one_limiter_per_profile_region_and_model_shared_by_backends(bedrock_server):
    a = BedrockBackend(fast_config(requests_per_minute=100, tokens_per_minute=50_000))
    b = BedrockBackend(fast_config(requests_per_minute=100, tokens_per_minute=50_000))
    c = BedrockBackend(fast_config(model_id=MIXTRAL_8X7B, requests_per_minute=100,
                                   tokens_per_minute=50_000))
    for backend in (a, b, c):
        backend.client()
    assert a._limiter is b._limiter
    assert a._limiter is not c._limiter
    assert a._limiter is shared_limiter(None, "us-east-1", HAIKU_45, 100, 50_000)


def test_many_workers_share_one_client_and_count_their_own_attempts(bedrock_server):
    bedrock_server.queue(throttle(), times=4)
    backend = BedrockBackend(fast_config(max_retries=8))
    results: list[tuple[object, int]] = []
    lock = threading.Lock()

    def work() -> None:
        out = backend.converse(request(backend))
        with lock:
            results.append(out)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, SongError) for r, _ in results)
    # every attempt of every worker reached the server, and none was double counted
    assert sum(n for _, n in results) == bedrock_server.count() == 8 + 4


def test_a_scripted_answer_round_trips(bedrock_server):
    bedrock_server.queue(genre_answer("reggae", 0.7))
    backend = BedrockBackend(fast_config())
    response, _ = backend.converse(request(backend))
    assert '"predicted_genre": "reggae"' in response["output"]["message"]["content"][0]["text"]
    assert response["usage"]["totalTokens"] == (response["usage"]["inputTokens"]
                                                + response["usage"]["outputTokens"])


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_botocore_retry_modes_ride_out_a_throttle(bedrock_server, mode):
    # Shipped settings (standard mode, 3 attempts per call, our loop around it) and adaptive.
    backend = BedrockBackend(BedrockConfig(HAIKU_45, backoff_base_s=0.01, retry_mode=mode,
                                           requests_per_minute=None, tokens_per_minute=None))
    assert backend.config.botocore_attempts == 3
    bedrock_server.queue(throttle())
    response, attempts = backend.converse(request(backend))
    assert not isinstance(response, SongError)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore retried the 429 itself
    assert attempts == 2 and bedrock_server.count() == 2


def test_cancel_during_a_throttle_storm_stops_retrying(bedrock_server):
    cancel = threading.Event()
    bedrock_server.queue(throttle(), times=50)
    backend = BedrockBackend(fast_config(max_retries=40, backoff_base_s=0.2, backoff_max_s=0.2))
    done: list[tuple[object, int]] = []
    worker = threading.Thread(target=lambda: done.append(
        backend.converse(request(backend), cancel=cancel)))
    worker.start()
    while bedrock_server.count() < 2 and worker.is_alive():
        worker.join(0.01)
    cancel.set()
    worker.join(30)
    response, attempts = done[0]
    assert isinstance(response, SongError) and response.reason == "cancelled"
    assert attempts < 10 and bedrock_server.pending() > 40


def test_the_token_budget_is_charged_the_real_usage_once(bedrock_server):
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=100_000, clock=clock, sleep=clock.sleep)
    backend = BedrockBackend(fast_config(botocore_attempts=2, max_retries=2), limiter=limiter)
    bedrock_server.queue(internal_error())  # a failed attempt reserves tokens, then refunds them
    response, attempts = backend.converse(request(backend))
    assert attempts == 2
    used = response["usage"]["inputTokens"] + response["usage"]["outputTokens"]
    assert limiter.available_tokens == pytest.approx(100_000 - used)
    bedrock_server.queue(access_denied())  # a failed call costs the budget nothing
    with pytest.raises(SetupError):
        backend.converse(request(backend))
    assert limiter.available_tokens == pytest.approx(100_000 - used)


@pytest.mark.parametrize(("setting", "value", "word"), [
    ("endpoint_url", "notaurl", "Invalid endpoint"),
    ("region", "bad region!", "InvalidRegionError"),
])
def test_a_malformed_region_or_endpoint_is_a_config_error_not_a_crash(
        bedrock_server: BedrockServer, setting: str, value: str, word: str):
    backend = BedrockBackend(fast_config(**{setting: value}))
    with pytest.raises(SetupError) as caught:
        backend.converse(request(backend))
    assert caught.value.reason == "bad_config"
    assert word in str(caught.value) and "region" in caught.value.hint
    assert bedrock_server.calls == []


def test_a_set_up_error_is_found_once_not_once_per_song(bedrock_server):
    backend = BedrockBackend(fast_config(model_id="anthropic.claude-3-5-sonnet-20240620-v1:0"))
    for _ in range(3):
        with pytest.raises(SetupError) as caught:
            backend.converse(request(backend))
        assert caught.value.reason == "model_eol"
    bedrock_server.models["meta.gone-v1:0"] = "EOL"
    gone = BedrockBackend(fast_config(model_id="meta.gone-v1:0"))
    for _ in range(3):
        with pytest.raises(SetupError):
            gone.converse(request(gone))
    assert len(bedrock_server.calls) == 1  # one GetFoundationModel for all three songs
