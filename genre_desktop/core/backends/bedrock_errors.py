"""What a Bedrock error means for a run: retry it, fail this song, or stop the whole run.

Set-up problems (no credentials, access denied, model at end of life, not callable on demand, a
parameter the model rejects, ...) are the same for every song, so they become one `SetupError`
and the run stops; transient ones (throttling, timeouts, dropped connections, 5xx) are retried;
the rest fail one song.
"""

from __future__ import annotations

from dataclasses import dataclass

from genre_desktop.core.types import SetupError

# error code -> (reason, retryable) for errors that concern one call
_TRANSIENT: dict[str, str] = {
    "ThrottlingException": "throttled",
    "TooManyRequestsException": "throttled",
    "ServiceQuotaExceededException": "throttled",
    "ModelNotReadyException": "model_not_ready",
    "ModelTimeoutException": "timeout",
    "InternalServerException": "service_error",
    "ServiceUnavailableException": "service_error",
    "ModelErrorException": "model_error",
    "RequestTimeout": "timeout",
    "RequestTimeoutException": "timeout",
}

_CREDENTIAL_CODES = {
    "UnrecognizedClientException": "The AWS access key is not recognised",
    "InvalidSignatureException": "AWS rejected the request signature (wrong secret key or "
                                 "clock)",
    "ExpiredTokenException": "The AWS session token has expired",
    "ExpiredToken": "The AWS session token has expired",
    "InvalidClientTokenId": "The AWS access key is not recognised",
    "MissingAuthenticationTokenException": "The request carried no AWS credentials",
}

HINTS = {
    "throttled": "Bedrock kept throttling after all retries; lower the workers or the rate limit.",
    "timeout": "Bedrock did not answer in time, even after retries.",
    "service_error": "Bedrock kept failing with server errors after all retries.",
    "unreachable": "Could not connect to Bedrock; check the network, region or endpoint.",
    "connection_lost": "The connection to Bedrock kept dropping, even after retries.",
    "invalid_request": "Bedrock rejected the request for this song.",
}

CHOOSE_MODEL = ("Choose a current model (the default is Claude Haiku 4.5); `genre-desktop "
                "models` lists what this account and region can call.")


@dataclass(frozen=True)
class Verdict:
    reason: str
    retryable: bool
    detail: str


def model_access_hint(region: str) -> str:
    return ("Request access to the model in the Bedrock console, Model access page: "
            f"https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/modelaccess")


def is_eol_message(message: str) -> bool:
    return "end of its life" in message.lower() or "end of life" in message.lower()


def is_on_demand_message(message: str) -> bool:
    text = message.lower()
    return "on-demand throughput" in text and "inference profile" in text


_PARAMETERS = ("temperature", "top_p", "topp", "top_k", "maxtokens", "max_tokens",
               "stopsequences", "system", "cachepoint", "outputconfig", "toolconfig",
               "json_schema", "additionalmodelrequestfields")


def names_parameter_or_model(message: str) -> bool:
    text = message.lower().replace(" ", "")
    return "model" in text or any(p in text for p in _PARAMETERS)


def setup_error_for(code: str, message: str, status: int, *, model: str, region: str,
                    profile: str | None) -> SetupError | None:
    """The SetupError a Bedrock error code stands for, or None when it concerns one song."""
    who = f"profile {profile}" if profile else "these credentials"
    if code in _CREDENTIAL_CODES:
        hint = ("Refresh the credentials (e.g. `aws sso login`, or new keys in the app's "
                "profile) and start again.")
        return SetupError("bad_credentials", f"{_CREDENTIAL_CODES[code]} ({code}).", hint)
    if code == "AccessDeniedException":
        return SetupError("access_denied", f"Bedrock denied {who} access to {model} in "
                          f"{region}: {message}".rstrip(": "),
                          "Check the IAM permissions (bedrock:InvokeModel) and "
                          + model_access_hint(region))
    if code == "ResourceNotFoundException":
        if is_eol_message(message):
            return SetupError("model_eol", f"{model} has reached its end of life on Bedrock: "
                              f"{message}", CHOOSE_MODEL)
        return SetupError("model_not_found", f"Bedrock does not offer {model} in {region}: "
                          f"{message}".rstrip(": "),
                          "Check the model ID and the region. " + CHOOSE_MODEL)
    if code == "ValidationException":
        if is_on_demand_message(message):
            return SetupError("needs_profile", f"{model} cannot be called on demand by its bare "
                              f"ID in {region}: {message}",
                              "Use an inference profile ID for it (e.g. us." f"{model}); "
                              "`genre-desktop models` lists the profiles this region has.")
        if is_eol_message(message):
            return SetupError("model_eol", f"{model} has reached its end of life on Bedrock: "
                              f"{message}", CHOOSE_MODEL)
        if names_parameter_or_model(message) and "too long" not in message.lower():
            return SetupError("invalid_request", f"Bedrock rejected the request set-up for "
                              f"{model}: {message}",
                              "Check the model ID; a parameter it rejects can be switched off "
                              "in models.toml (sampling, structured_output, cache_min_tokens).")
    return None


def verdict_for(code: str, message: str, status: int) -> Verdict:
    """Reason and retryability of an error that concerns one call."""
    reason = _TRANSIENT.get(code)
    if reason is not None:
        return Verdict(reason, True, f"{code}: {message}".strip(": "))
    if code == "ValidationException":
        return Verdict("invalid_request", False, f"{code}: {message}")
    return Verdict("service_error", status >= 500 or status in (408, 429),
                   f"{code or status}: {message}".strip(": "))
