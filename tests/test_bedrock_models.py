"""`genre-desktop models` (discovery) against the local Bedrock server, through real boto3."""

from __future__ import annotations

import pytest

from genre_desktop.cli import main
from genre_desktop.core.backends.discovery import list_models
from genre_desktop.core.backends.registry import HAIKU_45, MIXTRAL_8X7B, NOVA_LITE


def line_of(out: str, model_id: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(model_id + " "))


def test_models_lists_what_the_region_offers_with_prices_and_marks(bedrock_server, capsys):
    bedrock_server.models[MIXTRAL_8X7B] = "LEGACY"
    bedrock_server.catalog.offers[MIXTRAL_8X7B].eol_date = "2027-02-01"
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Bedrock in us-east-1:")
    haiku = line_of(out, HAIKU_45)
    assert "needs profile" in haiku and "1.000" in haiku and "5.000" in haiku
    assert "default" in haiku
    # its profiles are listed with the price through them (+10% outside global.)
    assert "1.100" in line_of(out, f"us.{HAIKU_45}") and "profile" in line_of(out,
                                                                             f"us.{HAIKU_45}")
    assert "1.000" in line_of(out, f"global.{HAIKU_45}")
    assert "legacy, EOL 2027-02-01" in line_of(out, MIXTRAL_8X7B)
    assert "needs profile" not in line_of(out, NOVA_LITE)
    # end-of-life models are not offered any more
    assert "anthropic.claude-3-haiku-20240307-v1:0" not in out
    ops = [c.operation for c in bedrock_server.calls]
    assert ops == ["list_models", "list_profiles"] and all(c.signature_ok
                                                           for c in bedrock_server.calls)


def test_the_list_is_cached_and_can_be_refreshed(bedrock_server, capsys):
    assert main(["models"]) == 0
    assert main(["models"]) == 0
    assert "min ago" in capsys.readouterr().out
    assert len(bedrock_server.calls) == 2  # the second listing came from the cache
    assert main(["models", "--refresh"]) == 0
    assert len(bedrock_server.calls) == 4


def test_offline_it_falls_back_to_the_registry(bedrock_server, capsys):
    assert main(["models", "--endpoint-url", "http://127.0.0.1:9", "--all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Registry only: Bedrock in us-east-1 could not be listed")
    assert HAIKU_45 in out and "retired 2026-09-10" in out


@pytest.mark.parametrize("denied", ["list_profiles"])
def test_profiles_denied_still_lists_the_models(bedrock_server, denied):
    from bedrock_server import error

    bedrock_server.queue(error(403, "AccessDeniedException", "no"), op=denied)
    rows, source = list_models(refresh=True)
    assert source.startswith("Bedrock in us-east-1")
    assert any(r.model_id == HAIKU_45 and r.needs_profile for r in rows)
    assert not any(r.profile for r in rows)
