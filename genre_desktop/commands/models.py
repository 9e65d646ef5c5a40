"""`genre-desktop models`: the Bedrock models this account and region can call, with prices."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models",
        help="list the Bedrock models and inference profiles this account and region can call",
        description="List what ListFoundationModels and ListInferenceProfiles show for the "
        "account and region, with the registry's prices per 1M tokens; legacy models and "
        "models that need an inference profile are marked. The list is cached for a few hours "
        "(--refresh lists it again); without AWS access it falls back to the registry.",
    )
    parser.add_argument("--profile", help="AWS profile (from ~/.aws or made in the app)")
    parser.add_argument("--region", help="AWS region (default: the profile's, else us-east-1)")
    parser.add_argument("--endpoint-url", dest="endpoint_url",
                        help="a Bedrock-compatible endpoint (tests, proxies)")
    parser.add_argument("--refresh", action="store_true", help="ignore the cached list")
    parser.add_argument("--all", action="store_true",
                        help="also list models without a known price and retired ones")
    parser.set_defaults(func=run)
    return parser


def _price(value: float, known: bool) -> str:
    return f"{value:8.3f}" if known else "       ?"


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.backends.discovery import list_models
    from genre_desktop.core.backends.registry import DEFAULT_MODEL, ModelRegistry

    try:
        registry = ModelRegistry.load()
    except (OSError, ValueError) as exc:
        print(f"genre-desktop models: the model overrides cannot be used: {exc}")
        return 2
    rows, source = list_models(profile=args.profile, region=args.region,
                               endpoint_url=args.endpoint_url, refresh=args.refresh,
                               registry=registry)
    print(source)
    shown = [r for r in rows if args.all or (r.price_known and r.lifecycle != "EOL")]
    width = max([len(r.model_id) for r in shown] + [8])
    print(f"{'MODEL ID':<{width}}  {'IN $/1M':>8}  {'OUT $/1M':>8}  NAME [NOTES]")
    for r in shown:
        marks = r.marks + (", default" if r.model_id == DEFAULT_MODEL else "")
        marks = marks.lstrip(", ")
        print(f"{r.model_id:<{width}}  {_price(r.input_per_1m, r.price_known)}  "
              f"{_price(r.output_per_1m, r.price_known)}  {r.label}"
              f"{' [' + marks + ']' if marks else ''}")
    hidden = len(rows) - len(shown)
    if hidden:
        print(f"({hidden} more without a known price or retired: --all shows them)")
    print("A model marked 'needs profile' is called through the region's inference profile "
          "(us./eu./apac./global.) automatically.")
    return 0
