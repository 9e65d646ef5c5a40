"""BedrockBackend.classify end to end: hybrid prompt -> real boto3 -> local server -> parsed
answer with tokens, cost and the exact prompt; bad answers become error values with raw text."""

from __future__ import annotations

import json
import threading

import pytest
from bedrock_server import (
    answer,
    genre_answer,
    malformed_json,
    prose_json,
    refusal,
    throttle,
    truncated,
    unknown_genre,
)
from test_bedrock_client import fast_config

from genre_desktop.core.backends.bedrock import BedrockBackend
from genre_desktop.core.backends.registry import (
    HAIKU_45,
    MIXTRAL_8X7B,
    SONNET_45,
    ModelRegistry,
)
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import (
    FEATURE_COLUMNS,
    GENRES,
    Prediction,
    SetupError,
    SongError,
    SongFeatures,
)

SONG_PATH = "/home/someone/Music/metal/metal.00042.wav"


def reference_song(index: int) -> tuple[SongFeatures, str, str]:
    """A song with the features of reference row `index` (that row must be left out)."""
    table = load_reference()
    row = table.frame.iloc[index]
    feats = {c: float(row[c]) for c in FEATURE_COLUMNS}
    return (SongFeatures(path=SONG_PATH, features=feats, duration_s=30.0, analysed_s=30.0),
            str(row["filename"]), str(row["label"]))


@pytest.fixture
def song():
    return reference_song(500)


def test_default_answer_is_a_full_prediction_with_usage_and_cost(bedrock_server, song):
    features, own_file, _ = song
    backend = BedrockBackend(fast_config(), registry=ModelRegistry())
    pred = backend.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction), pred
    call = bedrock_server.converse_calls()[-1]
    # the server answers with its few-shot examples' majority label: a k-NN vote
    assert pred.predicted_genre in GENRES and pred.backend == "bedrock"
    assert pred.model == f"us.{HAIKU_45}"  # the bare ID resolved to the region's profile
    assert 0.0 <= pred.confidence <= 1.0 and pred.reasoning and pred.key_indicators
    assert pred.alternative_genres and all(g in GENRES for g, _ in pred.alternative_genres)
    # usage from the response, priced with the registry (Haiku 4.5: $1 in, $5 out per 1M, +10%
    # through a us. profile rather than global.)
    reply = json.loads(pred.raw_response)
    assert reply["predicted_genre"] == pred.predicted_genre
    assert pred.input_tokens == len(call.prompt_text) // 4
    assert pred.output_tokens == len(pred.raw_response) // 4
    # the first song writes the prompt cache (at $1.25/1M), later ones read it ($0.10/1M)
    fresh = pred.input_tokens - pred.cache_write_tokens - pred.cache_read_tokens
    assert pred.cache_write_tokens > 4096 and pred.cache_read_tokens == 0
    assert pred.cost_usd > 0 and pred.cost_usd == pytest.approx(
        (fresh * 1.0 + pred.cache_write_tokens * 1.25 + pred.output_tokens * 5.0) * 1.1
        / 1_000_000)
    assert pred.api_calls == 1 and pred.retries == 0 and pred.latency_s > 0
    # the exact prompt that was sent, and nothing of the file's path or name in it
    assert call.system_text in pred.prompt and call.user_text in pred.prompt
    for fragment in ("metal.00042", "/home/someone", "Music/metal", own_file):
        assert fragment not in call.prompt_text
    assert backend.totals.songs == 1 and backend.totals.cost_usd == pytest.approx(pred.cost_usd)


