"""The setup check: can this machine classify with Bedrock? One plain function, step by step.

Steps: credentials found; Bedrock reachable (ListFoundationModels); model access (the model is
listed and ACTIVE, via GetFoundationModel); feature extraction on a sample (a 30 s synthetic
signal, or a file the user gives); prompt generation; one small inference. Each yields a
StepResult with PASS/FAIL/SKIP, a reason and, on failure, a hint. The CLI prints them; the app
shows them as they arrive through `on_step`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from genre_desktop.core.backends.bedrock_errors import CHOOSE_MODEL, model_access_hint
from genre_desktop.core.backends.discovery import control_client, resolve_model_id
from genre_desktop.core.backends.registry import (
    DEFAULT_MODEL,
    ModelRegistry,
    base_model_id,
    is_inference_profile,
)
from genre_desktop.core.types import CancelFlag, SetupError

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class StepResult:
    name: str
    status: str  # PASS | FAIL | SKIP
    reason: str
    hint: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bounded(reason: str, exc: Exception, timeout_s: float) -> str:
    """Say that a timeout was ours: one attempt, short timeouts."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return f"No answer within {timeout_s:g} s (one attempt, no retries)."
    return reason


def _client_error(exc: Exception) -> tuple[str, str]:
    """(code, message) of a botocore error, without anything secret."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return str(err.get("Code", "")), str(err.get("Message", ""))
    return type(exc).__name__, str(exc)


def synthetic_clip(seconds: float = 30.0, sr: int = 22050):
    """A 30 s test signal with a beat, a chord and some noise: enough for every feature."""
    import numpy as np

    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(7)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    beat = (np.sin(2 * np.pi * 2.0 * t) > 0.95).astype(float) * rng.normal(0, 0.5, t.size)
    return (0.4 * chord + 0.3 * beat + 0.02 * rng.normal(size=t.size)).astype("float32"), sr


def run_checks(
    *,
    profile: str | None = None,
    region: str | None = None,
    model: str | None = None,
    endpoint_url: str | None = None,
    clip: str | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    timeout_s: float = 10.0,
    cancel: CancelFlag | None = None,
) -> list[StepResult]:
    """Run every step (later steps are skipped when what they need failed).

    Each AWS step makes one attempt with `timeout_s` connect and read timeouts, so the check
    ends in about four timeouts at worst, whatever the endpoint does."""
    from genre_desktop.core.credentials import CredentialsError, describe_credentials, make_session
    from genre_desktop.core.types import SongFeatures

    model = (model or DEFAULT_MODEL).strip()
    results: list[StepResult] = []
    try:
        registry = ModelRegistry.load()
        registry_problem = ""
    except (OSError, ValueError) as exc:  # a broken models.toml: say so in model_access
        registry, registry_problem = ModelRegistry(), str(exc)

    def record(name: str, started: float, status: str, reason: str, hint: str = "") -> None:
        step = StepResult(name, status, reason, hint, time.monotonic() - started)
        results.append(step)
        if on_step is not None:
            on_step(step)

    # 1. credentials
    t0 = time.monotonic()
    session = None
    try:
        session = make_session(profile, region)
        where = describe_credentials(session)
        if where:
            record("credentials", t0, PASS, f"Found credentials: {where}; region "
                   f"{session.region_name}.")
        else:
            session = None
            record("credentials", t0, FAIL, "No AWS credentials were found.",
                   "Add a profile in the app (kept in the system keyring), run `aws configure`, "
                   "or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.")
    except CredentialsError as exc:
        record("credentials", t0, FAIL, str(exc),
               "Pick another profile or add one; check the keyring is unlocked.")
    except Exception as exc:
        record("credentials", t0, FAIL, f"Credentials could not be loaded ({type(exc).__name__}).",
               "Check ~/.aws/config and ~/.aws/credentials.")
    the_region = session.region_name if session is not None else (region or "us-east-1")

    # 2. Bedrock reachable (control plane): one attempt with short timeouts
    t0 = time.monotonic()
    listed: dict[str, str] | None = None
    control = None
    if session is None:
        record("bedrock_reachable", t0, SKIP, "Needs credentials.")
    else:
        try:
            control = control_client(session, endpoint_url, connect_s=timeout_s,
                                     read_s=timeout_s)
            summaries = control.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
            listed = {s["modelId"]: (s.get("modelLifecycle") or {}).get("status", "")
                      for s in summaries}
            record("bedrock_reachable", t0, PASS,
                   f"Bedrock in {the_region} lists {len(listed)} text models.")
        except Exception as exc:
            code, msg = _client_error(exc)
            hint = ("The profile needs the bedrock:ListFoundationModels permission."
                    if "AccessDenied" in code or "Unrecognized" in code else
                    "Check the network, the region (Bedrock is not in every region) and any "
                    "endpoint setting.")
            record("bedrock_reachable", t0, FAIL, _bounded(f"{code}: {msg}".strip(": "), exc,
                                                           timeout_s), hint)

    # 3. model access: lifecycle (registry, then GetFoundationModel) and profile resolution
    t0 = time.monotonic()
    base = base_model_id(model)
    info = registry.get(model)
    call_id = model  # what the inference step calls: a resolved profile for a bare ID
    if registry_problem:
        record("model_access", t0, FAIL, f"The model overrides cannot be used: "
               f"{registry_problem}", "Fix or remove models.toml in the config folder.")
    elif info.retired:
        record("model_access", t0, FAIL, f"{info.label} ({base}) reached its end of life on "
               f"Bedrock on {info.eol_date or 'a past date'}.", CHOOSE_MODEL)
    elif control is None or listed is None:
        record("model_access", t0, SKIP, "Needs Bedrock to be reachable.")
    elif model.startswith("arn:") and "." not in base:
        # application inference profiles and provisioned models name no foundation model
        record("model_access", t0, SKIP, "This ARN names no foundation model to look up; "
               "the inference step checks it.")
    elif base not in listed:
        record("model_access", t0, FAIL, f"{base} is not offered in {the_region}.",
               "Pick another model or region; `genre-desktop models` lists them.")
    else:
        try:
            details = control.get_foundation_model(modelIdentifier=base)["modelDetails"]
            status = (details.get("modelLifecycle") or {}).get("status", "")
            resolution = resolve_model_id(control, model, the_region, info, details)
            call_id = resolution.model_id
            via = f" through {call_id}" if call_id != model else ""
            kind = "inference profile over " if is_inference_profile(model) else ""
            name = details.get("modelName", base)
            if status == "LEGACY":
                eol = (details.get("modelLifecycle") or {}).get("endOfLifeTime")
                when = eol.date().isoformat() if hasattr(eol, "date") else info.eol_date
                record("model_access", t0, PASS, f"Warning: {kind}{name} is LEGACY"
                       f"{' (end of life ' + when + ')' if when else ''}; it still works"
                       f"{via}. Choose a current model before then.")
            elif status == "ACTIVE":
                record("model_access", t0, PASS, f"{kind}{name} is listed and ACTIVE{via} "
                       f"(the inference step proves access is granted).")
            else:
                record("model_access", t0, FAIL, f"{base} is {status or 'not active'}.",
                       CHOOSE_MODEL)
        except SetupError as exc:
            record("model_access", t0, FAIL, exc.message, exc.hint)
        except Exception as exc:
            code, msg = _client_error(exc)
            record("model_access", t0, FAIL, f"{code}: {msg}".strip(": "),
                   model_access_hint(the_region))

    # 4. feature extraction (no AWS needed)
    t0 = time.monotonic()
    features = None
    try:
        from genre_desktop.core.features import extract_features, features_from_signal

        if clip:
            features = extract_features(clip)
            what = "the given file"
        else:
            y, sr = synthetic_clip()
            features = features_from_signal(y, sr)
            what = "a 30 s synthetic test signal"
        record("feature_extraction", t0, PASS,
               f"{len(features)} features from {what} (tempo {features['tempo']:.0f} BPM).")
    except Exception as exc:
        features = None
        record("feature_extraction", t0, FAIL, f"{type(exc).__name__}: {exc}",
               "Check the file is a readable WAV/AU; reinstall if librosa fails to import.")

    # 5. prompt generation
    t0 = time.monotonic()
    prompt = None
    if features is None:
        record("prompt", t0, SKIP, "Needs features.")
    else:
        try:
            from genre_desktop.core.prompt import build_prompt

            prompt = build_prompt(features)
            record("prompt", t0, PASS, f"Prompt of {len(prompt.full_text)} characters "
                   f"(about {len(prompt.full_text) // 4} tokens), "
                   f"{len(prompt.examples)} few-shot examples.")
        except Exception as exc:
            record("prompt", t0, FAIL, f"{type(exc).__name__}: {exc}",
                   "The prompt templates in resources/ may be damaged; reinstall.")

    # 6. one inference: one attempt, bounded by timeout_s (a hung endpoint cannot stall it)
    t0 = time.monotonic()
    access = next(r for r in results if r.name == "model_access")
    if session is None or features is None or prompt is None:
        record("inference", t0, SKIP, "Needs credentials, features and a prompt.")
    elif access.status == FAIL:  # retired, not offered, ...: a request would only say it again
        record("inference", t0, SKIP, "Needs a model Bedrock serves (see model_access).")
    else:
        from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig
        from genre_desktop.core.types import SongError

        if call_id == model and not registry_problem:
            # model_access did not get to resolve it (no listing): the registry still knows
            with contextlib.suppress(Exception):
                call_id = resolve_model_id(
                    control or control_client(session, endpoint_url, connect_s=timeout_s,
                                              read_s=timeout_s),
                    model, the_region, registry.get(model), None).model_id
        backend = BedrockBackend(
            BedrockConfig(model_id=call_id, profile=profile, region=the_region,
                          endpoint_url=endpoint_url, connect_timeout_s=timeout_s,
                          read_timeout_s=timeout_s, botocore_attempts=1, max_retries=0,
                          retry_mode="standard", preflight=False,
                          requests_per_minute=None, tokens_per_minute=None),
            registry=registry)
        song = SongFeatures(path="", features=features, duration_s=30.0, analysed_s=30.0)
        try:
            answer = backend.classify(song, cancel=cancel)
        except SetupError as exc:
            answer = SongError(exc.reason, exc.message, stage="classify")
            hint = exc.hint
        else:
            hint = ""
        if isinstance(answer, SongError):
            if answer.reason in ("unparseable_answer", "unknown_genre", "truncated_answer",
                                 "refusal"):
                hint = "The model answered but not in the expected JSON; try another model."
            if answer.reason in ("timeout", "unreachable", "connection_lost"):
                hint = (f"One attempt with a {timeout_s:g} s timeout (the check does not "
                        "retry); a run retries. Check the endpoint and network.")
            record("inference", t0, FAIL, f"{answer.reason}: {answer.message}", hint)
        else:
            record("inference", t0, PASS,
                   f"{backend.model} answered {answer.predicted_genre} ({answer.confidence:.0%})"
                   f" in {answer.latency_s:.1f} s; {answer.input_tokens}+{answer.output_tokens}"
                   f" tokens, ${answer.cost_usd:.5f}.")
    return results


def all_passed(results: list[StepResult]) -> bool:
    return all(r.status == PASS for r in results)
