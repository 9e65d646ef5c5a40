"""AWS profiles in the app: a keyring profile made in the dialog lives in the real Secret
Service and nowhere on disk; Test connection and a Bedrock run go to the local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder, small_folder, wait_for_run
from bedrock_server import ACCESS_KEY, SECRET_KEY

pytestmark = [pytest.mark.gui, pytest.mark.keyring]

SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLEsessiontokenfortheappkeyringtest0000"


def _secret_service_items(profile: str) -> list[dict]:
    """Read the profile's entry straight from the Secret Service over D-Bus (not via keyring)."""
    import secretstorage

    from genre_desktop.core.credentials import KEYRING_SERVICE

    conn = secretstorage.dbus_init()
    try:
        items = secretstorage.search_items(conn, {"service": KEYRING_SERVICE,
                                                  "username": profile})
        return [json.loads(item.get_secret().decode()) for item in items]
    finally:
        conn.close()


def _files_containing(folder: Path, needle: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def _make_keyring_profile(qtbot, window, name: str, region: str = "us-east-1"):
    from genre_desktop.app.profiles_dialog import KeyringProfileDialog, ProfilesDialog

    dialog = ProfilesDialog(window.settings, window)
    qtbot.addWidget(dialog)
    editor = KeyringProfileDialog(dialog, region=region)
    qtbot.addWidget(editor)
    editor.name.setText(name)
    editor.access_key.setText(ACCESS_KEY)
    editor.secret.setText(SECRET_KEY)
    editor.session_token.setText(SESSION_TOKEN)
    editor._save()
    assert editor.result() == editor.DialogCode.Accepted
    assert editor.secret.text() == "" and editor.session_token.text() == ""
    dialog.reload_profiles(select=name)
    return dialog


def test_keyring_profile_lives_in_the_secret_service_only(qtbot, main_window, secret_service):
    from genre_desktop.core.resources import config_dir

    w = main_window
    dialog = _make_keyring_profile(qtbot, w, "studio-laptop", region="eu-west-1")
    assert "studio-laptop" in dialog.profile_names()
    assert dialog.profile_list.currentItem().text() == "studio-laptop (keyring)"
    assert dialog.edit_button.isEnabled() and dialog.delete_button.isEnabled()
    assert dialog.region.currentText() == "eu-west-1"

    stored = _secret_service_items("studio-laptop")
    assert stored == [{"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
                       "aws_session_token": SESSION_TOKEN}]

    dialog.backend.setCurrentIndex(dialog.backend.findData("bedrock"))
    dialog.accept()
    w.close()  # writes geometry etc. too
    from genre_desktop.core.settings import settings_path

    # The profile's name is remembered in the core's settings.toml (the CLI's too) ...
    assert "studio-laptop" in settings_path().read_text()
    assert "studio-laptop" not in Path(w.settings.path).read_text()  # the INI: window state
    settings_text = Path(w.settings.path).read_text() + settings_path().read_text()
    for secret in (SECRET_KEY, SESSION_TOKEN, ACCESS_KEY):
        assert secret not in settings_text  # ... never a key
        assert _files_containing(config_dir(), secret) == []

    # delete removes it from the Secret Service as well
    from genre_desktop.core.credentials import delete_keyring_profile

    delete_keyring_profile("studio-laptop")
    assert _secret_service_items("studio-laptop") == []


def test_test_connection_shows_each_setup_step(qtbot, main_window, secret_service,
                                                bedrock_server, artifacts_dir):
    from app_fixtures import save_screenshot

    dialog = _make_keyring_profile(qtbot, main_window, "local-server")
    dialog.backend.setCurrentIndex(dialog.backend.findData("bedrock"))
    dialog.endpoint.setText(bedrock_server.url)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not dialog.test_running, timeout=120000)
    steps = dialog.step_texts()
    names = [s.split(":", 1)[0].split(None, 1)[1] for s in steps]
    assert names[0] == "credentials" and len(steps) >= 6, steps
    assert all(s.startswith(("PASS", "SKIP")) for s in steps), steps
    assert "keyring" in steps[0].lower() or "****" in steps[0]
    assert bedrock_server.count("converse") >= 1  # one real inference went over HTTP
    calls = bedrock_server.converse_calls()
    assert all(c.signature_ok for c in calls)  # signed with the keys from the keyring
    dialog.endpoint.setText("http://127.0.0.1:PORT (the tests' local Bedrock server)")
    dialog.show()
    qtbot.waitExposed(dialog)
    save_screenshot(dialog, "profiles_dialog.png", artifacts_dir)


