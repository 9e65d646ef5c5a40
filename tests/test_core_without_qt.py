"""The core must import with PySide6 absent: every module under genre_desktop/core, walked."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

# Runs in a fresh interpreter: a meta-path finder makes PySide6/shiboken6 unimportable before
# anything else loads, then every core module (found by walking the package) is imported.
_CHILD = r"""
import importlib, importlib.abc, json, pkgutil, sys, traceback

BLOCKED = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2")

class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, BlockQt())
try:
    import PySide6  # noqa: F401
    blocker_works = False
except ImportError:
    blocker_works = True

import genre_desktop.core as core

failures, imported = {}, []
def on_error(name):
    failures[name] = traceback.format_exc()

for info in pkgutil.walk_packages(core.__path__, "genre_desktop.core.", onerror=on_error):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except BaseException:
        failures[info.name] = traceback.format_exc()

qt_loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({"blocker_works": blocker_works, "imported": imported,
                  "failures": failures, "qt_loaded": qt_loaded}))
"""


def test_every_core_module_imports_without_pyside6() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["blocker_works"], "the PySide6 blocker did not block"
    assert not report["failures"], "\n\n".join(
        f"{name}:\n{tb}" for name, tb in report["failures"].items()
    )
    assert report["qt_loaded"] == []
    # the walk really happened: the modules the project started with are among those imported
    for name in ("genre_desktop.core.types", "genre_desktop.core.resources",
                 "genre_desktop.core.reference"):
        assert name in report["imported"]
