"""Batch-run settings: a TOML file in the user config folder, then environment, then CLI flags.

Never a secret: keys that look like credentials are refused when read and when written, so a
settings file can be shared or attached to a bug report safely.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from genre_desktop.core.resources import config_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SETTINGS_FILE = "settings.toml"
BACKENDS: tuple[str, ...] = ("local", "bedrock", "ensemble")
DEFAULT_MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"  # = registry.DEFAULT_MODEL

# Environment names the standard scripts use, mapped onto settings fields.
ENV_OVERRIDES: dict[str, str] = {
    "REGION": "region",
    "MODEL_NAME": "model",
    "SAMPLES_PER_GENRE": "samples_per_genre",
    "GENRE_DESKTOP_BACKEND": "backend",
    "GENRE_DESKTOP_PROFILE": "profile",
    "GENRE_DESKTOP_WORKERS": "workers",
}

_SECRET_MARKERS = ("secret", "password", "token", "access_key", "credential")


class SettingsError(ValueError):
    """A value that cannot be used (unknown backend, negative count, secret in the file)."""


@dataclass
class Settings:
    schema_version: int = SCHEMA_VERSION
    backend: str = "local"  # the offline model: works with no AWS account
    region: str = "us-east-1"
    model: str = DEFAULT_MODEL
    profile: str | None = None  # AWS profile name (its secrets live in ~/.aws or the keyring)
    endpoint_url: str | None = None  # a Bedrock-compatible endpoint (tests, proxies)
    requests_per_minute: float | None = None  # client-side limits; None: the backend's default
    tokens_per_minute: float | None = None
    samples_per_genre: int | None = None  # None or 0: every song
    seed: int = 42
    workers: int = 8  # classification threads (LLM calls wait on the network, not the CPU)
    extract_workers: int | None = None  # feature processes; None: one per core
    cluster: str | None = None  # a Dask scheduler (tcp://host:8786) to extract on instead
    max_seconds: float = 120.0  # analyse at most this much of each song
    reference: str | None = None  # a labelled feature table replacing the shipped one
    out_dir: str = "."  # reports go to OUT/bedrock_results/
    # Bedrock batch inference (half price, takes hours): where the JSONL goes and the service
    # role Bedrock uses to read and write it. None: classify on demand.
    batch_s3: str | None = None  # s3://bucket/prefix
    batch_role_arn: str | None = None  # arn:aws:iam::ACCOUNT:role/NAME (not a secret)
    batch_poll_s: float = 30.0  # first wait between job status checks (grows to 5 min)
    # Writing genres into the files (core.tag_policy): how many, from which labels, how.
    tag_max_genres: int = 1  # 1: the top genre only; N: the top one plus others >= threshold
    tag_threshold: float = 0.25
    tag_min_confidence: float = 0.0  # songs less sure than this are not tagged
    tag_vocabulary: str = "gtzan"  # gtzan | tags (the audio tagger's) | both
    tag_mode: str = "replace"  # replace | add | empty (fill only files without a genre)
    tag_skip_tagged: bool = False  # leave files an earlier write of ours already tagged
    tag_display_map: str = ""  # extra label=Name pairs, e.g. "rnb=R&B, hiphop=Hip Hop"
    learn_from_review: bool = True  # accepted/corrected songs join the reference (user_reference)

    def validate(self) -> Settings:
        if self.backend not in BACKENDS:
            raise SettingsError(
                f"Unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}."
            )
        if self.samples_per_genre is not None and self.samples_per_genre < 0:
            raise SettingsError("samples_per_genre must be 0 (all songs) or more.")
        if self.workers < 1:
            raise SettingsError("workers must be at least 1.")
        if self.extract_workers is not None and self.extract_workers < 1:
            raise SettingsError("extract_workers must be at least 1.")
        if not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise SettingsError("max_seconds must be a positive number of seconds.")
        if self.batch_s3 is not None:
            if not self.batch_s3.startswith("s3://") or len(self.batch_s3) <= 5:
                raise SettingsError("batch_s3 must be an S3 location: s3://bucket/prefix.")
            if not self.batch_role_arn:
                raise SettingsError("A batch job needs the service role Bedrock runs it with "
                                    "(--role-arn arn:aws:iam::ACCOUNT:role/NAME).")
            if self.backend != "bedrock":
                raise SettingsError("Batch jobs run on Bedrock: use --backend bedrock.")
        if not (math.isfinite(self.batch_poll_s) and self.batch_poll_s > 0):
            raise SettingsError("batch_poll_s must be a positive number of seconds.")
        from genre_desktop.core.tag_policy import PolicyError, policy_from_settings

        try:
            policy_from_settings(self)
        except PolicyError as exc:
            raise SettingsError(f"tag settings: {exc}") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Settings:
        return merge(self, changes, source="arguments")


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def _looks_secret(key: str) -> bool:
    low = key.lower()
    return any(marker in low for marker in _SECRET_MARKERS)


def _coerce(name: str, value: Any, source: str) -> Any:
    """Turn a TOML/env/CLI value into the field's type, or raise SettingsError."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if value is None or (isinstance(value, str) and value.strip() == "" and "None" in kind):
        return None
    try:
        if kind.startswith("bool"):
            if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on",
                                                                    "0", "false", "no", "off"):
                return value.strip().lower() in ("1", "true", "yes", "on")
            if isinstance(value, bool | int) and value in (0, 1):
                return bool(value)
            raise ValueError(value)
        if kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: {name} = {value!r} is not a valid {kind}.") from None


def merge(base: Settings, values: Mapping[str, Any], *, source: str) -> Settings:
    """A copy of `base` with `values` applied; unknown keys are ignored with a warning."""
    known = {f.name for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known and _looks_secret(key):
            raise SettingsError(
                f"{source}: {key!r} looks like a secret; settings never hold secrets "
                "(use an AWS profile or the system keyring)."
            )
        if key not in known or key == "schema_version":
            if key != "schema_version":
                log.warning("%s: ignoring unknown setting %r", source, key)
            continue
        changes[key] = _coerce(key, value, source)
    return dataclasses.replace(base, **changes)


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults < settings file < environment < `overrides` (CLI flags; None values skipped)."""
    settings = Settings()
    file = path if path is not None else settings_path()
    if file.is_file():
        try:
            raw = file.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:  # e.g. saved as Latin-1 by an editor
            line = raw[: exc.start].count(b"\n") + 1
            raise SettingsError(f"Cannot read settings file {file}: line {line} is not UTF-8 "
                                f"text (byte 0x{raw[exc.start]:02x}); save it as UTF-8.") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"Cannot read settings file {file}: {exc}") from exc
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            log.warning("settings file schema %s, this app reads %s", version, SCHEMA_VERSION)
        settings = merge(settings, data, source=str(file))
    environ = os.environ if env is None else env
    from_env = {field: environ[name] for name, field in ENV_OVERRIDES.items() if name in environ}
    settings = merge(settings, from_env, source="environment")
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        settings = merge(settings, given, source="command line")
    return settings.validate()


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings as TOML atomically; None values are left out (TOML has no null)."""
    file = path if path is not None else settings_path()
    data = {k: v for k, v in settings.validate().to_dict().items() if v is not None}
    data["schema_version"] = SCHEMA_VERSION
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_bytes(tomli_w.dumps(data).encode("utf-8"))
    os.replace(tmp, file)
    return file
