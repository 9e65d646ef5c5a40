"""The model dialog's fields as a plain (Qt-free) value for worker threads and the run process.

Not a second settings store: the values live in the core's `Settings` (settings.toml), read and
written by `AppSettings.backend_choice` / `save_backend_choice`; the defaults here are the
core's own, so the app and the CLI cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from genre_desktop.core.settings import Settings

_CORE = Settings()


@dataclass
class BackendChoice:
    backend: str = _CORE.backend  # "local" | "bedrock" | "ensemble"
    profile: str = ""  # "" = the standard AWS chain (Settings.profile None)
    region: str = _CORE.region
    model: str = _CORE.model
    endpoint_url: str = ""  # a Bedrock-compatible endpoint (tests, proxies); empty = AWS
    # "Batch job (half price, takes hours)": a Bedrock batch job instead of on-demand calls.
    batch_s3: str = ""  # s3://bucket/prefix; empty = on demand
    batch_role_arn: str = ""  # the service role Bedrock reads and writes S3 with

    @classmethod
    def from_settings(cls, s: Settings) -> BackendChoice:
        return cls(backend=s.backend, profile=s.profile or "", region=s.region, model=s.model,
                   endpoint_url=s.endpoint_url or "", batch_s3=s.batch_s3 or "",
                   batch_role_arn=s.batch_role_arn or "")
