"""Model and AWS profile settings: backend, profile (AWS files or keyring), region, model,
and "Test connection" running the setup check step by step.

Keyring profiles are made here: their access key, secret and session token go straight to
`core.credentials.save_keyring_profile` (the system keyring) and are never kept in a widget
longer than the edit dialog, nor written to the settings file.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.app.settings import AppSettings, BackendChoice
from genre_desktop.app.workers import run_streaming_task

REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "eu-west-3", "ap-northeast-1",
           "ap-southeast-1", "ap-southeast-2", "ap-south-1", "ca-central-1", "sa-east-1")
BACKENDS = (("local", "Offline model (no AWS account)"), ("bedrock", "AWS Bedrock LLM"),
            ("ensemble", "Ensemble: offline model + LLM"))
CHAIN = "(standard AWS chain)"


class KeyringProfileDialog(QDialog):
    """Add or edit a profile whose keys live only in the system keyring."""

    def __init__(self, parent: QWidget | None = None, name: str = "", region: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit keyring profile" if name else "Add keyring profile")
        # Window managers cut a title wider than the dialog ("Add keyring pro…").
        self.setMinimumWidth(max(440, self.fontMetrics().horizontalAdvance(
            self.windowTitle()) * 2 + 120))
        self.name = QLineEdit(name)
        self.name.setObjectName("profileName")
        self.name.setReadOnly(bool(name))
        self.access_key = QLineEdit()
        self.access_key.setObjectName("accessKeyId")
        self.secret = QLineEdit()
        self.secret.setObjectName("secretAccessKey")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.session_token = QLineEdit()
        self.session_token.setObjectName("sessionToken")
        self.session_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.session_token.setPlaceholderText("optional, for temporary credentials")
        self.region = QComboBox()
        self.region.setEditable(True)
        self.region.addItems(REGIONS)
        self.region.setCurrentText(region or "us-east-1")
        form = QFormLayout()
        form.addRow("Profile name", self.name)
        form.addRow("Access key ID", self.access_key)
        form.addRow("Secret access key", self.secret)
        form.addRow("Session token", self.session_token)
        form.addRow("Region", self.region)
        note = QLabel("The keys are stored in the system keyring only, never in a file.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _save(self) -> None:
        from genre_desktop.core.credentials import CredentialsError, save_keyring_profile

        try:
            save_keyring_profile(self.name.text(), self.access_key.text(), self.secret.text(),
                                 self.session_token.text() or None,
                                 region=self.region.currentText().strip() or None)
        except CredentialsError as exc:
            QMessageBox.warning(self, "Profile not saved", str(exc))
            return
        finally:
            self.secret.clear()
            self.session_token.clear()
        self.accept()


class ProfilesDialog(QDialog):
    """Choose the backend, AWS profile, region and model; manage keyring profiles."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model and AWS profile")
        self.setObjectName("profilesDialog")
        self.resize(760, 520)
        self.settings = settings
        choice = settings.backend_choice()

        self.profile_list = QListWidget()
        self.profile_list.setObjectName("profileList")
        add = QPushButton("Add...")
        add.clicked.connect(self.add_profile)
        self.edit_button = QPushButton("Edit...")
        self.edit_button.clicked.connect(self.edit_profile)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self.delete_profile)
        self.profile_list.currentItemChanged.connect(self._profile_selected)
        buttons = QHBoxLayout()
        for b in (add, self.edit_button, self.delete_button):
            buttons.addWidget(b)
        profiles_box = QGroupBox("AWS profiles")
        pl = QVBoxLayout(profiles_box)
        pl.addWidget(self.profile_list)
        pl.addLayout(buttons)

        self.backend = QComboBox()
        self.backend.setObjectName("backendCombo")
        for key, label in BACKENDS:
            self.backend.addItem(label, key)
        self.backend.setCurrentIndex(max(0, self.backend.findData(choice.backend)))
        self.region = QComboBox()
        self.region.setObjectName("regionCombo")
        self.region.setEditable(True)
        self.region.addItems(REGIONS)
        self.region.setCurrentText(choice.region)
        self.model = QComboBox()
        self.model.setObjectName("modelCombo")
        self.model.setEditable(True)
        self.model.setToolTip("A model from the registry, or type any model ID or inference "
                              "profile")
        # Its longest item ("Claude Haiku 4.5 [needs profile], $1/$5 per 1M — anthropic....")
        # made the dialog 1,280 px wide, past a 1024-pixel screen: the list shows whole items.
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(36)
        self._fill_models(choice.model)
        self.endpoint = QLineEdit(choice.endpoint_url)
        self.endpoint.setObjectName("endpointUrl")
        self.endpoint.setPlaceholderText("optional: a Bedrock-compatible endpoint URL")
        # Batch job (half price, takes hours): where the records go and the role Bedrock uses.
        self.batch = QLineEdit(choice.batch_s3)
        self.batch.setObjectName("batchS3")
        self.batch.setPlaceholderText("s3://bucket/prefix for a batch job; empty: on demand")
        self.batch_role = QLineEdit(choice.batch_role_arn)
        self.batch_role.setObjectName("batchRoleArn")
        self.batch_role.setPlaceholderText("arn:aws:iam::ACCOUNT:role/NAME")
        self.chosen_profile = QLabel()
        self._profile_name = choice.profile
        self._listed_once = False  # a second click lists again (no cache)
        form = QFormLayout()
        form.addRow("Backend", self.backend)
        form.addRow("Profile", self.chosen_profile)
        form.addRow("Region", self.region)
        self.list_models_button = QPushButton("List models")
        self.list_models_button.setObjectName("listModels")
        self.list_models_button.setToolTip("Ask Bedrock what this profile and region can call "
                                           "(cached for a few hours; offline: the registry)")
        self.list_models_button.clicked.connect(self.list_models)
        self.models_source = QLabel("Models from the registry.")
        self.models_source.setObjectName("modelsSource")
        self.models_source.setWordWrap(True)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.list_models_button)
        form.addRow("Model", model_row)
        form.addRow("", self.models_source)
        form.addRow("Endpoint", self.endpoint)
        form.addRow("Batch job (half price, takes hours)", self.batch)
        form.addRow("Batch service role", self.batch_role)

        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("testConnection")
        self.test_button.clicked.connect(self.test_connection)
        self.steps = QListWidget()
        self.steps.setObjectName("setupSteps")
        self.steps.setWordWrap(True)
        choice_box = QGroupBox("Classification")
        cl = QVBoxLayout(choice_box)
        cl.addLayout(form)
        cl.addWidget(self.test_button)
        cl.addWidget(self.steps, 1)

        top = QHBoxLayout()
        top.addWidget(profiles_box, 2)
        top.addWidget(choice_box, 3)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(box)
        self.reload_profiles()
        self.test_running = False
        self.backend.currentIndexChanged.connect(self._backend_changed)
        self._backend_changed()
        for widget, name in ((self.backend, "Backend"), (self.region, "Region"),
                             (self.model, "Model"), (self.endpoint, "Endpoint URL"),
                             (self.profile_list, "AWS profiles"),
                             (self.test_button, "Test connection")):
            widget.setAccessibleName(name)

    def uses_aws(self) -> bool:
        return self.backend.currentData() != "local"

    def _backend_changed(self, *_args: Any) -> None:
        """The offline model needs no AWS: its region, model, endpoint and profile are moot."""
        aws = self.uses_aws()
        for widget in (self.region, self.model, self.endpoint, self.batch, self.batch_role,
                       self.profile_list, self.chosen_profile, self.list_models_button):
            widget.setEnabled(aws)
        self.test_button.setText("Test connection" if aws else "Test the offline model")
        self.test_button.setToolTip(
            "Credentials, Bedrock, model access, features, prompt and one inference" if aws
            else "Features of a test signal and one answer from the offline model (no AWS)")

    # -- models and profiles ----------------------------------------------------------------
    def _fill_models(self, current: str, rows: list[Any] | None = None) -> None:
        """The picker's items: the registry's current models, or what Bedrock listed."""
        if rows is None:
            from genre_desktop.core.backends.discovery import registry_rows
            from genre_desktop.core.backends.registry import ModelRegistry

            try:
                registry = ModelRegistry.load()
            except (OSError, ValueError):  # a broken models.toml: the shipped registry
                registry = ModelRegistry()
            rows = [r for r in registry_rows(registry) if r.lifecycle != "EOL"]
        self.model.clear()
        for row in rows:
            marks = f" [{row.marks}]" if row.marks else ""
            price = (f", ${row.input_per_1m:g}/${row.output_per_1m:g} per 1M"
                     if row.price_known else "")
            self.model.addItem(f"{row.label}{marks}{price} — {row.model_id}", row.model_id)
        view = self.model.view()
        view.setMinimumWidth(view.sizeHintForColumn(0) + 2 * view.frameWidth() + 16)
        at = self.model.findData(current)
        if at >= 0:
            self.model.setCurrentIndex(at)
        else:
            self.model.setEditText(current)

    def list_models(self) -> None:
        """Discovery on a pool thread (ListFoundationModels + ListInferenceProfiles)."""
        from genre_desktop.app.workers import run_task
        from genre_desktop.core.backends.discovery import list_models

        choice = self.choice()
        self.list_models_button.setEnabled(False)
        self.models_source.setText("Asking Bedrock which models this account can call...")
        refresh = self._listed_once
        self._listed_once = True

        def fetch() -> Any:
            return list_models(profile=choice.profile or None, region=choice.region,
                               endpoint_url=choice.endpoint_url or None, refresh=refresh)

        run_task(fetch, self._models_listed, self._models_failed)

    def _models_listed(self, result: Any) -> None:
        rows, source = result
        self._fill_models(self.model_id(), [r for r in rows if r.lifecycle != "EOL"])
        self.models_source.setText(source)
        self.list_models_button.setEnabled(True)

    def _models_failed(self, text: str) -> None:
        self.models_source.setText(f"Models could not be listed: {text}")
        self.list_models_button.setEnabled(True)

    def model_id(self) -> str:
        text = self.model.currentText().strip()
        data = self.model.currentData()
        # An edited combo keeps the last item's data: trust data only if its label is shown.
        if data and self.model.itemText(self.model.currentIndex()) == text:
            return str(data)
        return text.rsplit(" — ", 1)[-1].strip()

    def reload_profiles(self, select: str | None = None) -> None:
        from genre_desktop.core.credentials import list_profiles

        want = select if select is not None else self._profile_name
        self.profile_list.clear()
        chain = QListWidgetItem(CHAIN)
        chain.setData(Qt.ItemDataRole.UserRole, ("", "chain", None))
        self.profile_list.addItem(chain)
        self.profile_list.setCurrentItem(chain)
        for info in list_profiles():
            item = QListWidgetItem(info.label)
            item.setData(Qt.ItemDataRole.UserRole, (info.name, info.source, info.region))
            self.profile_list.addItem(item)
            if info.name == want:
                self.profile_list.setCurrentItem(item)

    def _selected(self) -> tuple[str, str, str | None]:
        item = self.profile_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else ("", "chain", None)

    def _profile_selected(self, *_args: Any) -> None:
        name, source, region = self._selected()
        self._profile_name = name
        self.chosen_profile.setText(name or CHAIN)
        editable = source == "keyring"
        self.edit_button.setEnabled(editable)
        self.delete_button.setEnabled(editable)
        if region:
            self.region.setCurrentText(region)

    def profile_names(self) -> list[str]:
        return [self.profile_list.item(i).data(Qt.ItemDataRole.UserRole)[0]
                for i in range(self.profile_list.count())]

    def add_profile(self) -> None:
        dialog = KeyringProfileDialog(self, region=self.region.currentText())
        if dialog.exec():
            self.reload_profiles(select=dialog.name.text().strip())

    def edit_profile(self) -> None:
        name, source, region = self._selected()
        if source != "keyring":
            return
        dialog = KeyringProfileDialog(self, name=name, region=region or "")
        if dialog.exec():
            self.reload_profiles(select=name)

    def delete_profile(self) -> None:
        from genre_desktop.core.credentials import CredentialsError, delete_keyring_profile

        name, source, _region = self._selected()
        if source != "keyring":
            return
        answer = QMessageBox.question(self, "Delete profile",
                                      f"Delete profile {name} and its keys from the keyring?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            delete_keyring_profile(name)
        except CredentialsError as exc:
            QMessageBox.warning(self, "Profile not deleted", str(exc))
        self.reload_profiles(select="")

    # -- result -----------------------------------------------------------------------------
    def choice(self) -> BackendChoice:
        return BackendChoice(
            backend=str(self.backend.currentData()), profile=self._profile_name,
            region=self.region.currentText().strip() or "us-east-1", model=self.model_id(),
            endpoint_url=self.endpoint.text().strip(), batch_s3=self.batch.text().strip(),
            batch_role_arn=self.batch_role.text().strip(),
        )

    def accept(self) -> None:
        self.settings.save_backend_choice(self.choice())
        self.settings.sync()
        super().accept()

    # -- setup check ------------------------------------------------------------------------
    def test_connection(self) -> None:
        from genre_desktop.app.core_calls import run_setup_check
        from genre_desktop.app.offline_check import run_offline_check

        choice = self.choice()
        self.steps.clear()
        self.steps.addItem("Running the setup check...")
        self.test_button.setEnabled(False)
        self.test_running = True
        check = run_setup_check if self.uses_aws() else run_offline_check
        run_streaming_task(lambda emit: check(choice, emit), self._add_step,
                           self._check_done, self._check_failed)

    def _add_step(self, step: tuple[str, str, str]) -> None:
        if self.steps.count() == 1 and self.steps.item(0).text().startswith("Running"):
            self.steps.clear()
        name, status, detail = step
        item = QListWidgetItem(f"{status}  {name}: {detail}")
        colour = {"PASS": "#1b7f3b", "FAIL": "#b3261e"}.get(status, "#6b6b6b")
        item.setForeground(QColor(colour))
        self.steps.addItem(item)

    def _check_done(self, steps: list[tuple[str, str, str]]) -> None:
        if self.steps.count() != len(steps):  # a step that arrived late: show the full list
            self.steps.clear()
            for step in steps:
                self._add_step(step)
        self.test_button.setEnabled(True)
        self.test_running = False

    def _check_failed(self, text: str) -> None:
        self.steps.clear()
        self._add_step(("setup check", "FAIL", text))
        self.test_button.setEnabled(True)
        self.test_running = False

    def step_texts(self) -> list[str]:
        return [self.steps.item(i).text() for i in range(self.steps.count())]
