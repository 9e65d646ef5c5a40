"""Results tabs: tagged songs with a details pane, metrics, and plots that follow the run.

Metrics and plots are computed in a helper process (plot_render.py), only while their tab is
on screen (and once at the end of a run), so a live run never stalls the window.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from genre_desktop.app.column_fit import ColumnFitter
from genre_desktop.app.plots_view import PlotsTab
from genre_desktop.app.results_table import (
    COL_ACTUAL,
    COL_ALT,
    COL_CONF,
    COL_COST,
    COL_FILE,
    COL_LAT,
    COL_MARK,
    COL_MODEL,
    COL_PRED,
    RESULT_ROLE,
    SORT_ROLE,
    TaggedSongsModel,
)
from genre_desktop.app.wording import plural
from genre_desktop.app.workers import run_task
from genre_desktop.core.results import SongResult, format_value

# scikit-learn holds the GIL in bursts; during a run the metrics follow every few seconds, and
# only while their tab is on screen (measured: 500 ms made the window stall 200-400 ms).
METRICS_INTERVAL_MS = 3000


def details_html(result: SongResult) -> str:
    """Reasoning, indicators, alternatives and scores of one song, as simple HTML."""
    esc = html.escape
    parts = [f"<h3>{esc(result.file)}</h3>"]
    if result.actual_genre:
        parts.append(f"<p>Folder genre: <b>{esc(result.actual_genre)}</b></p>")
    if result.note:
        parts.append(f"<p><i>{esc(result.note)}</i></p>")
    if result.error is not None:
        err = result.error
        parts.append(f"<p style='color:#b3261e'><b>Failed</b> at {esc(err.stage)} "
                     f"({esc(err.reason)}): {esc(err.message)}</p>")
        return "".join(parts)
    p = result.prediction
    assert p is not None
    verdict = {True: " ✓ correct", False: " ✗ wrong", None: ""}[result.is_correct]
    parts.append(f"<p>Predicted: <b>{esc(p.predicted_genre)}</b> at confidence "
                 f"{p.confidence:.2f}{verdict}</p>")
    parts.append(f"<p><b>Reasoning</b><br>{esc(p.reasoning)}</p>")
    if p.key_indicators:
        items = "".join(f"<li>{esc(str(k))}</li>" for k in p.key_indicators)
        parts.append(f"<p><b>Key indicators</b></p><ul>{items}</ul>")
    if p.alternative_genres:
        alts = ", ".join(f"{esc(g)} ({c:.2f})" for g, c in p.alternative_genres)
        parts.append(f"<p><b>Alternatives</b>: {alts}</p>")
    if p.tags:  # the tagger's multi-label view: styles, moods, instruments, eras
        tags = ", ".join(f"{esc(t)} ({q:.2f})" for t, q in p.tags)
        parts.append(f"<p><b>Tags</b>: {tags}</p>")
    if p.genre_scores:
        ranked = sorted(p.genre_scores.items(), key=lambda kv: -kv[1])
        rows = "".join(f"<tr><td>{esc(g)}</td><td align='right'>{s:.3f}</td></tr>"
                       for g, s in ranked)
        parts.append(f"<p><b>Genre scores</b></p><table>{rows}</table>")
    parts.append(f"<p>{esc(p.backend)} · {esc(p.model)} · {p.input_tokens} in / "
                 f"{p.output_tokens} out tokens · ${p.cost_usd:.5f} · {p.latency_s:.2f} s</p>")
    for member in p.members:
        parts.append(f"<p>Member {esc(member.backend)}: {esc(member.predicted_genre)} "
                     f"({member.confidence:.2f})</p>")
    return "".join(parts)


FILE_MIN_WIDTH = 120
# Shown while there is room, in this order; a narrow pane drops Cost $ first (the metrics tab
# has the total), then Latency, then Alternatives (in the details below).
FIT_ORDER = (COL_ALT, COL_LAT, COL_COST)


class TaggedSongsTab(QWidget):
    selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TaggedSongsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName("lowConfidenceThreshold")
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(0.5)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.followed = ""  # the browser's current song (see follow)
        self.summary = QLabel("No results yet")
        # Its text grows with the run: it must not widen the pane (the splitter jumped).
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setWordWrap(True)  # two lines in a narrow pane rather than a cut
        self.table = QTableView()
        self.table.setObjectName("taggedTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        for col, width in enumerate((22, 0, 62, 66, 44, 110, 130, 58, 54)):
            if width:
                header.resizeSection(col, width)
        self.table.setColumnHidden(COL_MODEL, True)  # the same for every row; in the details
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        # Keep the File column readable: hide the least needed columns in a narrow pane.
        self.columns = ColumnFitter(self.table, (COL_MARK, COL_ACTUAL, COL_PRED, COL_CONF),
                                    FIT_ORDER, FILE_MIN_WIDTH)

        self.answer = QTextBrowser()
        self.answer.setObjectName("detailsAnswer")
        self.prompt = QPlainTextEdit()
        self.prompt.setReadOnly(True)
        self.prompt.setObjectName("detailsPrompt")
        self.response = QPlainTextEdit()
        self.response.setReadOnly(True)
        self.response.setObjectName("detailsResponse")
        self.details = QTabWidget()
        self.details.addTab(self.answer, "Answer")
        self.details.addTab(self.prompt, "Prompt")
        self.details.addTab(self.response, "Raw response")

        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        # Short enough that the summary beside it is not cut in a 1024-pixel window.
        highlight = QLabel("Highlight below")
        highlight.setToolTip("Rows whose confidence is below this value are highlighted")
        highlight.setBuddy(self.threshold)
        self.threshold.setAccessibleName("Highlight confidence below")
        self.threshold.setToolTip(highlight.toolTip())
        top.addWidget(highlight)
        top.addWidget(self.threshold)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top)
        left_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setSizes([380, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

    def _threshold_changed(self, value: float) -> None:
        self.model.set_threshold(value)
        self._update_summary()

    def add_results(self, results: list[SongResult]) -> None:
        self.model.add_results(results)
        self._update_summary()
        # The song the user is on got its answer: show it (the pane stayed empty until a click).
        arrived = [r for r in results if r.path == self.followed]
        if arrived:
            self.show_result(arrived[-1])

    def clear_details(self) -> None:
        """Another folder: no answer of the last one stays on screen."""
        self.followed = ""
        for pane in (self.answer, self.prompt, self.response):
            pane.clear()

    def follow(self, path: str) -> None:
        """The browser's current song: its result in the details now, or when it arrives."""
        self.followed = path
        result = self.model.result_for(path)
        if result is not None:
            self.show_result(result)

    def fit_columns(self) -> None:
        self.columns.fit()

    def _update_summary(self) -> None:
        results = self.model.results()
        scored = [r for r in results if r.is_correct is not None]
        right = sum(1 for r in scored if r.is_correct)
        failed = sum(1 for r in results if r.prediction is None)
        self.summary.setText(
            f"{plural(len(results), 'song')} · {right}/{len(scored)} correct · {failed} failed · "
            f"{self.model.low_confidence_count()} below threshold")

    def _row_changed(self, current: Any, _previous: Any) -> None:
        if current.isValid():
            result: SongResult = self.proxy.data(current.siblingAtColumn(0), RESULT_ROLE)
            self.show_result(result)
            self.selected.emit(result.path)

    def show_result(self, result: SongResult) -> None:
        self.answer.setHtml(details_html(result))
        p = result.prediction
        no_prompt = "(the offline model uses no prompt)" if p and p.backend == "local" else ""
        self.prompt.setPlainText(p.prompt if p and p.prompt else no_prompt)
        raw = p.raw_response if p else (result.error.raw_text if result.error else "")
        self.response.setPlainText(raw or "(no raw response)")

    def select_path(self, path: str) -> bool:
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if self.proxy.data(index, RESULT_ROLE).path == path:
                self.table.selectRow(r)
                self.table.scrollTo(index)
                return True
        return False


