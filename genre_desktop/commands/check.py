"""`genre-desktop check`: is everything in place to classify with Bedrock?"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check",
        help="check credentials, Bedrock and model access, extraction, prompt and one inference",
        description="Run the setup check step by step; the exit status is 1 when a step fails.",
    )
    parser.add_argument("--profile", help="AWS profile (from ~/.aws or made in the app)")
    parser.add_argument("--region", help="AWS region (default: the profile's, else us-east-1)")
    parser.add_argument("--model", help="Bedrock model ID or inference profile")
    parser.add_argument("--endpoint-url", dest="endpoint_url",
                        help="a Bedrock-compatible endpoint for both APIs (tests, proxies)")
    parser.add_argument("--clip", help="an audio file for the extraction step "
                        "(default: a synthetic 30 s signal)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="connect and read timeout of each AWS step, one attempt each "
                        "(default 10 s)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from genre_desktop.core.settings import load_settings
    from genre_desktop.core.setupcheck import FAIL, StepResult, run_checks

    try:
        settings = load_settings()
        model = args.model or settings.model
        profile = args.profile or settings.profile
        region = args.region or (settings.region if not args.profile else None)
        endpoint = args.endpoint_url or settings.endpoint_url
    except Exception:  # a broken settings file must not stop the check itself
        model, profile, region, endpoint = args.model, args.profile, args.region, args.endpoint_url

    def show(step: StepResult) -> None:
        print(f"[{step.status}] {step.name}: {step.reason}", flush=True)
        if step.hint and step.status == FAIL:
            print(f"       hint: {step.hint}", flush=True)

    results = run_checks(profile=profile, region=region, model=model, endpoint_url=endpoint,
                         clip=args.clip, on_step=show,
                         timeout_s=max(0.5, float(args.timeout)))
    failed = [r.name for r in results if r.status == FAIL]
    print("All checks passed." if not failed else f"Failed: {', '.join(failed)}.")
    return 1 if failed else 0
