"""Ensemble: the offline model and Bedrock (real boto3 over the local server) vote."""

from __future__ import annotations

import pytest
from bedrock_server import access_denied, genre_answer, validation_error
from test_bedrock_client import fast_config

from genre_desktop.core.backends.bedrock import BedrockBackend
from genre_desktop.core.backends.ensemble import EnsembleBackend, member_distribution
from genre_desktop.core.backends.local import LocalBackend
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import (
    FEATURE_COLUMNS,
    GENRES,
    Prediction,
    SetupError,
    SongError,
    SongFeatures,
)

TOO_LONG = validation_error("Input is too long for requested model.")

ROW = 620  # a reference row; the song is that row, left out of training and examples


@pytest.fixture(scope="module")
def local_backend() -> LocalBackend:
    filename = str(load_reference().frame.iloc[ROW]["filename"])
    backend = LocalBackend(exclude_from_training=[filename])
    backend.trained()  # once for the module
    return backend


@pytest.fixture
def song() -> tuple[SongFeatures, str, str]:
    row = load_reference().frame.iloc[ROW]
    feats = {c: float(row[c]) for c in FEATURE_COLUMNS}
    return (SongFeatures(path="/x/y.wav", features=feats, duration_s=30.0, analysed_s=30.0),
            str(row["filename"]), str(row["label"]))


class Named:
    """A member identity for `combine` (which only reads name and model)."""

    def __init__(self, name: str, model: str) -> None:
        self.name, self.model = name, model


def pred(backend: str, genre: str, conf: float, alts=(), scores=None, cost=0.0) -> Prediction:
    return Prediction(predicted_genre=genre, confidence=conf, reasoning=f"{backend} thinks so",
                      key_indicators=[f"{backend}-cue"], alternative_genres=list(alts),
                      genre_scores=scores or {}, backend=backend, model=f"{backend}-m",
                      cost_usd=cost, api_calls=1 if backend == "bedrock" else 0)


def test_confidence_weighted_vote_and_weights():
    local = pred("local", "rock", 0.6, [("metal", 0.3)],
                 scores={"rock": 0.6, "metal": 0.3, "blues": 0.1}, cost=0.0)
    llm = pred("bedrock", "metal", 0.9, [("rock", 0.05)], cost=0.002)
    members = [Named("local", "local-m"), Named("bedrock", "bedrock-m")]

    even = EnsembleBackend(members).combine([local, llm])
    assert even.predicted_genre == "metal"  # 0.3 + 0.9 beats 0.6 + 0.05
    assert even.confidence == pytest.approx(1.2 / 1.95)  # the LLM gave only 0.95 of mass
    assert sum(even.genre_scores.values()) == pytest.approx(1.0)
    assert set(even.genre_scores) == set(GENRES)
    assert even.members == [local, llm] and even.cost_usd == pytest.approx(0.002)
    assert even.api_calls == 1 and "bedrock-cue" in even.key_indicators

    trust_local = EnsembleBackend(members, {"local": 3.0, "bedrock": 1.0}).combine([local, llm])
    assert trust_local.predicted_genre == "rock"  # 1.8 + 0.05 beats 0.9 + 0.9
    assert trust_local.alternative_genres[0][0] == "metal"

    per_model = EnsembleBackend(members, {"bedrock:bedrock-m": 0.0}).combine([local, llm])
    assert per_model.predicted_genre == "rock"


def test_llm_distribution_is_rescaled_when_it_sums_over_one():
    dist = member_distribution(pred("bedrock", "jazz", 0.9, [("blues", 0.6), ("polka", 0.5)]))
    assert set(dist) == {"jazz", "blues"} and sum(dist.values()) == pytest.approx(1.0)
    assert dist["jazz"] / dist["blues"] == pytest.approx(1.5)


def test_real_members_vote_and_keep_their_answers(bedrock_server, local_backend, song):
    features, own_file, _label = song
    llm = BedrockBackend(fast_config())
    llm.prepare()  # as runs.build_backend does: the bare ID resolves to its profile first
    bedrock_server.queue(genre_answer("country", 0.55))
    ensemble = EnsembleBackend([local_backend, llm])
    result = ensemble.classify(features, exclude_refs=frozenset({own_file}))
    assert isinstance(result, Prediction) and result.backend == "ensemble"
    local_ans, llm_ans = result.members
    assert (local_ans.backend, llm_ans.backend) == ("local", "bedrock")
    assert llm_ans.predicted_genre == "country" and llm_ans.cost_usd > 0
    assert result.cost_usd == pytest.approx(llm_ans.cost_usd)
    assert result.input_tokens == llm_ans.input_tokens and result.api_calls == 1
    assert result.model == f"local:{local_backend.model}+bedrock:{llm.model}"
    # the winner is the genre with the largest weighted sum of both distributions
    expected = {g: local_ans.genre_scores.get(g, 0.0) for g in GENRES}
    for g, p in member_distribution(llm_ans).items():
        expected[g] += p
    assert result.predicted_genre == max(expected, key=expected.get)
    assert result.confidence == pytest.approx(max(expected.values()) / sum(expected.values()),
                                              abs=1e-3)


def test_a_failing_llm_leaves_the_local_vote(bedrock_server, local_backend, song):
    features, own_file, _ = song
    bedrock_server.queue(TOO_LONG)  # a per-song failure: the set-up ones stop the run
    result = EnsembleBackend([local_backend, BedrockBackend(fast_config())]).classify(
        features, exclude_refs=frozenset({own_file}))
    assert isinstance(result, Prediction)
    assert [m.backend for m in result.members] == ["local"]
    assert result.predicted_genre == result.members[0].predicted_genre
    assert "bedrock failed (invalid_request)" in result.reasoning


def test_a_set_up_problem_of_the_llm_stops_the_ensemble(bedrock_server, local_backend, song):
    features, own_file, _ = song
    bedrock_server.queue(access_denied())
    with pytest.raises(SetupError) as caught:
        EnsembleBackend([local_backend, BedrockBackend(fast_config())]).classify(
            features, exclude_refs=frozenset({own_file}))
    assert caught.value.reason == "access_denied"


def test_every_member_failing_is_an_error(bedrock_server, song):
    features, own_file, _ = song
    bedrock_server.queue(TOO_LONG)
    bad = dict(features.features)
    bad["tempo"] = float("nan")
    broken = SongFeatures(path="/x/y.wav", features=bad, duration_s=30.0, analysed_s=30.0)
    result = EnsembleBackend([LocalBackend(), BedrockBackend(fast_config())],
                             parallel=False).classify(broken,
                                                      exclude_refs=frozenset({own_file}))
    assert isinstance(result, SongError) and result.stage == "classify"
    assert "local: bad_features" in result.message


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError):
        EnsembleBackend([])
    with pytest.raises(ValueError):
        EnsembleBackend([Named("local", "m")], {"local": -1.0})
