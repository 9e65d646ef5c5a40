"""Structured output in the local Bedrock server: check the request, answer in its shape.

Request shapes are the ones botocore's bedrock-runtime model (2023-09-30) knows:
  outputConfig.textFormat = {"type": "json_schema",
                             "structure": {"jsonSchema": {"schema": "<JSON text>", "name", ...}}}
  toolConfig.tools[].toolSpec = {"name", "inputSchema": {"json": {...}}, "strict": true}
  toolConfig.toolChoice = {"tool": {"name": ...}} | {"any": {}} | {"auto": {}}
Bedrock's constrained decoding takes a subset of JSON Schema (Bedrock "Get validated JSON
results from models"; Anthropic structured outputs): every object must set
additionalProperties to false, and numeric and string-length constraints are refused. A
request that breaks these gets a ValidationException, as from Bedrock. A served answer follows
the schema: JSON text for outputConfig, a toolUse block (stopReason "tool_use") for a strict tool.
"""

from __future__ import annotations

import json
from typing import Any

# Keywords constrained decoding does not take (Anthropic structured outputs: "not supported").
UNSUPPORTED = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
               "minLength", "maxLength", "maxItems", "minProperties", "maxProperties")

Refusal = tuple[int, str, str]


def _bad(message: str) -> Refusal:
    return 400, "ValidationException", message


def schema_problem(schema: Any, where: str = "schema") -> str | None:
    """Why Bedrock would refuse this schema for structured output, or None."""
    if not isinstance(schema, dict):
        return f"{where} must be a JSON object."
    for key in UNSUPPORTED:
        if key in schema:
            return f"{where} uses '{key}', which structured outputs do not support."
    if schema.get("minItems", 0) not in (0, 1):
        return f"{where}: minItems other than 0 or 1 is not supported."
    kind = schema.get("type")
    if kind == "object":
        if schema.get("additionalProperties") is not False:
            return f"{where}: additionalProperties must be set to false for every object."
        props = schema.get("properties") or {}
        missing = [r for r in schema.get("required") or [] if r not in props]
        if missing:
            return f"{where}: required names unknown properties {missing}."
        for name, sub in props.items():
            problem = schema_problem(sub, f"{where}.properties.{name}")
            if problem:
                return problem
    elif kind == "array" and "items" in schema:
        return schema_problem(schema["items"], f"{where}.items")
    return None


def structured_mode(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str]:
    """("json_schema" | "tool" | "", the schema, the tool name) a request asks for."""
    fmt = (body.get("outputConfig") or {}).get("textFormat")
    if fmt:
        raw = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        try:
            schema = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            schema = None
        return "json_schema", schema, ""
    tools = (body.get("toolConfig") or {}).get("tools") or []
    strict = [t["toolSpec"] for t in tools
              if isinstance(t, dict) and (t.get("toolSpec") or {}).get("strict")]
    if strict:
        choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
        name = (choice.get("tool") or {}).get("name") or strict[0].get("name", "")
        spec = next((s for s in strict if s.get("name") == name), strict[0])
        return "tool", (spec.get("inputSchema") or {}).get("json"), spec.get("name", "")
    return "", None, ""


def refuse_structured(body: dict[str, Any], supported: bool) -> Refusal | None:
    """Bedrock's ValidationException for a structured-output request it would not serve."""
    fmt = (body.get("outputConfig") or {}).get("textFormat")
    if fmt and not supported:
        return _bad("This model doesn't support the outputConfig.textFormat field.")
    mode, schema, _tool = structured_mode(body)
    if not mode:
        return None
    if mode == "tool" and not supported:
        return _bad("This model doesn't support strict tool use (toolSpec.strict).")
    if mode == "json_schema":
        if fmt.get("type") != "json_schema":
            return _bad("outputConfig.textFormat.type must be json_schema.")
        if schema is None:
            return _bad("outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON.")
    if mode == "tool":
        choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
        wanted = (choice.get("tool") or {}).get("name")
        names = {(t.get("toolSpec") or {}).get("name") for t in body["toolConfig"]["tools"]}
        if wanted and wanted not in names:
            return _bad(f"toolConfig.toolChoice names the tool {wanted}, which is not defined.")
    if schema is not None and not (isinstance(schema, dict) and schema.get("type") == "object"):
        return _bad("The structured output schema must describe a JSON object.")
    problem = schema_problem(schema)
    if problem:
        field = "outputConfig.textFormat" if mode == "json_schema" else "toolConfig inputSchema"
        return _bad(f"Invalid JSON schema in {field}: {problem}")
    return None


def fit(value: Any, schema: dict[str, Any]) -> Any:
    """`value` made to follow `schema`, as constrained decoding would have generated it."""
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        given = value if isinstance(value, dict) else {}
        props = schema.get("properties") or {}
        return {k: fit(given.get(k), sub) for k, sub in props.items()
                if k in given or k in (schema.get("required") or [])}
    if kind == "array":
        items = value if isinstance(value, list) else []
        return [fit(v, schema.get("items") or {}) for v in items]
    if kind == "number":
        return float(value) if isinstance(value, (int, float)) else 0.0
    if kind == "integer":
        return int(value) if isinstance(value, (int, float)) else 0
    if kind == "boolean":
        return bool(value)
    if kind == "string":
        return value if isinstance(value, str) else ""
    return value


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """Whether `value` follows the supported subset of JSON Schema (the tests' check)."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return (isinstance(value, dict) and set(value) <= set(props)
                and all(r in value for r in schema.get("required") or [])
                and all(conforms(value[k], props[k]) for k in value))
    if kind == "array":
        return isinstance(value, list) and all(conforms(v, schema.get("items") or {})
                                               for v in value)
    checks = {"number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool)}
    return checks.get(kind, lambda v: True)(value)


def shape_reply(body: dict[str, Any], reply_body: dict[str, Any]) -> dict[str, Any]:
    """A served Converse answer in the shape the request asked for (unchanged if it asked for
    none): the model's JSON fitted to the schema, as text or as the strict tool's input."""
    mode, schema, name = structured_mode(body)
    if not mode or schema is None:
        return reply_body
    message = reply_body["output"]["message"]
    text = "".join(b.get("text", "") for b in message.get("content") or [])
    try:
        answer = json.loads(text)
    except ValueError:
        # A refusal or other prose: constrained decoding does not turn it into an answer
        # (Anthropic's structured-output notes: a refusal may not follow the schema), so the
        # client still has to see it for what it is.
        return reply_body
    fitted = fit(answer, schema)
    if mode == "json_schema":
        message["content"] = [{"text": json.dumps(fitted)}]
        return reply_body
    message["content"] = [{"toolUse": {"toolUseId": "tooluse_genre_0001", "name": name,
                                       "input": fitted}}]
    reply_body["stopReason"] = "tool_use"
    return reply_body


__all__ = ["conforms", "fit", "refuse_structured", "schema_problem", "shape_reply",
           "structured_mode"]