def test_bedrock_run_from_the_window(qtbot, main_window, secret_service, bedrock_server,
                                     manifest, tmp_path):
    from genre_desktop.app.settings import BackendChoice

    w = main_window
    _make_keyring_profile(qtbot, w, "bedrock-run")
    model = "anthropic.claude-haiku-4-5-20251001-v1:0"
    w.settings.save_backend_choice(BackendChoice(
        backend="bedrock", profile="bedrock-run", region="us-east-1", model=model,
        endpoint_url=bedrock_server.url))
    w.update_model_label()
    assert "bedrock-run" in w.model_label.text()
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("country", "metal", "pop"))
    open_folder(qtbot, w, folder, expected=3)
    w.classify_all()
    wait_for_run(qtbot, w, timeout=180000)
    results = w.results.results()
    assert len(results) == 3
    assert all(r.ok for r in results), [r.error for r in results]
    assert {r.prediction.backend for r in results} == {"bedrock"}
    # the bare Haiku 4.5 ID needs an inference profile: the run used the region's us. one
    assert {r.prediction.model for r in results} == {f"us.{model}"}
    assert all(r.prediction.cost_usd > 0 and r.prediction.input_tokens > 2000 for r in results)
    assert bedrock_server.count("converse") >= 3
    for call in bedrock_server.converse_calls():
        assert call.signature_ok
        assert "country.00000" not in call.prompt_text and str(folder) not in call.prompt_text

    tagged = w.results.tagged
    w.show_prompt_and_response(results[0].path)
    assert tagged.details.currentWidget() is tagged.prompt
    assert len(tagged.prompt.toPlainText()) > 2000
    assert "predicted_genre" in tagged.response.toPlainText()
    assert w.results.metrics_tab.values["total_cost_usd"].text().startswith("$0.0")
    assert w.results.metrics_tab.values["input_tokens"].text() != "0"


def test_the_model_picker_lists_what_bedrock_offers(qtbot, main_window, secret_service,
                                                    bedrock_server):
    from genre_desktop.core.backends.registry import HAIKU_45, MIXTRAL_8X7B

    bedrock_server.models[MIXTRAL_8X7B] = "LEGACY"
    dialog = _make_keyring_profile(qtbot, main_window, "picker")
    dialog.backend.setCurrentIndex(dialog.backend.findData("bedrock"))
    dialog.endpoint.setText(bedrock_server.url)
    registry_items = [dialog.model.itemData(i) for i in range(dialog.model.count())]
    assert HAIKU_45 in registry_items and f"us.{HAIKU_45}" not in registry_items
    dialog.list_models_button.click()
    qtbot.waitUntil(lambda: dialog.list_models_button.isEnabled(), timeout=60000)
    assert dialog.models_source.text().startswith("Bedrock in us-east-1"), \
        dialog.models_source.text()
    items = {dialog.model.itemData(i): dialog.model.itemText(i)
             for i in range(dialog.model.count())}
    assert "needs profile" in items[HAIKU_45] and "$1/$5 per 1M" in items[HAIKU_45]
    assert f"us.{HAIKU_45}" in items and "legacy" in items[MIXTRAL_8X7B]
    assert "anthropic.claude-3-haiku-20240307-v1:0" not in items  # end of life: not offered
    assert {c.operation for c in bedrock_server.calls} == {"list_models", "list_profiles"}
    assert all(c.signature_ok for c in bedrock_server.calls)  # the keyring profile's keys
    dialog.model.setCurrentIndex(dialog.model.findData(f"us.{HAIKU_45}"))
    assert dialog.choice().model == f"us.{HAIKU_45}"
    # offline: the registry, said in one sentence
    dialog.endpoint.setText("http://127.0.0.1:9")
    dialog.list_models_button.click()
    qtbot.waitUntil(lambda: dialog.list_models_button.isEnabled(), timeout=60000)
    assert dialog.models_source.text().startswith("Registry only")
    assert dialog.model.findData(HAIKU_45) >= 0


def test_test_connection_with_a_retired_model_says_so_once(qtbot, main_window, secret_service,
                                                           bedrock_server):
    dialog = _make_keyring_profile(qtbot, main_window, "retired")
    dialog.backend.setCurrentIndex(dialog.backend.findData("bedrock"))
    dialog.endpoint.setText(bedrock_server.url)
    dialog.model.setEditText("anthropic.claude-3-5-sonnet-20241022-v2:0")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not dialog.test_running, timeout=120000)
    steps = dialog.step_texts()
    failed = [s for s in steps if s.startswith("FAIL")]
    assert len(failed) == 1 and "model_access" in failed[0] and "2026-07-30" in failed[0], steps
    assert bedrock_server.count("converse") == 0


