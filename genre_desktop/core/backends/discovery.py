"""The Bedrock control plane: what a region offers, model lifecycle, inference profiles.

- `resolve_model_id`: a bare model ID that cannot be called on demand becomes the region's
  system-defined inference profile (us./eu./apac./global. as ListInferenceProfiles gives them);
  anything else the user typed passes through untouched.
- `list_models`: ListFoundationModels (modelLifecycle, inferenceTypesSupported) plus
  ListInferenceProfiles merged with the registry's prices, cached on disk for a while; offline
  it falls back to the registry alone.
Every call here is cheap and bounded: short timeouts and one attempt.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from genre_desktop.core.backends.registry import (
    ModelInfo,
    ModelRegistry,
    base_model_id,
    is_inference_profile,
    profile_prefixes,
)

CACHE_TTL_S = 6 * 3600.0  # what a region offers changes rarely; `models --refresh` forces it
CONTROL_CONNECT_S = 5.0
CONTROL_READ_S = 15.0


def control_client(session, endpoint_url: str | None = None, *, connect_s: float =
                   CONTROL_CONNECT_S, read_s: float = CONTROL_READ_S):
    """A `bedrock` (control plane) client: short timeouts, one attempt."""
    from botocore.config import Config

    from genre_desktop.core.backends.bedrock import USER_AGENT

    config = Config(connect_timeout=connect_s, read_timeout=read_s,
                    retries={"mode": "standard", "total_max_attempts": 1},
                    user_agent_extra=USER_AGENT)
    return session.client("bedrock", endpoint_url=endpoint_url or None, config=config)


def error_code(exc: Exception) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return str(err.get("Code", "")), str(err.get("Message", ""))
    return type(exc).__name__, ""


def system_profiles(control) -> dict[str, dict[str, Any]]:
    """Inference profiles of the account and region by ID (system-defined and application)."""
    profiles: dict[str, dict[str, Any]] = {}
    token = None
    for _page in range(20):  # a bounded walk: a few pages at most in practice
        kwargs: dict[str, Any] = {"maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = control.list_inference_profiles(**kwargs)
        for p in page.get("inferenceProfileSummaries") or []:
            profiles[str(p.get("inferenceProfileId", ""))] = p
        token = page.get("nextToken")
        if not token:
            break
    return profiles


def profile_base(profile: dict[str, Any]) -> str:
    """The foundation model an inference profile routes to (its first model's ARN)."""
    for m in profile.get("models") or []:
        arn = str(m.get("modelArn", ""))
        if "foundation-model/" in arn:
            return arn.rsplit("/", 1)[-1]
    return base_model_id(str(profile.get("inferenceProfileId", "")))


def pick_profile(model_id: str, region: str, profiles: dict[str, dict[str, Any]]) -> str | None:
    """The region's profile for a bare model ID: its geography first, then global."""
    for prefix in profile_prefixes(region):
        candidate = f"{prefix}.{model_id}"
        p = profiles.get(candidate)
        if p is not None and str(p.get("status", "ACTIVE")) == "ACTIVE":
            return candidate
    return None


@dataclass
class Resolution:
    model_id: str  # what Converse is called with
    requested: str
    note: str = ""  # one sentence for the user when something was resolved or guessed


def needs_resolving(model_id: str, info: ModelInfo, details: dict[str, Any] | None) -> bool:
    if model_id.startswith("arn:") or is_inference_profile(model_id):
        return False
    types = (details or {}).get("inferenceTypesSupported")
    if types:
        return "ON_DEMAND" not in types
    return info.needs_profile


def resolve_model_id(control, model_id: str, region: str, info: ModelInfo,
                     details: dict[str, Any] | None) -> Resolution:
    """Resolve a bare ID that needs an inference profile; pass anything else through."""
    from genre_desktop.core.types import SetupError

    if not needs_resolving(model_id, info, details):
        return Resolution(model_id, model_id)
    try:
        profiles = system_profiles(control)
    except Exception as exc:
        code, _msg = error_code(exc)
        guess = f"{profile_prefixes(region)[0]}.{model_id}"
        return Resolution(guess, model_id, f"{model_id} needs an inference profile; "
                          f"ListInferenceProfiles failed ({code or type(exc).__name__}), so "
                          f"using {guess}.")
    chosen = pick_profile(model_id, region, profiles)
    if chosen is None:
        raise SetupError("needs_profile", f"{model_id} cannot be called on demand in {region} "
                         f"and this region lists no inference profile for it.",
                         "Pick a region that has one (`genre-desktop models --region R`) or "
                         "type a profile ID or ARN.")
    return Resolution(chosen, model_id, f"Using inference profile {chosen} for {model_id} "
                      f"in {region}.")


# ---- discovery ----------------------------------------------------------------------------

@dataclass
class ModelRow:
    model_id: str  # what to type: a model ID or a profile ID
    label: str
    provider: str = ""
    lifecycle: str = "ACTIVE"
    eol_date: str = ""
    on_demand: bool = True
    profile: bool = False  # an inference profile
    needs_profile: bool = False  # a bare ID that only works through a profile
    input_per_1m: float = 0.0
    output_per_1m: float = 0.0
    price_known: bool = False
    source: str = "bedrock"  # "bedrock" (listed by the region) | "registry" (offline)
    profiles: list[str] = field(default_factory=list)  # profile IDs routing to this model

    @property
    def marks(self) -> str:
        out = []
        if self.lifecycle == "LEGACY":
            out.append(f"legacy{', EOL ' + self.eol_date if self.eol_date else ''}")
        if self.lifecycle == "EOL":
            out.append(f"retired {self.eol_date}".strip())
        if self.needs_profile:
            out.append("needs profile")
        if self.profile:
            out.append("profile")
        return ", ".join(out)


def _date(value: Any) -> str:
    if hasattr(value, "date"):
        return value.date().isoformat()
    return str(value or "")[:10]


def _row_from_registry(info: ModelInfo, source: str) -> ModelRow:
    return ModelRow(info.model_id, info.label, info.provider, info.lifecycle, info.eol_date,
                    on_demand=not info.needs_profile, needs_profile=info.needs_profile,
                    input_per_1m=info.input_per_1m, output_per_1m=info.output_per_1m,
                    price_known=info.price_known, source=source)


def registry_rows(registry: ModelRegistry) -> list[ModelRow]:
    return [_row_from_registry(i, "registry") for i in registry.builtin(include_retired=True)]


def discover(control, registry: ModelRegistry) -> list[ModelRow]:
    """What the region lists (text models and their profiles) with the registry's prices."""
    summaries = control.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    try:
        profiles = system_profiles(control)
    except Exception:  # no permission for profiles: the foundation models still list
        profiles = {}
    by_base: dict[str, list[str]] = {}
    for pid, p in profiles.items():
        by_base.setdefault(profile_base(p), []).append(pid)
    rows: list[ModelRow] = []
    for s in summaries:
        mid = str(s.get("modelId", ""))
        if not mid:
            continue
        info = registry.get(mid)
        life = s.get("modelLifecycle") or {}
        types = s.get("inferenceTypesSupported") or []
        needs = bool(types) and "ON_DEMAND" not in types
        row = ModelRow(mid, info.label if info.label != mid else str(s.get("modelName", mid)),
                       str(s.get("providerName", info.provider)),
                       str(life.get("status", "ACTIVE")),
                       _date(life.get("endOfLifeTime")) or info.eol_date,
                       on_demand=not needs, needs_profile=needs,
                       input_per_1m=info.input_per_1m, output_per_1m=info.output_per_1m,
                       price_known=info.price_known, profiles=sorted(by_base.get(mid, [])))
        rows.append(row)
        for pid in row.profiles:
            pinfo = registry.get(pid)
            rows.append(ModelRow(pid, f"{row.label} ({pid.split('.', 1)[0]}. profile)",
                                 row.provider, row.lifecycle, row.eol_date, on_demand=True,
                                 profile=True, input_per_1m=pinfo.input_per_1m * pinfo.
                                 price_factor(), output_per_1m=pinfo.output_per_1m * pinfo.
                                 price_factor(), price_known=pinfo.price_known))
    return rows


def _cache_path(profile: str | None, region: str, endpoint_url: str | None):
    import hashlib

    from genre_desktop.core.resources import cache_dir

    key = hashlib.sha256(f"{profile or ''}|{region}|{endpoint_url or ''}".encode()).hexdigest()
    return cache_dir() / "bedrock_models" / f"{key[:16]}.json"


def list_models(*, profile: str | None = None, region: str | None = None,
                endpoint_url: str | None = None, refresh: bool = False,
                registry: ModelRegistry | None = None) -> tuple[list[ModelRow], str]:
    """(rows, one sentence saying where they come from). Never raises for AWS problems."""
    from genre_desktop.core.credentials import make_session

    registry = registry or ModelRegistry.load()
    try:
        session = make_session(profile, region)
        region = session.region_name
    except Exception as exc:
        return registry_rows(registry), f"Registry only: the AWS profile cannot be used ({exc})."
    path = _cache_path(profile, region, endpoint_url)
    if not refresh and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            age = time.time() - float(data["at"])
            if 0 <= age < CACHE_TTL_S:
                rows = [ModelRow(**r) for r in data["rows"]]
                return rows, (f"Bedrock in {region}, listed {age / 60:.0f} min ago "
                              "(--refresh lists it again).")
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is listed again
    try:
        rows = discover(control_client(session, endpoint_url), registry)
    except Exception as exc:
        code, msg = error_code(exc)
        why = f"{code}: {msg}".strip(": ") if code else type(exc).__name__
        return registry_rows(registry), (f"Registry only: Bedrock in {region} could not be "
                                         f"listed ({why}).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"at": time.time(), "rows": [asdict(r) for r in rows]}),
                        encoding="utf-8")
    except OSError:
        pass  # no cache: the next call lists again
    return rows, f"Bedrock in {region}: {len(rows)} text models and profiles this account sees."
