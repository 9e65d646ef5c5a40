"""AWS credentials: profiles from ~/.aws plus app-made profiles whose secrets live in the keyring.

An app-made ("keyring") profile keeps its access key ID, secret access key and optional session
token ONLY in the system keyring (Secret Service, macOS Keychain, Windows Credential Locker).
The config folder holds a small index of those profile names and their non-secret region, so
the app can list them without unlocking the keyring. Nothing here puts a secret into a log,
a settings file, a repr or an exception message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre_desktop.core.resources import config_dir

log = logging.getLogger(__name__)

KEYRING_SERVICE = "genre-desktop/aws"
INDEX_FILE = "keyring_profiles.json"
DEFAULT_REGION = "us-east-1"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_index_lock = threading.Lock()


class CredentialsError(Exception):
    """A profile cannot be used; the message is safe to show (it never holds a secret)."""


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    source: str  # "aws" (~/.aws config/credentials) or "keyring" (made in the app)
    region: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} (keyring)" if self.source == "keyring" else self.name


# botocore's DEBUG logging prints request headers and canonical requests: the session token
# and access key ID would reach any log handler (the app's log dock, a bug report). These
# loggers get a filter that masks every credential the app has used.
_LOGGERS_TO_REDACT = (
    "botocore.endpoint", "botocore.auth", "botocore.hooks", "botocore.parsers",
    "botocore.retryhandler", "botocore.awsrequest", "botocore.httpsession",
    "botocore.credentials", "botocore.client", "botocore.utils", "botocore.retries.standard",
    "botocore.retries.adaptive", "urllib3.connectionpool",
)


class _RedactSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = [s for s in self.secrets if s]
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: leave the record as it is
            return True
        if any(s in text for s in secrets):
            for secret in secrets:
                text = text.replace(secret, "****")
            record.msg, record.args = text, ()
        return True


_REDACTOR = _RedactSecrets()
for _name in _LOGGERS_TO_REDACT:
    logging.getLogger(_name).addFilter(_REDACTOR)


def redact_in_logs(*secrets: str | None) -> None:
    """Mask these values in botocore's and urllib3's log records, and core.redact, from now on."""
    with _REDACTOR.lock:
        _REDACTOR.secrets.update(s for s in secrets if s and len(s) >= 8)
    from genre_desktop.core import redact

    redact.register(*secrets)  # and in every text that leaves the process


def redact_session_credentials(session) -> None:
    """Register the session's credentials (whatever their source) for log masking."""
    try:
        creds = session.get_credentials()
        frozen = creds.get_frozen_credentials() if creds is not None else None
    except Exception:  # resolving may fail (expired SSO ...): the request will report it
        return
    if frozen is not None:
        redact_in_logs(frozen.access_key, frozen.secret_key, frozen.token)


def _index_path() -> Path:
    return config_dir() / INDEX_FILE


def _read_index() -> dict[str, dict[str, Any]]:
    path = _index_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable keyring profile index %s: %s", path, exc)
        return {}
    profiles = data.get("profiles", {}) if isinstance(data, dict) else {}
    return {str(k): dict(v) for k, v in profiles.items() if isinstance(v, dict)}


def _write_index(profiles: dict[str, dict[str, Any]]) -> None:
    path = _index_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"profiles": profiles}, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _aws_profiles() -> list[ProfileInfo]:
    """Profiles in the AWS config and shared credentials files (AWS_CONFIG_FILE etc. honoured)."""
    import botocore.session

    session = botocore.session.Session()
    try:
        names = session.available_profiles
        configs = session.full_config.get("profiles", {})
    except Exception as exc:  # a malformed ~/.aws/config must not break the profile list
        log.warning("Cannot read the AWS config files: %s", type(exc).__name__)
        return []
    return [
        ProfileInfo(name=n, source="aws", region=(configs.get(n) or {}).get("region"))
        for n in sorted(set(names))
    ]


def keyring_profile_names() -> list[str]:
    return sorted(_read_index())


def list_profiles() -> list[ProfileInfo]:
    """Keyring profiles first (what the user made in the app), then the ~/.aws profiles."""
    made = [
        ProfileInfo(name=n, source="keyring", region=v.get("region"))
        for n, v in sorted(_read_index().items())
    ]
    taken = {p.name for p in made}
    return made + [p for p in _aws_profiles() if p.name not in taken]


