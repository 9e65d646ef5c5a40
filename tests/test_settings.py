"""Settings: TOML file in the config folder < environment < CLI flags; never a secret."""

from __future__ import annotations

import tomllib

import pytest

from genre_desktop.core.resources import config_dir
from genre_desktop.core.settings import (
    SCHEMA_VERSION,
    Settings,
    SettingsError,
    load_settings,
    save_settings,
    settings_path,
)


def test_defaults_need_no_aws_account():
    s = load_settings(env={})
    assert s.backend == "local" and s.samples_per_genre is None and s.workers >= 1
    assert s.schema_version == SCHEMA_VERSION


def test_file_then_env_then_flags():
    settings_path().write_text(
        'schema_version = 1\nbackend = "bedrock"\nregion = "eu-west-1"\n'
        'model = "from-file"\nsamples_per_genre = 5\nworkers = 3\n'
    )
    s = load_settings(env={})
    assert (s.backend, s.region, s.model, s.samples_per_genre, s.workers) == (
        "bedrock", "eu-west-1", "from-file", 5, 3)
    env = {"REGION": "us-west-2", "MODEL_NAME": "from-env", "SAMPLES_PER_GENRE": "7"}
    s = load_settings(env=env)
    assert (s.region, s.model, s.samples_per_genre, s.workers) == (
        "us-west-2", "from-env", 7, 3)
    s = load_settings(env=env, overrides={"model": "from-flag", "region": None, "workers": 9})
    assert (s.region, s.model, s.workers) == ("us-west-2", "from-flag", 9)


def test_real_environment_is_read(monkeypatch):
    monkeypatch.setenv("SAMPLES_PER_GENRE", "2")
    monkeypatch.setenv("REGION", "ap-south-1")
    s = load_settings()
    assert s.samples_per_genre == 2 and s.region == "ap-south-1"


@pytest.mark.parametrize("env", [{"SAMPLES_PER_GENRE": "many"}, {"SAMPLES_PER_GENRE": "-1"},
                                 {"GENRE_DESKTOP_BACKEND": "oracle"},
                                 {"GENRE_DESKTOP_WORKERS": "0"}])
def test_bad_values_are_refused_with_a_message(env):
    with pytest.raises(SettingsError):
        load_settings(env=env)


@pytest.mark.parametrize("seconds", ["nan", "inf", "0"])
def test_max_seconds_must_be_a_finite_positive_number(seconds):
    # nan reached the decoder and came back as "corrupt_audio" for every song; inf overflowed
    with pytest.raises(SettingsError, match="max_seconds"):
        load_settings(env={}, overrides={"max_seconds": seconds})


def test_secrets_are_refused_in_the_file_and_on_save():
    settings_path().write_text('aws_secret_access_key = "wJalrXUtnFEMI"\n')
    with pytest.raises(SettingsError, match="secret"):
        load_settings(env={})
    with pytest.raises(SettingsError, match="secret"):
        Settings().replace(session_token="abc")


def test_save_round_trip_is_atomic_and_secret_free():
    s = Settings(backend="ensemble", region="eu-central-1", samples_per_genre=4, seed=7,
                 profile="work", reference="/tmp/table.csv")
    path = save_settings(s)
    assert path.parent == config_dir()
    assert [p.name for p in config_dir().iterdir()] == [path.name]  # no temp file left
    data = tomllib.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and "endpoint_url" not in data
    assert not any(w in path.read_text().lower() for w in ("secret", "password", "token"))
    assert load_settings(env={}) == s


def test_unknown_keys_and_newer_schema_are_tolerated(caplog):
    settings_path().write_text('schema_version = 99\nfuture_option = true\nseed = 3\n')
    s = load_settings(env={})
    assert s.seed == 3
    assert "future_option" in caplog.text and "schema 99" in caplog.text


def test_rate_limits_are_settings_not_secrets():
    settings_path().write_text("tokens_per_minute = 400000\nrequests_per_minute = 120\n")
    s = load_settings(env={}, overrides={"requests_per_minute": 90})
    assert (s.tokens_per_minute, s.requests_per_minute) == (400000.0, 90.0)
