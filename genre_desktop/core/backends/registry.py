"""Bedrock models the app knows: prices, limits, capabilities and lifecycle.

The built-in entries live in `resources/bedrock_models.toml` (dated and sourced there: prices per
1M tokens from the AWS Bedrock price list of July 2026). Any other model ID, inference profile or
ARN the user types works too; its price is unknown (0) until the user gives one in `models.toml`
(or `models.json`) in the config folder, which also overrides any built-in field:

    [models."mistral.mistral-large-2402-v1:0"]
    label = "Mistral Large"
    input_per_1m = 4.0          # or input_per_1k = 0.004 (older files)
    output_per_1m = 12.0
    max_tokens = 1024
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from genre_desktop.core.resources import config_dir, resource

OVERRIDE_FILES = ("models.toml", "models.json")
DATA_FILE = "bedrock_models.toml"
DEFAULT_MAX_TOKENS = 1024
LIFECYCLES = ("ACTIVE", "LEGACY", "EOL")


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    label: str
    provider: str
    input_per_1m: float = 0.0  # USD per 1,000,000 input tokens (not read from the cache)
    output_per_1m: float = 0.0
    cache_read_per_1m: float = 0.0
    cache_write_per_1m: float = 0.0
    max_tokens: int = DEFAULT_MAX_TOKENS  # maxTokens we send: room for the JSON answer, no more
    max_output_tokens: int = 0  # the model's own limit (0: unknown)
    context_window: int = 0
    supports_system: bool = True  # Converse rejects a system block for some models (Mixtral)
    cache_min_tokens: int = 0  # prompt-caching minimum before a cachePoint; 0: no caching
    structured_output: str = ""  # "json_schema" | "tool" | "" (prose)
    sampling: str = "both"  # "temperature" | "both" | "none": what the model accepts
    lifecycle: str = "ACTIVE"  # ACTIVE | LEGACY | EOL
    eol_date: str = ""
    needs_profile: bool = False  # not callable on demand by its bare ID
    regional_premium: float = 0.0  # extra share paid outside a global. profile
    released: str = ""
    price_known: bool = True
    # Batch inference quotas (AWS General Reference, "Amazon Bedrock service quotas",
    # docs.aws.amazon.com/general/latest/gr/bedrock.html#limits_bedrock, checked 2026-12-04):
    # "Minimum number of records per batch inference job" 100 (not adjustable); "Records per
    # batch inference job for {Model}" 50,000 (adjustable) and "Records per input file per batch
    # inference job" 50,000 for every text model listed (Nova Lite V1: L-916C9264, L-B8626674);
    # "Batch inference input file size (in GB)" 1 (not adjustable). A raised quota goes in
    # models.toml (batch_max_records = 200000).
    batch_min_records: int = 100
    batch_max_records: int = 50_000
    batch_max_input_mb: int = 1000  # 1 GB, counted as 10^9 bytes to stay under either reading

    # Older callers and override files speak per-1,000 prices.
    @property
    def input_per_1k(self) -> float:
        return self.input_per_1m / 1000.0

    @property
    def output_per_1k(self) -> float:
        return self.output_per_1m / 1000.0

    @property
    def supports_caching(self) -> bool:
        return self.cache_min_tokens > 0

    @property
    def retired(self) -> bool:
        return self.lifecycle == "EOL"

    def price_factor(self) -> float:
        """1 + the regional premium unless the ID is a global. profile."""
        ident = self.model_id.rsplit("/", 1)[-1]
        return 1.0 if ident.startswith("global.") else 1.0 + self.regional_premium

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
             cache_write_tokens: int = 0) -> float:
        """USD for one call. Converse's inputTokens excludes the cache reads and writes."""
        total = (input_tokens * self.input_per_1m + output_tokens * self.output_per_1m
                 + cache_read_tokens * self.cache_read_per_1m
                 + cache_write_tokens * self.cache_write_per_1m)
        return total * self.price_factor() / 1_000_000.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HAIKU_45 = "anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
MIXTRAL_8X7B = "mistral.mixtral-8x7b-instruct-v0:1"
MISTRAL_LARGE_3 = "mistral.mistral-large-3-675b-instruct"
LLAMA4_MAVERICK = "meta.llama4-maverick-17b-instruct-v1:0"
LLAMA4_SCOUT = "meta.llama4-scout-17b-instruct-v1:0"
GPT_OSS_120B = "openai.gpt-oss-120b-1:0"
CLAUDE_3_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"  # retired 2026-09-10
CLAUDE_35_SONNET_V1 = "anthropic.claude-3-5-sonnet-20240620-v1:0"  # retired 2026-07-30
CLAUDE_35_SONNET_V2 = "anthropic.claude-3-5-sonnet-20241022-v2:0"  # retired 2026-07-30
# Current, inexpensive and capable: see README "AWS Bedrock" for why.
DEFAULT_MODEL = HAIKU_45