def test_offline_backend_needs_no_aws(qtbot, main_window):
    """With the offline model, region, model, endpoint and profile are disabled and the test
    button checks the offline path (features, model, one answer): no credentials, no Bedrock."""
    from genre_desktop.app.profiles_dialog import KeyringProfileDialog, ProfilesDialog

    dialog = ProfilesDialog(main_window.settings, main_window)
    qtbot.addWidget(dialog)
    dialog.backend.setCurrentIndex(dialog.backend.findData("local"))
    for widget in (dialog.region, dialog.model, dialog.endpoint, dialog.batch,
                   dialog.profile_list):
        assert not widget.isEnabled()
    assert dialog.test_button.text() == "Test the offline model"
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not dialog.test_running, timeout=240000)
    steps = dialog.step_texts()
    assert [s.split(":", 1)[0] for s in steps] == [
        "PASS  feature_extraction", "PASS  offline_model", "PASS  answer"], steps
    assert "no AWS account" in steps[-1]
    dialog.backend.setCurrentIndex(dialog.backend.findData("bedrock"))
    assert dialog.region.isEnabled() and dialog.test_button.text() == "Test connection"

    editor = KeyringProfileDialog(dialog)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitExposed(editor)
    title = editor.fontMetrics().horizontalAdvance(editor.windowTitle())
    assert editor.width() >= title * 2  # room for the title beside the window buttons


@pytest.mark.parametrize("case", ["retired", "denied"])
def test_a_set_up_problem_stops_the_app_run_once(qtbot, main_window, secret_service,
                                                 bedrock_server, manifest, tmp_path, monkeypatch,
                                                 case):
    from bedrock_server import access_denied
    from PySide6.QtWidgets import QMessageBox

    from genre_desktop.app.settings import BackendChoice

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda _parent, _title, text, *a, **k: shown.append(text)))
    w = main_window
    _make_keyring_profile(qtbot, w, f"stop-{case}")
    model = ("anthropic.claude-3-haiku-20240307-v1:0" if case == "retired"
             else "anthropic.claude-haiku-4-5-20251001-v1:0")
    if case == "denied":
        bedrock_server.queue(access_denied(), times=20)
    w.settings.save_backend_choice(BackendChoice(
        backend="bedrock", profile=f"stop-{case}", region="us-east-1", model=model,
        endpoint_url=bedrock_server.url))
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("country", "metal", "pop"))
    open_folder(qtbot, w, folder, expected=3)
    before = w.log_dock.count()
    w.classify_all()
    wait_for_run(qtbot, w, timeout=180000)
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert len(shown) == 1, shown  # once, not once per song
    words = "end of life" if case == "retired" else "denied"
    assert words in shown[0]
    if case == "retired":
        assert "2026-09-10" in shown[0]
    assert w.log_dock.count() - before == 1
    assert all(r.prediction is None for r in w.results.results())
    if case == "retired":
        assert bedrock_server.count("converse") == 0  # stopped at set-up
    else:  # the songs already in flight on other workers may each have sent one request
        assert 1 <= bedrock_server.count("converse") <= 3


@pytest.mark.parametrize("case", ["profile", "legacy"])
def test_a_run_shows_its_set_up_notice_once_not_as_an_error(qtbot, main_window, secret_service,
                                                            bedrock_server, manifest, tmp_path,
                                                            monkeypatch, case):
    """The notices the CLI prints (the inference profile a bare ID resolved to, a legacy
    model's end-of-life date) reach the window once: status bar and a notice row of the log."""
    from PySide6.QtWidgets import QMessageBox

    from genre_desktop.app.settings import BackendChoice
    from genre_desktop.core.backends.registry import HAIKU_45, NOVA_LITE

    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda _parent, _title, text, *a, **k: warned.append(text)))
    w = main_window
    _make_keyring_profile(qtbot, w, f"notice-{case}")
    if case == "legacy":
        offer = bedrock_server.catalog.offers[NOVA_LITE]
        offer.status, offer.eol_date = "LEGACY", "2027-03-01"
    model, words = ((HAIKU_45, f"Using inference profile us.{HAIKU_45}") if case == "profile"
                    else (NOVA_LITE, "legacy model and reaches its end of life on 2027-03-01"))
    w.settings.save_backend_choice(BackendChoice(
        backend="bedrock", profile=f"notice-{case}", region="us-east-1", model=model,
        endpoint_url=bedrock_server.url))
    status: list[str] = []
    w.statusBar().messageChanged.connect(status.append)
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("country", "metal", "pop"))
    open_folder(qtbot, w, folder, expected=3)
    errors_before = w.log_dock.count()
    w.classify_all()
    wait_for_run(qtbot, w, timeout=180000)
    assert sum(r.prediction is not None for r in w.results.results()) == 3
    shown = [n for n in w.log_dock.notices() if words in n]
    assert len(shown) == 1 and len(w.log_dock.notices()) == 1, w.log_dock.notices()
    assert sum(words in s for s in status) == 1, status  # once in the status bar
    assert w.log_dock.count() == errors_before and not warned  # a notice, not an error
    assert w.log_dock.isVisible()
    assert w.grab().save(str(tmp_path / f"notice_{case}.png"))
