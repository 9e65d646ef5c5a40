"""AWS profiles: ~/.aws files, and app-made profiles whose secrets live only in a real
gnome-keyring Secret Service (tests/harness), used for real to sign Bedrock requests."""

from __future__ import annotations

import logging
import shutil
import subprocess
import uuid

import pytest
from bedrock_server import ACCESS_KEY, SECRET_KEY
from conftest import require
from test_bedrock_client import fast_config

from genre_desktop.core import credentials
from genre_desktop.core.backends.bedrock import BedrockBackend
from genre_desktop.core.credentials import (
    KEYRING_SERVICE,
    CredentialsError,
    delete_keyring_profile,
    list_profiles,
    make_session,
    save_keyring_profile,
)
from genre_desktop.core.resources import config_dir
from genre_desktop.core.types import SetupError, SongError

KR_KEY = "AKIDKEYRINGPROFILE01"
KR_SECRET = "kr-secret-" + uuid.uuid4().hex
KR_TOKEN = "kr-token-" + uuid.uuid4().hex


@pytest.fixture
def aws_files(bedrock_server, tmp_path, monkeypatch):
    """Private AWS config/credentials files with two profiles (the real ~/.aws is never read)."""
    config = tmp_path / "config"
    creds = tmp_path / "credentials"
    config.write_text("[default]\nregion = us-east-1\n\n[profile work]\nregion = eu-west-1\n\n"
                      "[profile readonly]\nregion = ap-south-1\n")
    creds.write_text(f"[work]\naws_access_key_id = {ACCESS_KEY}\n"
                     f"aws_secret_access_key = {SECRET_KEY}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # the env var would win over a profile's region
    return config, creds


def test_profiles_from_the_aws_files(aws_files):
    profiles = {p.name: p for p in list_profiles()}
    assert {"default", "work", "readonly"} <= set(profiles)
    assert profiles["work"].source == "aws" and profiles["work"].region == "eu-west-1"
    session = make_session("work")
    assert session.region_name == "eu-west-1"
    assert session.get_credentials().access_key == ACCESS_KEY
    assert make_session("work", "us-west-2").region_name == "us-west-2"


def test_an_unknown_profile_is_a_clear_error(aws_files):
    with pytest.raises(CredentialsError, match="No AWS profile named nope"):
        make_session("nope")


def test_no_profile_uses_the_standard_chain(bedrock_server):
    session = make_session()
    assert session.get_credentials().method == "env"
    assert session.region_name == "us-east-1"


@pytest.mark.keyring
def test_keyring_profile_keeps_its_secrets_only_in_the_keyring(aws_files, secret_service):
    import keyring

    name = f"kr-{uuid.uuid4().hex[:8]}"
    info = save_keyring_profile(name, KR_KEY, KR_SECRET, KR_TOKEN, region="eu-central-1")
    assert info.source == "keyring" and info.label == f"{name} (keyring)"
    listed = {p.name: p for p in list_profiles()}
    assert listed[name].source == "keyring" and listed[name].region == "eu-central-1"
    assert listed["work"].source == "aws"

    # in gnome-keyring, readable by another Secret Service client (libsecret's CLI)
    assert KR_SECRET in keyring.get_password(KEYRING_SERVICE, name)
    require(shutil.which("secret-tool") is not None, "secret-tool missing (libsecret-tools)")
    looked_up = subprocess.run(["secret-tool", "lookup", "service", KEYRING_SERVICE,
                                "username", name], capture_output=True, text=True, timeout=30)
    assert KR_SECRET in looked_up.stdout and KR_TOKEN in looked_up.stdout

    # ... and nowhere in the config folder
    for path in config_dir().rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for secret in (KR_KEY, KR_SECRET, KR_TOKEN):
                assert secret not in text, path.name
    assert name in (config_dir() / credentials.INDEX_FILE).read_text()

    session = make_session(name)
    creds = session.get_credentials()
    assert (creds.access_key, creds.secret_key, creds.token) == (KR_KEY, KR_SECRET, KR_TOKEN)
    assert session.region_name == "eu-central-1"

    delete_keyring_profile(name)
    assert keyring.get_password(KEYRING_SERVICE, name) is None
    assert name not in {p.name for p in list_profiles()}
    with pytest.raises(CredentialsError):
        make_session(name)
    delete_keyring_profile(name)  # deleting twice is harmless


@pytest.mark.keyring
def test_a_keyring_profile_signs_real_bedrock_requests(bedrock_server, secret_service, caplog):
    name = f"kr-{uuid.uuid4().hex[:8]}"
    bedrock_server.secrets[KR_KEY] = KR_SECRET  # the server knows this key pair
    save_keyring_profile(name, KR_KEY, KR_SECRET, KR_TOKEN)
    try:
        caplog.set_level(logging.DEBUG)
        backend = BedrockBackend(fast_config(profile=name))
        response, _ = backend.converse(backend.build_request("sys", "Example genre: blues"))
        assert not isinstance(response, SongError)
        call = bedrock_server.converse_calls()[-1]
        assert call.signature_ok and f"Credential={KR_KEY}/" in call.headers["authorization"]
        assert call.headers["x-amz-security-token"] == KR_TOKEN  # signed with the token too
        # botocore logged the request at DEBUG, with every credential masked
        assert "x-amz-security-token" in caplog.text.lower() and "****" in caplog.text
        for secret in (KR_SECRET, KR_TOKEN, KR_KEY):
            assert secret not in caplog.text

        # a wrong secret in the keyring: a set-up problem (every song would hit it), found by
        # the first signed request and raised once, never retried, naming no secret
        save_keyring_profile(name, KR_KEY, "wrong-" + KR_SECRET)
        backend = BedrockBackend(fast_config(profile=name))
        before = len(bedrock_server.calls)
        with pytest.raises(SetupError) as err:
            backend.converse(backend.build_request("sys", "user"))
        assert "signature" in str(err.value)
        assert len(bedrock_server.calls) == before + 1  # one request, no retry
        for secret in (KR_SECRET, KR_TOKEN):
            assert secret not in str(err.value)
    finally:
        delete_keyring_profile(name)


@pytest.mark.keyring
def test_an_index_entry_without_a_keyring_secret(aws_files, secret_service):
    name = f"kr-{uuid.uuid4().hex[:8]}"
    save_keyring_profile(name, KR_KEY, KR_SECRET)
    import keyring

    keyring.delete_password(KEYRING_SERVICE, name)  # e.g. the user cleared the keyring
    with pytest.raises(CredentialsError, match="no secret in the system keyring") as err:
        make_session(name)
    assert KR_SECRET not in str(err.value)
    delete_keyring_profile(name)


def test_bad_input_and_a_missing_keyring_are_errors_without_secrets(monkeypatch):
    with pytest.raises(CredentialsError):
        save_keyring_profile("bad name!", KR_KEY, KR_SECRET)
    with pytest.raises(CredentialsError):
        save_keyring_profile("ok", KR_KEY, "  ")
    import keyring
    from keyring.backends.fail import Keyring as NoKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())  # keyring's own "no backend available" backend
    try:
        with pytest.raises(CredentialsError) as err:
            save_keyring_profile("ok", KR_KEY, KR_SECRET, KR_TOKEN)
        for secret in (KR_KEY, KR_SECRET, KR_TOKEN):
            assert secret not in str(err.value)
        assert err.value.__cause__ is None and err.value.__suppress_context__
        assert "ok" not in credentials.keyring_profile_names()
    finally:
        keyring.set_keyring(previous)
