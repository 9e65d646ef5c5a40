"""What the local Bedrock server offers, as Bedrock of late 2026 does (used by bedrock_server).

- Models with a lifecycle: ACTIVE, LEGACY (listed, with an end-of-life date) and EOL (not listed;
  Converse and GetFoundationModel answer ResourceNotFoundException with Bedrock's EOL text).
- Profile-only models: their bare ID gets Bedrock's on-demand ValidationException; system-defined
  inference profiles us./eu./apac./global. route to them (ListInferenceProfiles lists them).
- Prompt caching: a `cachePoint` after a prefix of at least the model's minimum writes the cache
  on the first request and reads it afterwards (usage cacheWriteInputTokens/cacheReadInputTokens).
- Structured output and parameters: outputConfig and strict tools are refused by models without
  structured output, and checked (shape, schema subset) for those with it (bedrock_structured.py);
  temperature with topP is refused by the Claude 4.5 models, as Bedrock does.
Token counts are len(text) // 4, the same rule as the server's other answers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from bedrock_structured import refuse_structured

REGION = "us-east-1"
EOL_TEXT = ("This model version has reached the end of its life. Please refer to the AWS "
            "documentation for more details.")
PROFILE_GEOS = ("us", "eu", "apac", "global")


def on_demand_text(model_id: str) -> str:
    return (f"Invocation of model ID {model_id} with on-demand throughput isn't supported. Retry "
            "your request with the ID or ARN of an inference profile that contains this model.")


@dataclass
class Offer:
    status: str = "ACTIVE"  # ACTIVE | LEGACY | EOL
    profile_only: bool = False
    cache_min: int = 0  # 0: no prompt caching
    structured: bool = False
    temperature_xor_top_p: bool = False
    rejects_temperature: bool = False  # some newer models take no temperature at all
    eol_date: str = ""


def default_offers() -> dict[str, Offer]:
    claude45 = {"profile_only": True, "structured": True, "temperature_xor_top_p": True}
    return {
        "anthropic.claude-haiku-4-5-20251001-v1:0": Offer(cache_min=4096, **claude45),
        "anthropic.claude-sonnet-4-5-20250929-v1:0": Offer(cache_min=1024, **claude45),
        "amazon.nova-micro-v1:0": Offer(cache_min=1000),
        "amazon.nova-lite-v1:0": Offer(cache_min=1000),
        "amazon.nova-pro-v1:0": Offer(cache_min=1000),
        "mistral.mixtral-8x7b-instruct-v0:1": Offer(),
        "mistral.mistral-large-3-675b-instruct": Offer(),
        "meta.llama4-maverick-17b-instruct-v1:0": Offer(profile_only=True),
        "meta.llama4-scout-17b-instruct-v1:0": Offer(profile_only=True),
        "openai.gpt-oss-120b-1:0": Offer(),
        "amazon.titan-text-express-v1": Offer(),
        "anthropic.claude-3-haiku-20240307-v1:0": Offer(status="EOL", eol_date="2026-09-10"),
        "anthropic.claude-3-5-sonnet-20240620-v1:0": Offer(status="EOL", eol_date="2026-07-30"),
        "anthropic.claude-3-5-sonnet-20241022-v2:0": Offer(status="EOL", eol_date="2026-07-30"),
    }


class Catalog:
    def __init__(self) -> None:
        self.offers = default_offers()
        self.cached: set[str] = set()  # prompt-cache keys written so far
        self.lock = threading.Lock()

    # -- lookups ---------------------------------------------------------------------------
    def profiles(self) -> dict[str, str]:
        """Profile ID -> model ID: every profile-only model and the Nova models have them."""
        out = {}
        for model_id, offer in self.offers.items():
            if offer.status != "EOL" and (offer.profile_only or model_id.startswith("amazon.")):
                for geo in PROFILE_GEOS:
                    out[f"{geo}.{model_id}"] = model_id
        return out

    def base_of(self, ident: str) -> tuple[str, bool]:
        """(model ID, called through a profile) for a model ID, profile ID or ARN."""
        ident = ident.rsplit("/", 1)[-1] if ident.startswith("arn:") else ident
        profiles = self.profiles()
        if ident in profiles:
            return profiles[ident], True
        return ident, False

    # -- control plane ---------------------------------------------------------------------
    def summary(self, model_id: str) -> dict[str, Any]:
        offer = self.offers.get(model_id, Offer())
        provider = model_id.split(".", 1)[0]
        life: dict[str, Any] = {"status": "LEGACY" if offer.status == "LEGACY" else "ACTIVE"}
        if offer.status == "LEGACY" and offer.eol_date:
            life["endOfLifeTime"] = f"{offer.eol_date}T00:00:00Z"
        return {
            "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
            "modelId": model_id,
            "modelName": model_id.split(".", 1)[-1],
            "providerName": {"anthropic": "Anthropic", "mistral": "Mistral AI", "amazon":
                             "Amazon", "meta": "Meta", "openai": "OpenAI"}.get(provider, provider),
            "inputModalities": ["TEXT"],
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": [],
            "inferenceTypesSupported": ["INFERENCE_PROFILE"] if offer.profile_only
            else ["ON_DEMAND"],
            "modelLifecycle": life,
        }

    def list_models(self) -> dict[str, Any]:
        return {"modelSummaries": [self.summary(m) for m, o in self.offers.items()
                                   if o.status != "EOL"]}

    def get_model(self, model_id: str) -> tuple[int, str, str] | dict[str, Any]:
        offer = self.offers.get(model_id)
        if offer is None:
            return 404, "ResourceNotFoundException", "The specified model identifier is not found."
        if offer.status == "EOL":
            return 404, "ResourceNotFoundException", EOL_TEXT
        return {"modelDetails": self.summary(model_id)}

    def list_profiles(self) -> dict[str, Any]:
        items = []
        for pid, model_id in self.profiles().items():
            geo = pid.split(".", 1)[0]
            items.append({
                "inferenceProfileName": f"{geo.upper()} {model_id}",
                "inferenceProfileId": pid,
                "inferenceProfileArn": f"arn:aws:bedrock:{REGION}:123456789012:"
                                       f"inference-profile/{pid}",
                "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model_id}"}
                           for r in (REGION, "us-west-2")],
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
                "createdAt": "2025-10-01T00:00:00Z",
                "updatedAt": "2025-10-01T00:00:00Z",
            })
        return {"inferenceProfileSummaries": items}

    # -- runtime ---------------------------------------------------------------------------
    def refuse(self, model_id: str, body: dict[str, Any]) -> tuple[int, str, str] | None:
        """Bedrock's error for this Converse request, or None when it would be served."""
        base, via_profile = self.base_of(model_id)
        offer = self.offers.get(base)
        if offer is None:
            if "." in model_id and model_id.split(".", 1)[0] in PROFILE_GEOS:
                return 400, "ValidationException", "The provided model identifier is invalid."
            return None  # other IDs are answered (tests use arbitrary ones)
        if offer.status == "EOL":
            return 404, "ResourceNotFoundException", EOL_TEXT
        if offer.profile_only and not via_profile:
            return 400, "ValidationException", on_demand_text(base)
        structured = refuse_structured(body, offer.structured)  # tests/bedrock_structured.py
        if structured is not None:
            return structured
        inference = body.get("inferenceConfig") or {}
        if offer.rejects_temperature and "temperature" in inference:
            return 400, "ValidationException", ("The model does not support the temperature "
                                                "parameter. Remove it and try again.")
        if offer.temperature_xor_top_p and "temperature" in inference and "topP" in inference:
            return 400, "ValidationException", ("temperature and top_p cannot both be specified "
                                                "for this model. Please use only one.")
        return None

    def usage(self, model_id: str, body: dict[str, Any], prompt_tokens: int,
              output_tokens: int) -> dict[str, int]:
        """Converse usage with the prompt cache applied: inputTokens excludes cached tokens."""
        base, _ = self.base_of(model_id)
        offer = self.offers.get(base, Offer())
        prefix, seen_point = "", False
        for block in body.get("system") or []:
            if "cachePoint" in block:
                seen_point = True
                break
            prefix += block.get("text", "")
        usage = {"inputTokens": prompt_tokens, "outputTokens": output_tokens,
                 "totalTokens": prompt_tokens + output_tokens}
        cached = len(prefix) // 4
        if not seen_point or not offer.cache_min or cached < offer.cache_min:
            return usage  # no checkpoint, or too short a prefix: silently not cached
        key = hashlib.sha256(f"{base}\0{prefix}".encode()).hexdigest()
        with self.lock:
            hit = key in self.cached
            self.cached.add(key)
        usage["inputTokens"] = max(0, prompt_tokens - cached)
        usage["cacheReadInputTokens" if hit else "cacheWriteInputTokens"] = cached
        return usage


class StatusView(MutableMapping):
    """`server.models[id] = "LEGACY"` edits the catalog (older tests use it this way)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __getitem__(self, key: str) -> str:
        return self.catalog.offers[key].status

    def __setitem__(self, key: str, status: str) -> None:
        self.catalog.offers.setdefault(key, Offer()).status = status

    def __delitem__(self, key: str) -> None:
        del self.catalog.offers[key]

    def __iter__(self):
        return iter(self.catalog.offers)

    def __len__(self) -> int:
        return len(self.catalog.offers)