def test_cost_follows_the_model_prices(bedrock_server, song):
    features, own_file, _ = song
    bedrock_server.queue(genre_answer("jazz"), times=1)
    sonnet = BedrockBackend(fast_config(model_id=f"global.{SONNET_45}", prompt_cache=False),
                            registry=ModelRegistry())
    pred = sonnet.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    assert pred.cost_usd == pytest.approx((pred.input_tokens * 3 + pred.output_tokens * 15)
                                          / 1_000_000)
    # a 2000+ token prompt on Haiku costs well under a cent
    haiku = BedrockBackend(fast_config(prompt_cache=False), registry=ModelRegistry())
    cheap = haiku.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(cheap, Prediction) and cheap.input_tokens > 2000
    assert cheap.cost_usd < 0.01


def test_prices_come_from_the_users_override_file(bedrock_server, song, tmp_path):
    (tmp_path / "models.toml").write_text(
        f'[models."{HAIKU_45}"]\ninput_per_1k = 1.0\noutput_per_1k = 2.0\n'
        "regional_premium = 0.0\n"
        "max_tokens = 321\n")
    features, own_file, _ = song
    backend = BedrockBackend(fast_config(prompt_cache=False), registry=ModelRegistry.load(tmp_path))
    pred = backend.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    assert pred.cost_usd == pytest.approx(pred.input_tokens / 1000 + pred.output_tokens * 2 / 1000)
    assert bedrock_server.converse_calls()[-1].body["inferenceConfig"]["maxTokens"] == 321


def test_retries_are_reported_on_the_prediction(bedrock_server, song):
    features, own_file, _ = song
    bedrock_server.queue(throttle(), times=2)
    backend = BedrockBackend(fast_config())
    pred = backend.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    assert pred.api_calls == 3 and pred.retries == 2 and bedrock_server.count() == 3


def test_json_in_prose_is_parsed(bedrock_server, song):
    features, own_file, _ = song
    bedrock_server.queue(prose_json("reggae"))
    pred = BedrockBackend(fast_config()).classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction) and pred.predicted_genre == "reggae"
    assert pred.raw_response.startswith("Sure!")


def test_genre_names_are_normalised(bedrock_server, song):
    features, own_file, _ = song
    text = json.dumps({"predicted_genre": "Hip-Hop", "confidence": 0.9, "reasoning": "beats",
                       "key_indicators": [], "alternative_genres": []})
    bedrock_server.queue(answer(text))
    pred = BedrockBackend(fast_config()).classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    assert pred.predicted_genre == "hiphop" and pred.confidence == pytest.approx(0.9)


@pytest.mark.parametrize(("behaviour", "reason"), [
    (unknown_genre(), "unknown_genre"),
    (truncated(), "truncated_answer"),
    (refusal(), "refusal"),
    (answer("The weather was lovely and the bus was on time."), "unparseable_answer"),
])
def test_bad_answers_are_error_values_keeping_the_raw_text(bedrock_server, song, behaviour,
                                                           reason):
    features, own_file, _ = song
    bedrock_server.queue(behaviour)
    backend = BedrockBackend(fast_config())
    result = backend.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(result, SongError), result
    assert result.reason == reason and result.stage == "classify"
    sent_back = bedrock_server.converse_calls()[-1].reply.body["output"]["message"]["content"]
    assert result.raw_text == sent_back[0]["text"]
    assert result.path == SONG_PATH
    assert bedrock_server.count() == 1  # a bad answer is not retried: it would cost again
    assert backend.totals.errors == 1 and backend.totals.input_tokens > 0  # it still cost


def test_malformed_json_is_salvaged_or_an_error_never_an_exception(bedrock_server, song):
    features, own_file, _ = song
    bedrock_server.queue(malformed_json())
    result = BedrockBackend(fast_config()).classify(features, exclude_refs=frozenset({own_file}))
    if isinstance(result, Prediction):  # the last-resort field reader found "rock"
        assert result.predicted_genre == "rock"
    else:
        assert result.stage == "classify" and result.raw_text.startswith('{"predicted_genre"')