_FIELD_TYPES = {f.name: f.type for f in fields(ModelInfo)}
_FLOATS = {"input_per_1m", "output_per_1m", "cache_read_per_1m", "cache_write_per_1m",
           "regional_premium"}
_INTS = {"max_tokens", "max_output_tokens", "context_window", "cache_min_tokens",
         "batch_min_records", "batch_max_records", "batch_max_input_mb"}
_BOOLS = {"supports_system", "needs_profile"}
_STRS = {"label", "provider", "structured_output", "sampling", "lifecycle", "eol_date",
         "released"}
_PER_1K = {"input_per_1k": "input_per_1m", "output_per_1k": "output_per_1m",
           "cache_read_per_1k": "cache_read_per_1m", "cache_write_per_1k": "cache_write_per_1m"}
_FIELDS = _FLOATS | _INTS | _BOOLS | _STRS | set(_PER_1K)
_PRICES = {"input_per_1m", "output_per_1m", "cache_read_per_1m", "cache_write_per_1m"}


def _convert(model_id: str, key: str, value: Any) -> tuple[str, Any]:
    """(field, value) of one override entry; ValueError with a sentence when it is wrong."""
    if key in _PER_1K:
        key, value = _PER_1K[key], _number(model_id, key, value) * 1000.0
    if key in _FLOATS:
        number = _number(model_id, key, value)
        if number < 0:
            raise ValueError(f"{model_id}: {key} must not be negative")
        return key, number
    if key in _INTS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ValueError(f"{model_id}: {key} must be a whole number")
        return key, int(value)
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{model_id}: {key} must be true or false")
        return key, value
    text = str(value)
    if key == "lifecycle":
        text = text.upper()
        if text not in LIFECYCLES:
            raise ValueError(f"{model_id}: lifecycle must be one of {', '.join(LIFECYCLES)}")
    return key, text


