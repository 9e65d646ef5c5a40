"""`genre-desktop check` and `run_checks` against the local Bedrock server, for real."""

from __future__ import annotations

import pytest
from bedrock_server import access_denied, error

from genre_desktop.cli import main
from genre_desktop.core.backends.registry import HAIKU_45, MIXTRAL_8X7B
from genre_desktop.core.setupcheck import FAIL, PASS, SKIP, all_passed, run_checks

STEPS = ["credentials", "bedrock_reachable", "model_access", "feature_extraction", "prompt",
         "inference"]


def by_name(results):
    return {r.name: r for r in results}


def test_every_step_passes_against_the_server(bedrock_server):
    seen = []
    results = run_checks(model=MIXTRAL_8X7B, on_step=seen.append)
    assert [r.name for r in results] == STEPS and seen == results
    assert all_passed(results), [(r.name, r.reason) for r in results if r.status != PASS]
    steps = by_name(results)
    assert "env" in steps["credentials"].reason and "us-east-1" in steps["credentials"].reason
    listed = len(bedrock_server.catalog.list_models()["modelSummaries"])
    assert f"{listed} text models" in steps["bedrock_reachable"].reason
    assert "ACTIVE" in steps["model_access"].reason
    assert "58 features" in steps["feature_extraction"].reason
    assert MIXTRAL_8X7B in steps["inference"].reason and "$" in steps["inference"].reason
    assert [c.operation for c in bedrock_server.calls] == ["list_models", "get_model", "converse"]
    assert bedrock_server.calls[1].model_id == MIXTRAL_8X7B
    assert bedrock_server.calls[2].model_id == MIXTRAL_8X7B
    assert all(c.signature_ok for c in bedrock_server.calls)


def test_the_cli_prints_each_step_and_exits_zero(bedrock_server, capsys):
    assert main(["check", "--model", HAIKU_45, "--region", "us-east-1"]) == 0
    out = capsys.readouterr().out
    for step in STEPS:
        assert f"[PASS] {step}:" in out
    assert "All checks passed." in out


def test_a_model_the_region_does_not_offer_fails_with_a_hint(bedrock_server, capsys):
    assert main(["check", "--model", "meta.llama3-70b-instruct-v1:0"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] model_access: meta.llama3-70b-instruct-v1:0 is not offered" in out
    assert "hint:" in out and "Failed: model_access." in out


def test_denied_model_access_fails_the_inference_with_the_console_hint(bedrock_server):
    bedrock_server.queue(access_denied(), times=5)
    steps = by_name(run_checks(model=HAIKU_45, region="us-west-2"))
    assert steps["inference"].status == FAIL and "access_denied" in steps["inference"].reason
    assert "#/modelaccess" in steps["inference"].hint and "us-west-2" in steps["inference"].hint
    assert bedrock_server.count() == 1  # access denied is not retried


def test_a_legacy_model_warns_with_its_end_of_life_date_and_goes_on(bedrock_server):
    bedrock_server.models[MIXTRAL_8X7B] = "LEGACY"
    bedrock_server.catalog.offers[MIXTRAL_8X7B].eol_date = "2027-03-01"
    steps = by_name(run_checks(model=MIXTRAL_8X7B))
    access = steps["model_access"]
    assert access.status == PASS and "LEGACY" in access.reason and "2027-03-01" in access.reason
    assert steps["inference"].status == PASS


def test_an_end_of_life_model_fails_model_access_without_a_request(bedrock_server):
    steps = by_name(run_checks(model="anthropic.claude-3-haiku-20240307-v1:0"))
    assert steps["model_access"].status == FAIL
    assert "end of life" in steps["model_access"].reason
    assert "2026-09-10" in steps["model_access"].reason
    assert bedrock_server.count() == 0


def test_a_bare_profile_only_id_is_checked_through_its_profile(bedrock_server):
    steps = by_name(run_checks(model=HAIKU_45))
    assert f"through us.{HAIKU_45}" in steps["model_access"].reason
    assert steps["inference"].status == PASS and f"us.{HAIKU_45}" in steps["inference"].reason
    assert bedrock_server.converse_calls()[-1].model_id == f"us.{HAIKU_45}"


def test_listing_denied_fails_reachability_and_skips_model_access(bedrock_server):
    bedrock_server.queue(error(403, "AccessDeniedException", "not authorized to perform "
                               "bedrock:ListFoundationModels"), op="list_models")
    steps = by_name(run_checks(model=HAIKU_45))
    assert steps["bedrock_reachable"].status == FAIL
    assert "ListFoundationModels" in steps["bedrock_reachable"].hint
    assert steps["model_access"].status == SKIP
    assert steps["inference"].status == PASS  # invoking may still be allowed: say so


def test_without_credentials_the_aws_steps_fail_or_skip(bedrock_server, monkeypatch, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] credentials: No AWS credentials were found." in out
    assert "[SKIP] bedrock_reachable" in out and "[SKIP] inference" in out
    assert "[PASS] feature_extraction" in out and "[PASS] prompt" in out
    assert bedrock_server.calls == []


def test_an_unknown_profile_fails_credentials(bedrock_server):
    steps = by_name(run_checks(profile="no-such-profile"))
    assert steps["credentials"].status == FAIL and "no-such-profile" in steps["credentials"].reason


def test_extraction_on_a_real_clip(bedrock_server, full_clips):
    clip = next(r["path"] for r in full_clips if r["genre"] == "metal")
    steps = by_name(run_checks(clip=clip))
    assert steps["feature_extraction"].status == PASS
    assert "the given file" in steps["feature_extraction"].reason
    assert all_passed(steps.values())


@pytest.mark.parametrize("bad", ["/nonexistent/song.wav"])
def test_an_unreadable_clip_fails_extraction_and_skips_the_rest(bedrock_server, bad):
    steps = by_name(run_checks(clip=bad))
    assert steps["feature_extraction"].status == FAIL
    assert steps["prompt"].status == SKIP and steps["inference"].status == SKIP
    assert bedrock_server.count() == 0


def test_an_application_profile_arn_skips_the_lookup_but_is_invoked(bedrock_server):
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5"
    steps = by_name(run_checks(model=arn))
    assert steps["model_access"].status == SKIP
    assert steps["inference"].status == PASS
    assert bedrock_server.converse_calls()[-1].model_id == arn


def test_a_malformed_endpoint_fails_the_steps_without_a_traceback(bedrock_server, capsys):
    assert main(["check", "--endpoint-url", "notaurl"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] bedrock_reachable:" in out
    assert "[FAIL] inference: bad_config: Cannot set up the Bedrock client" in out
