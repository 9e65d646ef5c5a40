"""Bedrock models the app knows: labels, per-1,000-token prices and how many tokens to ask for.

Any other model ID or inference profile the user types works too; its price is unknown (0) until
the user gives one in `models.toml` (or `models.json`) in the config folder:

    [models."mistral.mistral-large-2402-v1:0"]
    label = "Mistral Large"
    input_per_1k = 0.004
    output_per_1k = 0.012
    max_tokens = 1024

Prices are on-demand US figures in USD at the time of writing; Bedrock prices change and differ by
region, hence the override file.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from genre_desktop.core.resources import config_dir

OVERRIDE_FILES = ("models.toml", "models.json")
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    label: str
    provider: str
    input_per_1k: float  # USD per 1,000 input tokens
    output_per_1k: float  # USD per 1,000 output tokens
    max_tokens: int  # maxTokens sent with every request: room for the JSON answer, no more
    context_window: int = 0
    supports_system: bool = True  # Converse rejects a system block for some models (Mixtral)
    price_known: bool = True

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_1k + output_tokens * self.output_per_1k) / 1000.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MIXTRAL_8X7B = "mistral.mixtral-8x7b-instruct-v0:1"
CLAUDE_3_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
CLAUDE_35_SONNET_V1 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CLAUDE_35_SONNET_V2 = "anthropic.claude-3-5-sonnet-20241022-v2:0"
DEFAULT_MODEL = CLAUDE_3_HAIKU

BUILTIN_MODELS: dict[str, ModelInfo] = {
    m.model_id: m
    for m in (
        ModelInfo(MIXTRAL_8X7B, "Mixtral 8x7B Instruct", "Mistral AI", 0.00045, 0.0007,
                  max_tokens=1024, context_window=32_000, supports_system=False),
        ModelInfo(CLAUDE_3_HAIKU, "Claude 3 Haiku", "Anthropic", 0.00025, 0.00125,
                  max_tokens=1024, context_window=200_000),
        ModelInfo(CLAUDE_35_SONNET_V1, "Claude 3.5 Sonnet", "Anthropic", 0.003, 0.015,
                  max_tokens=1024, context_window=200_000),
        ModelInfo(CLAUDE_35_SONNET_V2, "Claude 3.5 Sonnet v2", "Anthropic", 0.003, 0.015,
                  max_tokens=1024, context_window=200_000),
    )
}

# Cross-region inference profiles prefix the model ID with a geography ("us.anthropic...").
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


def _provider_of(model_id: str) -> str:
    return base_model_id(model_id).split(".", 1)[0] if "." in model_id else ""


def _load_overrides(path: Path) -> dict[str, dict[str, Any]]:
    if path.suffix == ".toml":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
    models = data.get("models", data)
    if not isinstance(models, dict):
        raise ValueError(f"{path.name}: expected a table of models")
    return {str(k): dict(v) for k, v in models.items() if isinstance(v, dict)}


_FIELDS = {"label", "provider", "input_per_1k", "output_per_1k", "max_tokens", "context_window",
           "supports_system"}


def _apply(info: ModelInfo, fields: dict[str, Any]) -> ModelInfo:
    changes: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in _FIELDS:
            continue
        if key in ("input_per_1k", "output_per_1k"):
            changes[key] = float(value)
            if float(value) < 0:
                raise ValueError(f"{info.model_id}: {key} must not be negative")
        elif key in ("max_tokens", "context_window"):
            changes[key] = int(value)
        elif key == "supports_system":
            changes[key] = bool(value)
        else:
            changes[key] = str(value)
    if "input_per_1k" in changes or "output_per_1k" in changes:
        changes["price_known"] = True
    if changes.get("max_tokens", info.max_tokens) <= 0:
        raise ValueError(f"{info.model_id}: max_tokens must be positive")
    return replace(info, **changes)


class ModelRegistry:
    """Built-in models plus the user's overrides; lookup accepts any ID, profile or ARN."""

    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None) -> None:
        self._models = dict(BUILTIN_MODELS)
        for model_id, fields in (overrides or {}).items():
            self._models[model_id] = _apply(self._default_for(model_id), fields)

    @classmethod
    def load(cls, folder: Path | None = None) -> ModelRegistry:
        """The registry with overrides from `models.toml` / `models.json` in the config folder."""
        folder = folder if folder is not None else config_dir()
        merged: dict[str, dict[str, Any]] = {}
        for name in OVERRIDE_FILES:
            path = folder / name
            if path.is_file():
                for model_id, fields in _load_overrides(path).items():
                    merged.setdefault(model_id, {}).update(fields)
        return cls(merged)

    def _default_for(self, model_id: str) -> ModelInfo:
        base = base_model_id(model_id)
        known = self._models.get(model_id) or self._models.get(base)
        if known is not None:
            return replace(known, model_id=model_id)
        return ModelInfo(
            model_id=model_id, label=model_id, provider=_provider_of(model_id),
            input_per_1k=0.0, output_per_1k=0.0, max_tokens=DEFAULT_MAX_TOKENS,
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

    def builtin(self) -> list[ModelInfo]:
        """The models offered in pickers, overrides applied, in a stable order."""
        return [self._models[k] for k in BUILTIN_MODELS]

    def all(self) -> list[ModelInfo]:
        return list(self._models.values())


def save_override(model_id: str, folder: Path | None = None, **fields: Any) -> Path:
    """Write or update one model's entry in `models.toml` (used by the app's price editor)."""
    import tomli_w

    folder = folder if folder is not None else config_dir()
    path = folder / "models.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    models = data.setdefault("models", {})
    entry = models.setdefault(model_id, {})
    _apply(ModelRegistry().get(model_id), fields)  # validate before writing
    entry.update({k: v for k, v in fields.items() if k in _FIELDS})
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