def _number(model_id: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{model_id}: {key} must be a number")
    if not math.isfinite(float(value)):
        raise ValueError(f"{model_id}: {key} must be a finite number")
    return float(value)


def _apply(info: ModelInfo, entry: dict[str, Any]) -> ModelInfo:
    changes: dict[str, Any] = {}
    for key, value in entry.items():
        if key in _FIELDS:
            name, converted = _convert(info.model_id, key, value)
            changes[name] = converted
    if _PRICES & changes.keys():
        changes["price_known"] = True
    if changes.get("max_tokens", info.max_tokens) <= 0:
        raise ValueError(f"{info.model_id}: max_tokens must be positive")
    for name in ("batch_min_records", "batch_max_records", "batch_max_input_mb"):
        if changes.get(name, getattr(info, name)) <= 0:
            raise ValueError(f"{info.model_id}: {name} must be positive")
    return replace(info, **changes)


def _builtin() -> dict[str, ModelInfo]:
    data = tomllib.loads(resource(DATA_FILE).read_text(encoding="utf-8"))
    models: dict[str, ModelInfo] = {}
    for model_id, entry in data["models"].items():
        blank = ModelInfo(model_id, label=model_id, provider=_provider_of(model_id))
        models[model_id] = _apply(blank, entry)
    return models


# Cross-Region inference profiles prefix the model ID with a geography ("us.anthropic...").
_PROFILE_PREFIX = re.compile(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.(?=[a-z0-9-]+\.)")


def base_model_id(model_id: str) -> str:
    """The foundation model behind an ID, inference profile ID or ARN (best effort)."""
    ident = model_id.strip()
    if ident.startswith("arn:"):
        ident = ident.rsplit("/", 1)[-1]
    return _PROFILE_PREFIX.sub("", ident)


def is_inference_profile(model_id: str) -> bool:
    ident = model_id.strip()
    return ":inference-profile/" in ident or bool(_PROFILE_PREFIX.match(ident))


def profile_prefixes(region: str) -> tuple[str, ...]:
    """Profile geographies to try for a Region, best first (global. last: it leaves the geo)."""
    region = region.lower()
    if region.startswith("us-gov-"):
        geo: tuple[str, ...] = ("us-gov",)
    elif region.startswith(("us-", "ca-")):
        geo = ("us",)
    elif region.startswith("eu-"):
        geo = ("eu",)
    elif region.startswith("ap-northeast-1") or region.startswith("ap-northeast-3"):
        geo = ("jp", "apac")
    elif region.startswith("ap-southeast-2") or region.startswith("ap-southeast-4"):
        geo = ("au", "apac")
    elif region.startswith("ap-"):
        geo = ("apac",)
    else:
        geo = ()
    return (*geo, "global")


def _provider_of(model_id: str) -> str:
    return base_model_id(model_id).split(".", 1)[0] if "." in model_id else ""


def _load_overrides(path: Path) -> dict[str, dict[str, Any]]:
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    models = data.get("models", data) if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ValueError(f"{path.name}: expected a table of models")
    return {str(k): dict(v) for k, v in models.items() if isinstance(v, dict)}


def _line_of(path: Path, model_id: str, keys: list[str]) -> int | None:
    """The line of `key = ...` under the model's table in an override file (best effort)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    start = next((i for i, text in enumerate(lines) if model_id in text), None)
    if start is None:
        return None
    for i in range(start, len(lines)):
        if any(lines[i].lstrip().startswith((f"{k} ", f"{k}=", f'"{k}"')) for k in keys):
            return i + 1
    return start + 1


class ModelRegistry:
    """Built-in models plus the user's overrides; lookup accepts any ID, profile or ARN."""

    _BUILTIN: dict[str, ModelInfo] | None = None

    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None,
                 origins: dict[str, Path] | None = None) -> None:
        self._models = dict(builtin_models())
        for model_id, entry in (overrides or {}).items():
            try:
                self._models[model_id] = _apply(self._default_for(model_id), entry)
            except ValueError as exc:  # name the file and line the bad value came from
                where = (origins or {}).get(model_id)
                if where is None:
                    raise
                line = _line_of(where, model_id, [k for k in entry if k in str(exc)])
                raise ValueError(f"{where}, line {line}: {exc}." if line else
                                 f"{where}: {exc}.") from None

    @classmethod
    def load(cls, folder: Path | None = None) -> ModelRegistry:
        """The registry with overrides from `models.toml` / `models.json` in the config folder."""
        folder = folder if folder is not None else config_dir()
        merged: dict[str, dict[str, Any]] = {}
        origins: dict[str, Path] = {}
        for name in OVERRIDE_FILES:
            path = folder / name
            if path.is_file():
                for model_id, entry in _load_overrides(path).items():
                    merged.setdefault(model_id, {}).update(entry)
                    origins[model_id] = path
        return cls(merged, origins)

    def _default_for(self, model_id: str) -> ModelInfo:
        base = base_model_id(model_id)
        known = self._models.get(model_id) or self._models.get(base)
        if known is not None:
            return replace(known, model_id=model_id)
        return ModelInfo(
            model_id=model_id, label=model_id, provider=_provider_of(model_id),
            # Older Mistral instruct models have no system role in Converse.
            supports_system=not base.startswith(("mistral.mistral-7b", "mistral.mixtral")),
            price_known=False,
        )

    def get(self, model_id: str) -> ModelInfo:
        """Info for any model ID; an inference profile inherits its base model's entry."""
        model_id = model_id.strip()
        if not model_id:
            raise ValueError("A model ID is required.")
        if model_id in self._models:
            return self._models[model_id]
        return self._default_for(model_id)

    def known(self, model_id: str) -> bool:
        return model_id in self._models or base_model_id(model_id) in self._models

    def builtin(self, *, include_retired: bool = False) -> list[ModelInfo]:
        """The models offered in pickers (current ones first), overrides applied."""
        return [self._models[k] for k in builtin_models()
                if include_retired or not self._models[k].retired]

    def all(self) -> list[ModelInfo]:
        return list(self._models.values())


def builtin_models() -> dict[str, ModelInfo]:
    """The shipped registry (read once from resources/bedrock_models.toml)."""
    if ModelRegistry._BUILTIN is None:
        ModelRegistry._BUILTIN = _builtin()
    return ModelRegistry._BUILTIN


def __getattr__(name: str) -> Any:
    # BUILTIN_MODELS stays importable for older callers (the app's picker).
    if name == "BUILTIN_MODELS":
        return builtin_models()
    raise AttributeError(name)


def save_override(model_id: str, folder: Path | None = None, **entry: Any) -> Path:
    """Write or update one model's entry in `models.toml` (used by the app's price editor)."""
    import tomli_w

    folder = folder if folder is not None else config_dir()
    path = folder / "models.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    models = data.setdefault("models", {})
    current = models.setdefault(model_id, {})
    _apply(ModelRegistry().get(model_id), entry)  # validate before writing
    current.update({k: v for k, v in entry.items() if k in _FIELDS})
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