def _keyring():
    import keyring

    return keyring


def save_keyring_profile(
    name: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    *,
    region: str | None = None,
) -> ProfileInfo:
    """Store a profile's secrets in the system keyring and its name in the index."""
    name = name.strip()
    if not _NAME_RE.match(name):
        raise CredentialsError(
            "A profile name uses letters, digits and . _ @ + - (at most 64 characters)."
        )
    if not access_key_id.strip() or not secret_access_key.strip():
        raise CredentialsError("Both an access key ID and a secret access key are required.")
    secret = {
        "aws_access_key_id": access_key_id.strip(),
        "aws_secret_access_key": secret_access_key.strip(),
    }
    if session_token and session_token.strip():
        secret["aws_session_token"] = session_token.strip()
    keyring = _keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, name, json.dumps(secret))
    except Exception as exc:
        # The keyring's own message never holds the password; keep only its type to be sure.
        raise CredentialsError(
            f"The system keyring refused to store profile {name} ({type(exc).__name__}). "
            "Is a keyring service (e.g. GNOME Keyring) running and unlocked?"
        ) from None
    with _index_lock:
        index = _read_index()
        index[name] = {"region": region} if region else {}
        _write_index(index)
    return ProfileInfo(name=name, source="keyring", region=region)


def delete_keyring_profile(name: str) -> None:
    """Remove a keyring profile's secrets and its index entry; unknown names are ignored."""
    keyring = _keyring()
    try:
        keyring.delete_password(KEYRING_SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass  # already gone from the keyring: still drop it from the index
    except Exception as exc:
        raise CredentialsError(
            f"The system keyring could not delete profile {name} ({type(exc).__name__})."
        ) from None
    with _index_lock:
        index = _read_index()
        if index.pop(name, None) is not None:
            _write_index(index)


def _keyring_secret(name: str) -> dict[str, str]:
    try:
        raw = _keyring().get_password(KEYRING_SERVICE, name)
    except Exception as exc:
        raise CredentialsError(
            f"The system keyring could not be read for profile {name} ({type(exc).__name__})."
        ) from None
    if not raw:
        raise CredentialsError(
            f"Profile {name} has no secret in the system keyring; enter its keys again."
        )
    try:
        secret = json.loads(raw)
        return {k: str(secret[k]) for k in secret if k.startswith("aws_")}
    except (ValueError, TypeError, AttributeError):
        raise CredentialsError(f"The keyring entry of profile {name} is damaged.") from None


def is_keyring_profile(name: str | None) -> bool:
    return bool(name) and name in _read_index()


def make_session(profile: str | None = None, region: str | None = None):
    """A boto3 Session from a keyring profile, a ~/.aws profile or the standard chain.

    The region is `region`; else, for a keyring profile, its saved region; else botocore's
    usual order (AWS_REGION / AWS_DEFAULT_REGION, then the profile's `region`); else us-east-1.
    """
    import boto3
    import botocore.exceptions

    profile = profile.strip() if profile else None
    index = _read_index()
    if profile and profile in index:
        secret = _keyring_secret(profile)
        redact_in_logs(*secret.values())
        session = boto3.Session(
            aws_access_key_id=secret.get("aws_access_key_id"),
            aws_secret_access_key=secret.get("aws_secret_access_key"),
            aws_session_token=secret.get("aws_session_token"),
            region_name=region or index[profile].get("region") or None,
        )
    else:
        try:
            session = boto3.Session(profile_name=profile or None, region_name=region or None)
        except botocore.exceptions.ProfileNotFound:
            raise CredentialsError(
                f"No AWS profile named {profile} in the AWS config files or the keyring."
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise CredentialsError(f"The AWS config could not be used: {exc}") from None
    if not session.region_name:
        session = _with_region(session, DEFAULT_REGION)
    return session


def _with_region(session, region: str):
    import boto3

    # boto3 has no setter for the region; the botocore session keeps the credentials source.
    return boto3.Session(botocore_session=session._session, region_name=region)


def describe_credentials(session) -> str:
    """Where the session's credentials come from, for the setup check (no secret shown)."""
    creds = session.get_credentials()
    if creds is None:
        return ""
    key = creds.access_key or ""
    masked = f"****{key[-4:]}" if len(key) >= 12 else "****"
    return f"{creds.method} (access key {masked})"
