"""Structured answers through the real boto3 client: Converse outputConfig (JSON schema) or a
strict answer tool, where the model takes them; the local server checks the request as Bedrock
does (tests/bedrock_structured.py) and answers in the requested shape."""

from __future__ import annotations

import json

import boto3
import pytest
from bedrock_server import Reply, answer_json
from bedrock_structured import conforms
from test_bedrock_classify import reference_song
from test_bedrock_client import fast_config

from genre_desktop.core.backends.bedrock import ANSWER_TOOL, BedrockBackend
from genre_desktop.core.backends.registry import HAIKU_45, NOVA_LITE, SONNET_45, ModelRegistry
from genre_desktop.core.prompt import answer_json_schema
from genre_desktop.core.types import Prediction, SetupError


@pytest.fixture
def song():
    return reference_song(300)


def _override(tmp_path, model_id: str, **fields: str) -> ModelRegistry:
    lines = "".join(f'{k} = "{v}"\n' for k, v in fields.items())
    (tmp_path / "models.toml").write_text(f'[models."{model_id}"]\n{lines}')
    return ModelRegistry.load(tmp_path)


def _runtime():
    return boto3.client("bedrock-runtime")  # the fixture's endpoint and throwaway keys


def test_the_json_schema_answer_is_checked_and_answered_in_shape(bedrock_server, song):
    features, own_file, _ = song
    pred = BedrockBackend(fast_config(model_id=f"global.{SONNET_45}")).classify(
        features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction), pred
    call = bedrock_server.converse_calls()[-1]
    fmt = call.body["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema" and fmt["structure"]["jsonSchema"]["name"] == ANSWER_TOOL
    # the server accepted the schema (Bedrock's subset: closed objects, no numeric bounds) and
    # answered with text that follows it, which is what the prediction was read from
    assert call.reply.status == 200
    schema = json.loads(fmt["structure"]["jsonSchema"]["schema"])
    text = call.reply.body["output"]["message"]["content"][0]["text"]
    assert conforms(json.loads(text), schema) and pred.raw_response == text
    assert "toolConfig" not in call.body


def test_a_strict_answer_tool_is_sent_and_its_input_is_the_answer(bedrock_server, song,
                                                                    tmp_path):
    registry = _override(tmp_path, HAIKU_45, structured_output="tool")
    features, own_file, _ = song
    pred = BedrockBackend(fast_config(), registry=registry).classify(
        features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction), pred
    call = bedrock_server.converse_calls()[-1]
    spec = call.body["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == ANSWER_TOOL and spec["strict"] is True
    assert spec["inputSchema"]["json"] == answer_json_schema()
    assert call.body["toolConfig"]["toolChoice"] == {"tool": {"name": ANSWER_TOOL}}
    assert "outputConfig" not in call.body
    # Bedrock answers a forced strict tool with a toolUse block and stopReason tool_use
    assert call.reply.status == 200 and call.reply.body["stopReason"] == "tool_use"
    used = call.reply.body["output"]["message"]["content"][0]["toolUse"]
    assert conforms(used["input"], spec["inputSchema"]["json"])
    assert json.loads(pred.raw_response) == used["input"]
    assert pred.predicted_genre == used["input"]["predicted_genre"]


def test_text_before_the_answer_tool_call_is_not_taken_for_the_answer(bedrock_server, song,
                                                                       tmp_path):
    # Models may say a sentence before calling a tool; the answer is the tool's input.
    said = json.loads(answer_json("country", 0.77))

    def preamble_then_tool(call) -> Reply:
        return Reply(body={
            "output": {"message": {"role": "assistant", "content": [
                {"text": "I'll record the classification with the tool now."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": ANSWER_TOOL, "input": said}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 3000, "outputTokens": 120, "totalTokens": 3120}})

    bedrock_server.queue(preamble_then_tool)
    registry = _override(tmp_path, HAIKU_45, structured_output="tool")
    features, own_file, _ = song
    pred = BedrockBackend(fast_config(), registry=registry).classify(
        features, exclude_refs=frozenset({own_file}))
    assert isinstance(pred, Prediction), pred
    assert pred.predicted_genre == "country" and pred.confidence == pytest.approx(0.77)


def test_structured_output_asked_of_a_model_without_it_stops_at_set_up(bedrock_server, song,
                                                                       tmp_path):
    registry = _override(tmp_path, NOVA_LITE, structured_output="json_schema")
    features, own_file, _ = song
    with pytest.raises(SetupError) as caught:
        BedrockBackend(fast_config(model_id=NOVA_LITE), registry=registry).classify(
            features, exclude_refs=frozenset({own_file}))
    assert caught.value.reason == "invalid_request"
    assert "outputConfig" in caught.value.message and "models.toml" in caught.value.hint
    assert bedrock_server.count() == 1


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "object", "properties": {"a": {"type": "number", "minimum": 0}},
      "required": ["a"], "additionalProperties": False}, "minimum"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
     "additionalProperties"),
])
def test_the_server_refuses_schemas_bedrock_cannot_decode(bedrock_server, schema, words):
    from botocore.exceptions import ClientError

    request = {"modelId": f"global.{HAIKU_45}",
               "messages": [{"role": "user", "content": [{"text": "hi"}]}],
               "outputConfig": {"textFormat": {"type": "json_schema", "structure": {
                   "jsonSchema": {"name": "x", "schema": json.dumps(schema)}}}}}
    with pytest.raises(ClientError) as caught:
        _runtime().converse(**request)
    err = caught.value.response["Error"]
    assert err["Code"] == "ValidationException" and words in err["Message"]
    # the app's own schema is one Bedrock takes
    request["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"] = json.dumps(
        answer_json_schema())
    answered = _runtime().converse(**request)
    assert conforms(json.loads(answered["output"]["message"]["content"][0]["text"]),
                    answer_json_schema())
