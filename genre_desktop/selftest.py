"""`genre-desktop --self-test`: prove a build (frozen or not) has every part it needs.

Steps, each reported as PASS/FAIL with its time:
1. modules: the imports a frozen build tends to miss (lazy, entry-point or ctypes loaded).
2. extract: 3 clips through `features.extract_many` on a 2-process pool (cache bypassed).
3. classify: the clips through the run API (`core.runs.RunSession`) on the built-in offline
   model, reports written.
4. window: the main window opened on Qt's offscreen platform, shown, rendered and closed.

Opt-in steps, named in GENRE_DESKTOP_SELFTEST_EXTRAS (comma-separated), touch the user's
session, so they never run by default:
- keyring: store, read back and delete a throwaway secret through whatever backend `keyring`
  picks by itself (entry points, priorities), which must be the Secret Service on Linux.
- audio: play 0.5 s of a quiet 440 Hz tone on the default output device.

Clips come from GENRE_DATA (the GTZAN sample layout: one clip from each of 3 genre folders)
when it is set, else 3 short synthetic clips written as WAV, FLAC and AU. Any failed step,
uncaught exception (including ones Qt swallows in slots) or Qt critical message gives exit 1.
User settings are not touched: cache, config and data folders default to a temporary one.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLIPS = 3
_caught: list[str] = []  # tracebacks that reached sys.excepthook while a step ran


def _say(text: str) -> None:
    print(f"self-test: {text}", flush=True)


def _run_step(name: str, step: Callable[[], str]) -> bool:
    start = time.perf_counter()
    try:
        detail = step()
    except BaseException as exc:  # a missing module or a crash: report it, keep going
        if isinstance(exc, KeyboardInterrupt):
            raise
        _say(f"FAIL {name} ({time.perf_counter() - start:.1f} s)")
        traceback.print_exc()
        return False
    if _caught:
        _say(f"FAIL {name}: {len(_caught)} uncaught exception(s)")
        for tb in _caught:
            print(tb, file=sys.stderr)
        _caught.clear()
        return False
    _say(f"PASS {name} ({time.perf_counter() - start:.1f} s){': ' + detail if detail else ''}")
    return True


# -- step 1 -----------------------------------------------------------------------------------
_MODULES = (
    "numpy", "scipy.signal", "sklearn.linear_model", "sklearn.metrics", "pandas",
    "librosa", "numba", "soundfile", "sounddevice", "matplotlib.backends.backend_qtagg",
    "keyring", "keyring.backends.SecretService", "boto3", "botocore", "platformdirs", "tqdm",
    "PySide6.QtWidgets",
)


def check_modules() -> str:
    for name in _MODULES:
        importlib.import_module(name)
    import soundfile

    formats = soundfile.available_formats()
    missing_formats = {"WAV", "FLAC", "OGG", "AU"} - set(formats)
    if missing_formats:
        raise RuntimeError(f"libsndfile lacks formats: {sorted(missing_formats)}")
    from importlib.metadata import entry_points

    backends = {ep.name for ep in entry_points(group="keyring.backends")}
    if not backends:
        raise RuntimeError("keyring finds no backends through its entry points")
    # botocore's service models must be bundled for the Bedrock client to exist at all
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="AKIDSELFTEST", aws_secret_access_key="selftest", region_name="us-east-1"
    )
    session.client("bedrock-runtime")
    session.client("bedrock")
    from genre_desktop.core.reference import load_reference

    table = load_reference()
    return f"{len(_MODULES)} modules, reference table {len(table.labels)} rows"


# -- step 2 -----------------------------------------------------------------------------------
def _sample_clips(folder: Path) -> list[Path]:
    """3 clips of different genres from GENRE_DATA, or 3 synthetic ones in `folder`."""
    data = os.environ.get("GENRE_DATA")
    if data and (Path(data) / "genres").is_dir():
        picks = []
        for genre_dir in sorted((Path(data) / "genres").iterdir())[:CLIPS]:
            clips = sorted(genre_dir.glob("*.wav"))
            if clips:
                picks.append(clips[0])
        if len(picks) == CLIPS:
            return picks
    return _synthetic_clips(folder)


def _synthetic_clips(folder: Path, seconds: float = 8.0, sr: int = 22050) -> list[Path]:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * sr)) / sr
    beat = (np.sin(2 * np.pi * 2.0 * t) > 0.95).astype(float)  # 120 BPM pulses
    tonal = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    tonal *= 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t) ** 2
    drums = beat * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 55.0 * t)
    noise = np.convolve(rng.standard_normal(t.size), np.ones(8) / 8, mode="same")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, signal, fmt in (("tonal.wav", tonal, "WAV"), ("drums.flac", drums, "FLAC"),
                              ("noise.au", noise, "AU")):
        path = folder / name
        sf.write(path, (0.4 * signal / np.max(np.abs(signal))).astype("float32"), sr,
                 format=fmt, subtype="PCM_16")
        out.append(path)
    return out


def extract_clips(paths: list[Path], songs: list[Any]) -> str:
    from genre_desktop.core._feature_batch import extract_many
    from genre_desktop.core.types import FEATURE_COLUMNS, SongFeatures

    pool_sizes: list[int] = []

    def progress(done: int, total: int) -> None:
        pool_sizes.append(len(mp.active_children()))

    errors = []
    for path, result in extract_many(paths, workers=2, progress=progress, use_cache=False):
        if not isinstance(result, SongFeatures):
            errors.append(f"{Path(path).name}: {result.reason}: {result.message}")
            continue
        missing = [c for c in FEATURE_COLUMNS if c not in result.features]
        bad = [c for c, v in result.features.items() if v != v or abs(v) == float("inf")]
        if missing or bad:
            errors.append(f"{Path(path).name}: missing {missing}, not finite {bad}")
        songs.append(result)
    if errors:
        raise RuntimeError("extraction failed: " + "; ".join(errors))
    if len(songs) != len(paths):
        raise RuntimeError(f"extract_many returned {len(songs)} of {len(paths)} results")
    if not pool_sizes or max(pool_sizes) < 1:
        raise RuntimeError("extract_many did not run a worker pool")
    return f"{len(songs)} clips, {max(pool_sizes)} worker processes"


# -- step 3 -----------------------------------------------------------------------------------
def classify_songs(songs: list[Any], out: Path) -> str:
    """The clips through the one run API (RunSession, as the CLI and the app run them) on the
    built-in offline model, with the reports written."""
    import json

    from genre_desktop.core.runs import RunRequest, RunSession
    from genre_desktop.core.settings import Settings
    from genre_desktop.core.types import GENRES

    paths = [song.path for song in songs]
    folder = Path(os.path.commonpath(paths))
    request = RunRequest(folder=folder if folder.is_dir() else folder.parent, paths=paths,
                         settings=Settings(workers=1, extract_workers=1, out_dir=str(out)),
                         source="self-test")
    with RunSession.start(request) as session:
        summary = session.run(report=True)
        results = session.results()
    if summary.done != len(songs) or summary.cancelled:
        raise RuntimeError(f"the run finished {summary.done} of {len(songs)} songs")
    answers = []
    for result in results:
        p = result.prediction
        if p is None:
            raise RuntimeError(f"{result.file}: {result.error.reason}: {result.error.message}")
        if p.predicted_genre not in GENRES or not 0.0 <= p.confidence <= 1.0:
            raise RuntimeError(f"nonsense prediction {p.predicted_genre!r} {p.confidence!r}")
        answers.append(f"{result.file}->{p.predicted_genre} {p.confidence:.2f}")
    tagged = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    if len(tagged) != len(songs):
        raise RuntimeError(f"tagged_songs.json holds {len(tagged)} of {len(songs)} songs")
    return ", ".join(answers)


# -- step 4 -----------------------------------------------------------------------------------
def open_main_window(config: Path) -> str:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import matplotlib

    matplotlib.use("QtAgg")
    from PySide6.QtCore import QLibraryInfo, QTimer, QtMsgType, qInstallMessageHandler

    from genre_desktop.app.main import create_application
    from genre_desktop.app.main_window import MainWindow
    from genre_desktop.app.settings import AppSettings

    platforms = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    plugins = {p.name for p in platforms.glob("*.so")} if platforms.is_dir() else set()
    needed = {"libqoffscreen.so", "libqxcb.so"} if sys.platform.startswith("linux") else set()
    if needed - plugins:
        raise RuntimeError(f"Qt platform plugins missing from {platforms}: {needed - plugins}")

    critical: list[str] = []

    def on_message(kind: QtMsgType, _context: Any, text: str) -> None:
        if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            critical.append(text)
        print(f"qt: {text}", file=sys.stderr)

    qInstallMessageHandler(on_message)
    app = create_application([sys.argv[0]])
    window = MainWindow(settings=AppSettings(config / "self-test.ini"))
    window.show()
    QTimer.singleShot(500, window.close)
    QTimer.singleShot(1500, app.quit)  # in case close() is vetoed
    app.exec()
    size = window.size()
    shot = window.grab()
    if shot.isNull() or window.isVisible():
        raise RuntimeError("the main window did not render or did not close")
    if critical:
        raise RuntimeError(f"Qt reported: {critical}")
    return f"{size.width()}x{size.height()} on {app.platformName()}"


# -- opt-in steps ------------------------------------------------------------------------------
def keyring_round_trip() -> str:
    import uuid

    import keyring

    backend = keyring.get_keyring()
    names = [type(b).__module__ for b in getattr(backend, "backends", [backend])]
    if sys.platform.startswith("linux") and not any(n.endswith("SecretService") for n in names):
        raise RuntimeError(f"keyring chose {type(backend).__name__} {names}, not Secret Service")
    service, user = "genre-desktop-self-test", uuid.uuid4().hex
    secret = uuid.uuid4().hex
    keyring.set_password(service, user, secret)
    try:
        if keyring.get_password(service, user) != secret:
            raise RuntimeError("the secret read back differs from the one stored")
    finally:
        keyring.delete_password(service, user)
    return f"{type(backend).__name__} ({', '.join(names)})"


def play_tone() -> str:
    import numpy as np
    import sounddevice as sd

    device = sd.query_devices(kind="output")
    rate = int(device["default_samplerate"]) or 48000
    t = np.arange(int(rate * 0.5)) / rate
    sd.play((0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate)
    sd.wait()
    return f"0.5 s on {device['name']!r} at {rate} Hz"


EXTRAS: dict[str, Callable[[], str]] = {"keyring": keyring_round_trip, "audio": play_tone}


# -- driver -----------------------------------------------------------------------------------
def _record_excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    _caught.append("".join(traceback.format_exception(kind, value, tb)))


def run_self_test() -> int:
    start = time.perf_counter()
    frozen = bool(getattr(sys, "frozen", False))
    _say(f"{'frozen' if frozen else 'source'} build, python {sys.version.split()[0]}")
    previous_hook = sys.excepthook
    sys.excepthook = _record_excepthook
    with tempfile.TemporaryDirectory(prefix="genre-desktop-self-test-") as tmp:
        root = Path(tmp)
        for name in ("CACHE", "CONFIG", "DATA"):
            os.environ.setdefault(f"GENRE_DESKTOP_{name}_DIR", str(root / name.lower()))
        songs: list[Any] = []
        clips: list[Path] = []

        def prepare() -> str:
            clips.extend(_sample_clips(root / "clips"))
            return ", ".join(p.name for p in clips)

        results = [_run_step("modules", check_modules), _run_step("clips", prepare)]
        if clips:
            results.append(_run_step("extract", lambda: extract_clips(clips, songs)))
        if songs:
            results.append(_run_step("classify", lambda: classify_songs(songs, root / "out")))
        extras = [e.strip() for e in os.environ.get("GENRE_DESKTOP_SELFTEST_EXTRAS", "").split(",")
                  if e.strip()]
        for extra in extras:
            step = EXTRAS.get(extra)
            if step is None:
                _say(f"FAIL {extra}: unknown extra step (known: {', '.join(EXTRAS)})")
                results.append(False)
            else:
                results.append(_run_step(extra, step))
        results.append(_run_step("window", lambda: open_main_window(root / "config")))
    sys.excepthook = previous_hook
    ok = all(results) and len(results) == 5 + len(extras)
    _say(f"{'OK' if ok else 'FAILED'} in {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1
