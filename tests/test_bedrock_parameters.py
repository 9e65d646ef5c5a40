"""Parameters through the real boto3 client: each model gets only the sampling parameters its
registry entry says it accepts, and a ValidationException that names a parameter is a set-up
problem (one message with a hint, the run stops), not one error per song."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import shared_feature_cache  # noqa: F401
from test_bedrock_classify import reference_song
from test_bedrock_client import fast_config
from test_bedrock_setup import classify

from genre_desktop.core.backends.bedrock import BedrockBackend
from genre_desktop.core.backends.registry import SONNET_45, ModelRegistry
from genre_desktop.core.types import Prediction, SetupError

CURRENT = [m.model_id for m in ModelRegistry().builtin()]
EXPECTED_KEYS = {"temperature": {"maxTokens", "temperature"},
                 "both": {"maxTokens", "temperature", "topP"}, "none": {"maxTokens"}}


@pytest.mark.parametrize("model_id", CURRENT)
def test_each_model_gets_only_the_sampling_parameters_it_accepts(bedrock_server, model_id):
    features, own_file, _ = reference_song(700)
    backend = BedrockBackend(fast_config(model_id=model_id, top_p=0.9, prompt_cache=False))
    pred = backend.classify(features, exclude_refs=frozenset({own_file}))
    # the server refuses what Bedrock refuses (temperature with topP on Claude 4.5)
    assert isinstance(pred, Prediction), pred
    sent = bedrock_server.converse_calls()[-1].body["inferenceConfig"]
    assert set(sent) == EXPECTED_KEYS[backend.info.sampling], (backend.info.sampling, sent)
    if "topP" in sent:
        assert sent["topP"] == pytest.approx(0.9)


def _sonnet_without_temperature(bedrock_server) -> None:
    bedrock_server.catalog.offers[SONNET_45].rejects_temperature = True


def test_a_model_rejecting_temperature_stops_at_set_up_and_sampling_none_fixes_it(bedrock_server,
                                                                         tmp_path):
    _sonnet_without_temperature(bedrock_server)
    features, own_file, _ = reference_song(700)
    registry = ModelRegistry()
    backend = BedrockBackend(fast_config(model_id=SONNET_45, top_p=0.9), registry=registry)
    with pytest.raises(SetupError) as caught:
        backend.classify(features, exclude_refs=frozenset({own_file}))
    assert caught.value.reason == "invalid_request" and "temperature" in caught.value.message
    assert "sampling" in caught.value.hint and bedrock_server.count() == 1
    # the registry flag the hint names is the fix
    (tmp_path / "models.toml").write_text(f'[models."{SONNET_45}"]\nsampling = "none"\n')
    fixed = BedrockBackend(fast_config(model_id=SONNET_45, top_p=0.9),
                           registry=ModelRegistry.load(tmp_path))
    pred = fixed.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction), pred
    assert set(bedrock_server.converse_calls()[-1].body["inferenceConfig"]) == {"maxTokens"}


@pytest.mark.usefixtures("shared_feature_cache")
def test_a_rejected_parameter_stops_the_cli_run_once_with_a_hint(gtzan_dir: Path, tmp_path,
                                                                  bedrock_server, capsys):
    _sonnet_without_temperature(bedrock_server)
    rc = classify(gtzan_dir, tmp_path / "out", "--model", SONNET_45)
    captured = capsys.readouterr()
    assert rc != 0, captured.out
    assert captured.err.count("does not support the temperature parameter") == 1, captured.err
    assert "models.toml" in captured.err and "sampling" in captured.err
    # stopped at the first answer: at most the songs already in flight on the 2 workers
    assert 1 <= bedrock_server.count() <= 2
    assert "invalid_request" not in captured.out  # not reported song by song
