"""Plain (Qt-free) setting values the app hands to worker threads and the run process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BackendChoice:
    backend: str = "local"  # "local" | "bedrock" | "ensemble"
    profile: str = ""  # "" = the standard AWS chain
    region: str = "us-east-1"
    model: str = "anthropic.claude-haiku-4-5-20251001-v1:0"  # registry.DEFAULT_MODEL
    endpoint_url: str = ""  # a Bedrock-compatible endpoint (tests, proxies); empty = AWS
    # "Batch job (half price, takes hours)": a Bedrock batch job instead of on-demand calls.
    batch_s3: str = ""  # s3://bucket/prefix; empty = on demand
    batch_role_arn: str = ""  # the service role Bedrock reads and writes S3 with
