"""Result plots as plain matplotlib Figures (no pyplot, no GUI backend).

The report writer saves `make_figure(metrics, results)` with Agg; the app draws the same
`plot_*` functions on its Qt canvases, so both show exactly the same pictures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from genre_desktop.core.results import SongResult


def plot_confusion(ax: Axes, metrics: dict[str, Any]) -> None:
    labels = metrics["confusion_matrix"]["labels"]
    cm = np.asarray(metrics["confusion_matrix"]["matrix"], dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (counts, shaded by row share)")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")


def plot_per_genre_accuracy(ax: Axes, metrics: dict[str, Any]) -> None:
    acc = metrics.get("per_genre_accuracy") or {}
    genres = list(acc)
    values = [acc[g] for g in genres]
    ax.bar(range(len(genres)), values, color="tab:green")
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    overall = metrics.get("accuracy")
    if overall is not None:
        ax.axhline(overall, color="black", linestyle="--", linewidth=1,
                   label=f"overall {overall:.0%}")
        ax.legend(loc="lower right", fontsize=8)
    ax.axhline(0.7, color="tab:red", linestyle=":", linewidth=1)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy per genre (red: 70% target)")


def plot_confidence_histogram(ax: Axes, results: Sequence[SongResult]) -> None:
    right = [r.prediction.confidence for r in results if r.prediction and r.is_correct]
    wrong = [r.prediction.confidence for r in results
             if r.prediction and r.is_correct is False]
    bins = np.linspace(0, 1, 11)
    ax.hist([right, wrong], bins=bins, stacked=True, color=["tab:green", "tab:red"],
            label=["correct", "wrong"])
    ax.set_xlabel("confidence")
    ax.set_ylabel("songs")
    ax.set_title("Confidence of predictions")
    ax.legend(fontsize=8)


def plot_reliability(ax: Axes, metrics: dict[str, Any]) -> None:
    bins = [b for b in metrics.get("calibration_bins") or [] if b["count"]]
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    if bins:
        centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
        ax.bar(centers, [b["accuracy"] for b in bins], width=0.09, color="tab:blue",
               alpha=0.7, label="accuracy")
        ax.plot([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins],
                marker="o", color="tab:orange", label="observed")
    ece = metrics.get("expected_calibration_error")
    title = "Reliability" + (f" (ECE {ece:.3f})" if ece is not None else "")
    ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper left")


def make_figure(metrics: dict[str, Any], results: Sequence[SongResult]) -> Figure:
    """The four panels of `classification_results.png` on one Figure."""
    fig = Figure(figsize=(13, 10), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2)
    plot_confusion(axes[0, 0], metrics)
    plot_per_genre_accuracy(axes[0, 1], metrics)
    plot_confidence_histogram(axes[1, 0], results)
    plot_reliability(axes[1, 1], metrics)
    acc = metrics.get("accuracy")
    fig.suptitle(
        f"{metrics.get('songs_scored', 0)} songs scored"
        + (f", accuracy {acc:.1%}" if acc is not None else "")
        + f", {metrics.get('failed_songs', 0)} failed"
    )
    return fig
