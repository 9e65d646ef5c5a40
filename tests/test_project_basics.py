"""The project installs and describes itself: console script, version, lint config, set-up files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO

import genre_desktop


def _console_script() -> str:
    script = Path(sys.executable).with_name("genre-desktop")
    return str(script) if script.exists() else (shutil.which("genre-desktop") or "")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)


def test_console_script_help_lists_subcommands() -> None:
    script = _console_script()
    assert script, "the genre-desktop console script is not installed (pip install -e '.[dev]')"
    out = _run(script, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: genre-desktop" in out.stdout
    assert "--self-test" in out.stdout


def test_version_matches_package_and_metadata() -> None:
    out = _run(sys.executable, "-m", "genre_desktop", "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"genre-desktop {genre_desktop.__version__}"
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["version"] == genre_desktop.__version__


def test_pyproject_declares_script_python_and_ruff() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["genre-desktop"] == "genre_desktop.cli:entry"
    assert meta["project"]["requires-python"] == ">=3.11"
    ruff = meta["tool"]["ruff"]
    assert ruff["line-length"] == 100 and ruff["lint"]["select"]
    markers = meta["tool"]["pytest"]["ini_options"]["markers"]
    for marker in ("gui", "audio", "keyring", "slow"):
        assert any(m.startswith(f"{marker}:") for m in markers)


def test_system_deps_script_is_valid_and_documented() -> None:
    script = REPO / "build" / "system_deps.sh"
    assert _run("bash", "-n", str(script)).returncode == 0
    listed = _run("bash", str(script), "--list")
    assert listed.returncode == 0, listed.stderr
    packages = listed.stdout.split()
    for pkg in ("xvfb", "dbus", "gnome-keyring", "pulseaudio", "libportaudio2",
                "libasound2-plugins", "libxcb-cursor0"):
        assert pkg in packages
    readme = (REPO / "README.md").read_text()
    undocumented = [p for p in packages if f"`{p}`" not in readme]
    assert not undocumented, f"README does not say what these packages are for: {undocumented}"


def test_readme_first_screen_shows_make_run_and_make_test() -> None:
    first_screen = "\n".join((REPO / "README.md").read_text().splitlines()[:30])
    assert "make run" in first_screen and "make test" in first_screen


def test_makefile_targets_and_ci_entry_point() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in ("run:", "test:", "dist:", "system-deps:"):
        assert f"\n{target}" in makefile
    ci = (REPO / ".ci" / "run").read_text()
    assert os.access(REPO / ".ci" / "run", os.X_OK)
    assert "make test" in ci and "CI" in ci


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    assert ruff.exists(), "ruff is not installed in the venv (pip install -e '.[dev]')"
    mine = [REPO / "tests" / "harness", REPO / "tests" / "conftest.py", Path(__file__)]
    out = _run(str(ruff), "check", *map(str, mine))
    assert out.returncode == 0, out.stdout + out.stderr
