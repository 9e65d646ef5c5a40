"""The window's batch-job check before a run: a Bedrock batch job with fewer records than the
model's minimum would be refused by Bedrock, so the app offers on demand instead (as the CLI
does with `--on-demand`), before any run or store is made."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from genre_desktop.app import core_calls
from genre_desktop.app.wording import plural


def batch_or_on_demand(parent: QWidget, choice: Any, count: int,
                       resume: str | None = None) -> Any:
    """The choice to run with: as it is, or without the batch job when it is too small and
    the user picks on demand; None when the user declines (nothing runs).

    A resumed run keeps its own stored settings (the core follows or submits its jobs)."""
    if resume is not None or choice.backend != "bedrock" or not choice.batch_s3:
        return choice
    minimum = core_calls.batch_minimum(choice.model)
    if count >= minimum:
        return choice
    box = QMessageBox(QMessageBox.Icon.Question, "Too few songs for a batch job",
                      f"Bedrock batch jobs need at least {minimum} records for "
                      f"{choice.model}; {plural(count, 'song')} chosen.\n\nClassify them on "
                      f"demand instead (full price, starts now)?",
                      QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("batchTooFewDialog")
    on_demand = box.addButton("Classify on &demand", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(on_demand)
    box.exec()
    if box.clickedButton() is not on_demand:
        status = getattr(parent, "statusBar", None)
        if status is not None:
            status().showMessage(f"Not classified: a batch job needs at least {minimum} songs.")
        return None
    return dataclasses.replace(choice, batch_s3="", batch_role_arn="")
