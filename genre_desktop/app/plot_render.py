"""Live metrics and the Plots tab's picture, computed in a helper process (Qt-free).

Drawing the four panels costs 1.2-1.6 s of mostly-Python matplotlib work on the shared
2-core test machine, and scikit-learn's metrics come in GIL-holding bursts too. On a worker
thread both still take the GIL from the window (measured: 140-400 ms timer gaps during a
run), so they run in one long-lived helper process at lower priority; the app's threads only
wait on futures. Exports still use core.reports in-process (once, at the user's request).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

import numpy as np

from genre_desktop.app.run_process import child_context
from genre_desktop.core.results import SongResult
from genre_desktop.core.types import Prediction

DPI = 90


def render_plots(metrics: dict[str, Any], results: list[SongResult], width_px: int,
                 height_px: int, dpi: int = DPI) -> tuple[np.ndarray, int]:
    """(RGBA pixels, number of axes) of the report's four panels at the given pixel size.

    No pyplot and no rcParams changes, so it is safe beside a report export.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from genre_desktop.core.plots import (
        plot_confidence_histogram,
        plot_confusion,
        plot_per_genre_accuracy,
        plot_reliability,
    )

    fig = Figure(figsize=(max(width_px, 200) / dpi, max(height_px, 200) / dpi), dpi=dpi,
                 layout="constrained")
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    plot_confusion(axes[0, 0], metrics)
    plot_per_genre_accuracy(axes[0, 1], metrics)
    plot_confidence_histogram(axes[1, 0], results)
    plot_reliability(axes[1, 1], metrics)
    # The report PNG is 13 inches wide; in half a window the same text has to shrink.
    for text in fig.findobj(Text):
        text.set_fontsize(min(float(text.get_fontsize()), 7.0))
    for ax in fig.axes:
        ax.title.set_fontsize(8)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy(), len(fig.axes)


def slim(results: list[SongResult]) -> list[SongResult]:
    """What metrics and plots read, without prompts and raw answers (16 kB each for an LLM)."""
    out = []
    for r in results:
        p = r.prediction
        small = None if p is None else Prediction(
            p.predicted_genre, p.confidence, "", [], list(p.alternative_genres), {},
            p.backend, p.model, p.input_tokens, p.output_tokens, p.cost_usd, p.latency_s,
            p.api_calls, p.retries)
        error = None if r.error is None else replace(r.error, raw_text="")
        out.append(SongResult(r.path, r.actual_genre, prediction=small, error=error,
                              seconds=r.seconds))
    return out


def _metrics(results: list[SongResult], songs_asked: int | None,
             elapsed_s: float | None) -> dict[str, Any]:
    from genre_desktop.core.metrics import compute_metrics

    return compute_metrics(results, songs_asked=songs_asked, elapsed_s=elapsed_s)


def _export(results: list[SongResult], out_dir: str, songs_asked: int | None,
            elapsed_s: float | None, root: str | None = None) -> dict[str, Any]:
    from genre_desktop.core.reports import write_reports

    return write_reports(results, out_dir, songs_asked=songs_asked, elapsed_s=elapsed_s,
                         run_info={"source": "app"}, root=root)


def _background() -> None:
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted: normal priority
            os.nice(10)
    import matplotlib.figure  # noqa: F401  (imported once, before the first picture is due)



class HelperClosed(RuntimeError):
    """The window is closing: no more pictures or metrics (the asking task just ends)."""

    quiet = True  # workers._Task prints no traceback for it


class ReportHelper:
    """One helper process, started on first use and restarted if it dies."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise HelperClosed("the report helper is shut down")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=child_context(),
                                                 initializer=_background)
            return self._pool

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return self._submit(fn, *args)
        except BrokenProcessPool:  # the helper died (OOM killer, ...): one fresh try
            with self._lock:
                self._pool = None
            return self._submit(fn, *args)

    def _submit(self, fn: Any, *args: Any) -> Any:
        try:
            return self._executor().submit(fn, *args).result()
        except (RuntimeError, CancelledError, BrokenProcessPool) as exc:
            # "cannot schedule new futures after (interpreter) shutdown", a future cancelled
            # or a helper ended by shutdown(): the window is closing, nobody waits for this.
            if self._closed or "shutdown" in str(exc):
                raise HelperClosed(str(exc) or type(exc).__name__) from None
            raise

    def render(self, metrics: dict[str, Any], results: list[SongResult], width_px: int,
               height_px: int) -> tuple[np.ndarray, int]:
        """Blocking: call it from a worker thread, never from the GUI thread."""
        return self._call(render_plots, metrics, slim(results), width_px, height_px)

    def metrics(self, results: list[SongResult], songs_asked: int | None,
                elapsed_s: float | None) -> dict[str, Any]:
        """core.metrics.compute_metrics in the helper; blocking, for a worker thread."""
        return self._call(_metrics, slim(results), songs_asked, elapsed_s)

    def export(self, results: list[SongResult], out_dir: str, songs_asked: int | None,
               elapsed_s: float | None, root: str | None = None) -> dict[str, Any]:
        """The bedrock_results/ file set, written by the helper (its PNG costs seconds);
        `root`: the folder the songs' `path` entries are relative to."""
        return self._call(_export, list(results), out_dir, songs_asked, elapsed_s, root)

    def warm(self) -> None:
        """Start the helper process now, so the first picture of a run is not late."""
        self._executor().submit(int).result()

    def shutdown(self) -> None:
        """End the helper process now (a picture it is drawing is not waited for)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(Exception):
                process.terminate()
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(2.0)

    def reopen(self) -> None:
        """Allow use again after shutdown() (tests build many windows in one process)."""
        with self._lock:
            self._closed = False


RENDERER = ReportHelper()
atexit.register(RENDERER.shutdown)