def test_access_denied_is_a_set_up_error_with_the_console_hint(bedrock_server, song):
    from bedrock_server import access_denied

    features, own_file, _ = song
    bedrock_server.queue(access_denied(), times=3)
    with pytest.raises(SetupError) as caught:
        BedrockBackend(fast_config()).classify(features, exclude_refs=frozenset({own_file}))
    assert caught.value.reason == "access_denied"
    assert "model access" in caught.value.hint.lower() and bedrock_server.count() == 1


def test_mixtral_classifies_without_a_system_block(bedrock_server, song):
    features, own_file, _ = song
    pred = BedrockBackend(fast_config(model_id=MIXTRAL_8X7B)).classify(
        features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    call = bedrock_server.converse_calls()[-1]
    assert "system" not in call.body and pred.prompt.strip() == call.user_text.strip()


def test_parallel_workers_classify_through_one_backend(bedrock_server):
    backend = BedrockBackend(fast_config())
    songs = [reference_song(i) for i in range(0, 1000, 100)[:8]]
    results: list[Prediction | SongError] = []
    lock = threading.Lock()

    def work(item) -> None:
        features, own_file, _ = item
        out = backend.classify(features, exclude_refs=frozenset({own_file}))
        with lock:
            results.append(out)

    threads = [threading.Thread(target=work, args=(s,)) for s in songs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(isinstance(r, Prediction) for r in results)
    assert bedrock_server.count() == 8 and backend.totals.api_calls == 8
    assert backend.totals.cost_usd == pytest.approx(sum(r.cost_usd for r in results))


def test_structured_output_goes_only_to_models_that_take_it(bedrock_server, song):
    from genre_desktop.core.backends.registry import NOVA_LITE

    features, own_file, _ = song
    pred = BedrockBackend(fast_config()).classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    fmt = bedrock_server.converse_calls()[-1].body["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema"
    schema = json.loads(fmt["structure"]["jsonSchema"]["schema"])
    assert schema["properties"]["predicted_genre"]["enum"] == list(GENRES)
    assert set(schema["required"]) >= {"predicted_genre", "confidence", "alternative_genres"}
    # Nova takes no outputConfig (the server refuses it, as Bedrock does): prose parsing
    pred = BedrockBackend(fast_config(model_id=NOVA_LITE)).classify(
        features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction)
    assert "outputConfig" not in bedrock_server.converse_calls()[-1].body


def test_a_parameter_the_model_rejects_is_a_set_up_error_with_a_hint(bedrock_server, song,
                                                                     tmp_path):
    # an override that sends top_p with temperature to a Claude 4.5 model: Bedrock refuses it
    (tmp_path / "models.toml").write_text(f'[models."{HAIKU_45}"]\nsampling = "both"\n')
    features, own_file, _ = song
    backend = BedrockBackend(fast_config(top_p=0.9), registry=ModelRegistry.load(tmp_path))
    with pytest.raises(SetupError) as caught:
        backend.classify(features, exclude_refs=frozenset({own_file}))
    assert caught.value.reason == "invalid_request" and "top_p" in caught.value.message
    assert "models.toml" in caught.value.hint and bedrock_server.count() == 1


def test_haiku_45_gets_the_atlas_and_a_cache_point_only_with_caching(bedrock_server, song):
    features, own_file, _ = song
    cached = BedrockBackend(fast_config()).song_request(features,
                                                        exclude_refs=frozenset({own_file}))
    plain = BedrockBackend(fast_config(prompt_cache=False)).song_request(
        features, exclude_refs=frozenset({own_file}))
    (req_c, text_c), (req_p, text_p) = cached, plain
    # the plain prefix is under Haiku 4.5's 4,096-token minimum: the atlas lifts it over
    assert "Genre reference atlas" in text_c and "Genre reference atlas" not in text_p
    assert req_c["system"][-1] == {"cachePoint": {"type": "default"}}
    assert all("cachePoint" not in b for b in req_p["system"])
    # the song's own description and examples stay after the cache point
    assert req_c["messages"] == req_p["messages"]
    assert len(req_c["system"][0]["text"]) // 4 >= 4096