# The per-genre and target tables' columns, whole ("> 0.8 on average", "Precision").
TABLES_MIN_WIDTH = 420


class MetricsTab(QWidget):
    SUMMARY = (
        ("accuracy", "Accuracy", "pct"), ("macro_f1", "Macro F1", ""),
        ("top2_accuracy", "Top-2 accuracy", "pct"), ("songs_scored", "Songs scored", ""),
        ("failed_songs", "Failed songs", ""), ("mean_confidence", "Mean confidence", ""),
        ("expected_calibration_error", "Calibration error (ECE)", ""),
        ("input_tokens", "Input tokens", ""), ("output_tokens", "Output tokens", ""),
        ("total_cost_usd", "Total cost", "usd"), ("cost_per_song_usd", "Cost per song", "usd"),
        ("latency_p50_s", "Latency p50", "s"), ("latency_p95_s", "Latency p95", "s"),
        ("songs_per_minute", "Songs per minute", "rate"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, label, _kind in self.SUMMARY:
            value = QLabel("—")
            value.setObjectName(f"metric_{key}")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[key] = value
            form.addRow(label, value)
        self.per_genre = QTableWidget(0, 5)
        self.per_genre.setObjectName("perGenreTable")
        self.per_genre.setHorizontalHeaderLabels(
            ["Genre", "Precision", "Recall", "F1", "Support"])
        self.per_genre.verticalHeader().setVisible(False)
        self.per_genre.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.targets = QTableWidget(0, 4)
        self.targets.setObjectName("targetsTable")
        self.targets.setHorizontalHeaderLabels(["Target", "Goal", "Measured", "Met"])
        self.targets.verticalHeader().setVisible(False)
        self.targets.setWordWrap(False)
        # Eight short rows, filled once per metrics update: sizing to contents is cheap here,
        # and no cell is cut ("> 7…", "Measurec"). Target takes the room left (a stretched
        # last section would be at least the header's default 100 px and scroll sideways).
        targets_header = self.targets.horizontalHeader()
        targets_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        targets_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        targets_header.setMinimumSectionSize(24)
        self.summary_box = QWidget()
        self.summary_box.setLayout(form)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.per_genre)
        right.addWidget(self.targets)
        self.box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self.box.addWidget(self.summary_box)
        self.box.addWidget(right, 1)
        self.metrics: dict[str, Any] = {}

    def resizeEvent(self, event: Any) -> None:
        # Too narrow for the tables beside the summary (a 1024-pixel window): put them under it,
        # full width, where every column is whole; they scroll down rather than sideways.
        wide = self.width() >= self.summary_box.sizeHint().width() + TABLES_MIN_WIDTH
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self.box.direction() != direction:
            self.box.setDirection(direction)
        super().resizeEvent(event)

    def set_metrics(self, m: dict[str, Any]) -> None:
        self.metrics = m
        for key, _label, kind in self.SUMMARY:
            value = m.get(key)
            if kind == "rate" and isinstance(value, float) and value >= 100:
                text = f"{value:,.0f}"  # 331,736 (warm cache), not 331735.933
            else:
                text = format_value(value, kind, missing="—")
            self.values[key].setText(text)
        per = m.get("per_genre") or {}
        self.per_genre.setRowCount(len(per))
        for row, (genre, v) in enumerate(per.items()):
            cells = (genre, f"{v['precision']:.2f}", f"{v['recall']:.2f}", f"{v['f1']:.2f}",
                     str(v["support"]))
            for col, text in enumerate(cells):
                self.per_genre.setItem(row, col, QTableWidgetItem(text))
        targets = m.get("targets") or []
        self.targets.setRowCount(len(targets))
        for row, t in enumerate(targets):
            met = {True: "yes", False: "no", None: "—"}[t["met"]]
            # The core's own wording (62.5%, 1.20 s): the same text as the exported report.
            shown = "—" if t["value"] is None else str(t.get("shown", t["value"]))
            for col, text in enumerate((t["name"], t["goal"], shown, met)):
                item = QTableWidgetItem(text)
                if col == 3 and t["met"] is not None:
                    item.setForeground(QColor("#1b7f3b" if t["met"] else "#b3261e"))
                self.targets.setItem(row, col, item)


class ResultsPanel(QTabWidget):
    """Tagged songs, Metrics, Plots; fed with result batches during a run."""

    metrics_updated = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tagged = TaggedSongsTab()
        self.metrics_tab = MetricsTab()
        self.plots = PlotsTab()
        self.addTab(self.tagged, "Tagged songs")
        self.addTab(self.metrics_tab, "Metrics")
        self.addTab(self.plots, "Plots")
        self.songs_asked: int | None = None
        self.elapsed_s: float | None = None
        self._computing = False
        self._dirty = False
        self._stale = False
        self._have_metrics = False
        self._generation = 0
        self.currentChanged.connect(self._tab_changed)
        self._metrics_timer = QTimer(self)
        self._metrics_timer.setSingleShot(True)
        self._metrics_timer.setInterval(METRICS_INTERVAL_MS)
        self._metrics_timer.timeout.connect(self._recompute)

    def add_results(self, results: list[SongResult]) -> None:
        if not results:
            return
        self.tagged.add_results(results)
        self.schedule_metrics()

    def clear(self) -> None:
        """Another folder: its results only (a metrics computation under way is dropped)."""
        self._generation += 1
        self._metrics_timer.stop()
        self._computing = self._dirty = self._stale = self._have_metrics = False
        self.songs_asked = self.elapsed_s = None
        self.tagged.model.clear()
        self.tagged.add_results([])
        self.tagged.clear_details()
        self.metrics_tab.set_metrics({})
        self.plots.clear()

    def results(self) -> list[SongResult]:
        return self.tagged.model.results()

    def _metrics_on_screen(self) -> bool:
        return self.currentWidget() in (self.metrics_tab, self.plots) and self.isVisible()

    def _tab_changed(self, _index: int) -> None:
        if self._stale and self._metrics_on_screen():
            self.schedule_metrics(now=True)

    def begin_run(self, songs_asked: int) -> None:
        """A run starts: the first result of it is shown at once, later ones throttled."""
        self.songs_asked = songs_asked
        self._have_metrics = False
        from genre_desktop.app.plot_render import RENDERER

        run_task(RENDERER.warm)

    def schedule_metrics(self, now: bool = False) -> None:
        """Recompute soon; `now` skips the throttle (end of a run, tab switch)."""
        self._stale = True
        if now:
            self._metrics_timer.stop()
            self._recompute(force=True)
        elif not self._have_metrics and self._metrics_on_screen() and not self._computing:
            self._recompute()
        elif not self._metrics_timer.isActive():
            self._metrics_timer.start()

    def _recompute(self, force: bool = False) -> None:
        if not (force or self._metrics_on_screen()):
            return  # stays stale: computed when a metrics tab is shown or the run ends
        if self._computing:
            self._dirty = True
            return
        from genre_desktop.app.plot_render import RENDERER

        results = self.results()
        asked, elapsed = self.songs_asked, self.elapsed_s
        self._computing = True
        self._dirty = False
        self._stale = False
        # compute_metrics runs in the helper process: scikit-learn would hold our GIL.
        generation = self._generation
        run_task(lambda: RENDERER.metrics(results, asked or len(results), elapsed),
                 lambda m: self._apply_metrics(m, results, generation), self._metrics_failed)

    def _apply_metrics(self, metrics: dict[str, Any], results: list[SongResult],
                       generation: int | None = None) -> None:
        if generation is not None and generation != self._generation:
            return  # computed for the folder shown before
        self._computing = False
        self._have_metrics = True
        self.metrics_tab.set_metrics(metrics)
        self.plots.update_plots(metrics, results)
        self.metrics_updated.emit(metrics)
        if self._dirty:
            self.schedule_metrics(now=True)

    def _metrics_failed(self, _text: str) -> None:
        self._computing = False

    def is_settled(self) -> bool:
        """No metrics computation pending (tests wait for this)."""
        return not (self._computing or self._dirty or self._metrics_timer.isActive())
