"""The Bedrock pre-flight: every set-up problem caught before the first song, cheaply.

In order: the registry's lifecycle (an end-of-life model stops with no request at all); the
credentials and region (no request); then one bounded control-plane call, GetFoundationModel,
for the model's lifecycle and whether it can be called on demand; and, for a bare ID that needs
one, ListInferenceProfiles to pick the region's profile. A control plane the credentials may not
read (AccessDenied) is not a set-up problem: the first Converse call tells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genre_desktop.core.backends.bedrock_errors import (
    CHOOSE_MODEL,
    is_eol_message,
    setup_error_for,
)
from genre_desktop.core.backends.discovery import control_client, error_code, resolve_model_id
from genre_desktop.core.backends.registry import base_model_id
from genre_desktop.core.types import SetupError

if TYPE_CHECKING:
    from genre_desktop.core.backends.bedrock import BedrockBackend

_NOT_CREDENTIAL_PROBLEMS = ("AccessDeniedException", "AccessDenied")


def run_preflight(backend: BedrockBackend) -> None:
    """Set up `backend` (session, client, resolved model) or raise SetupError."""
    c = backend.config
    info = backend.info
    if info.retired:
        raise SetupError("model_eol", f"{info.label} ({backend.requested}) reached its end of "
                         f"life on Bedrock on {info.eol_date or 'a past date'}; Bedrock answers "
                         "every request for it with ResourceNotFoundException.", CHOOSE_MODEL)
    session = _session(backend)
    try:
        backend._client = backend._new_client(session)
    except Exception as exc:  # a malformed region or endpoint: nothing was sent
        raise SetupError("bad_config", f"Cannot set up the Bedrock client: "
                         f"{type(exc).__name__}: {exc}.",
                         "Check the region (e.g. us-east-1) and the endpoint setting.") from None
    backend.region = backend._client.meta.region_name
    if not c.preflight:
        return
    base = base_model_id(backend.requested)
    details: dict[str, Any] | None = None
    control = control_client(session, c.endpoint_url)
    if "." in base and not base.startswith("arn:"):
        details = _foundation_model(backend, control, base)
    if info.lifecycle == "LEGACY" and not any("legacy" in n for n in backend.notices):
        when = f" and reaches its end of life on {info.eol_date}" if info.eol_date else ""
        backend.notices.append(f"Warning: {base} is a legacy model{when}; choose a current one "
                               "before then.")
    resolution = resolve_model_id(control, backend.requested, backend.region, info, details)
    if resolution.model_id != backend.model:
        backend.model = resolution.model_id
        backend.info = backend.registry.get(resolution.model_id)
        backend._client = backend._new_client(session)  # the limiter is per model ID
    if resolution.note:
        backend.notices.append(resolution.note)


def _session(backend: BedrockBackend):
    from genre_desktop.core.credentials import CredentialsError, make_session

    c = backend.config
    try:
        session = make_session(c.profile, c.region)
    except CredentialsError as exc:
        reason = "unknown_profile" if "No AWS profile named" in str(exc) else "no_credentials"
        raise SetupError(reason, str(exc), "Pick a profile that exists (`aws configure list-"
                         "profiles`) or add one in the app.") from None
    try:
        creds = session.get_credentials()
    except Exception as exc:  # an SSO or process provider that fails
        raise SetupError("no_credentials", f"The AWS credentials could not be loaded "
                         f"({type(exc).__name__}).", "Check ~/.aws/config; for SSO run "
                         "`aws sso login`.") from None
    if creds is None:
        raise SetupError("no_credentials", "No AWS credentials were found.",
                         "Add a profile in the app (kept in the system keyring), run `aws "
                         "configure`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
    backend._session = session
    return session


def _foundation_model(backend: BedrockBackend, control, base: str) -> dict[str, Any] | None:
    """GetFoundationModel: None when the control plane cannot tell (no permission, ...)."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    try:
        details = control.get_foundation_model(modelIdentifier=base)["modelDetails"]
    except ClientError as exc:
        code, message = error_code(exc)
        if code in _NOT_CREDENTIAL_PROBLEMS:
            backend.notices.append("The credentials may not read Bedrock's model list "
                                   "(bedrock:GetFoundationModel); the first request checks "
                                   "model access.")
            return None
        if code in ("ResourceNotFoundException", "ValidationException") and not is_eol_message(
                message):
            raise SetupError("model_not_found", f"Bedrock in {backend.region} does not offer "
                             f"{base}: {message}".rstrip(": "),
                             "Check the model ID and region. " + CHOOSE_MODEL) from None
        fatal = setup_error_for(code, message, 0, model=base, region=backend.region,
                                profile=backend.config.profile)
        if fatal is not None:
            raise fatal from None
        return None  # throttled, 5xx: the first request will tell
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        raise SetupError("unreachable", f"Cannot connect to Bedrock in {backend.region} "
                         f"({type(exc).__name__}).", "Check the network, the region and any "
                         "endpoint setting.") from None
    except ReadTimeoutError:
        return None  # slow, not absent: the first request has its own timeouts and retries
    life = details.get("modelLifecycle") or {}
    status = str(life.get("status", "ACTIVE"))
    if status == "LEGACY":
        eol = life.get("endOfLifeTime")
        when = eol.date().isoformat() if hasattr(eol, "date") else (str(eol or "")[:10]
                                                                     or backend.info.eol_date)
        backend.notices.append(f"Warning: {base} is a legacy model"
                               f"{' and reaches its end of life on ' + when if when else ''}; "
                               "choose a current one before then.")
    elif status not in ("ACTIVE", ""):
        raise SetupError("model_eol", f"{base} is {status} on Bedrock.", CHOOSE_MODEL)
    return details
