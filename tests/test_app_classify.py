"""Classification from the window with the offline model: results in all three tabs, export,
cancel keeps results, and the window stays responsive during a 20-song batch."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from app_fixtures import *  # noqa: F403
from app_fixtures import open_folder, save_screenshot, small_folder, wait_for_run
from PySide6.QtCore import QTimer

pytestmark = [pytest.mark.gui, pytest.mark.slow]

REPORT_FILES = {"tagged_songs.json", "accuracy_metrics.json", "confusion_matrix.csv",
                "classification_report.txt", "classification_results.png", "errors.log"}
GENRES5 = ("blues", "classical", "jazz", "metal", "reggae")


@pytest.mark.audio  # a real output device, so the screenshots show the usual player
def test_classify_five_songs_offline_then_export(qtbot, main_window, manifest, tmp_path,
                                                 artifacts_dir, pulse_null_sink):
    from genre_desktop.app.results_table import COL_MARK
    from genre_desktop.core.metrics import compute_metrics

    w = main_window
    w.player.refresh_devices(pulse_null_sink.name)
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=GENRES5)
    open_folder(qtbot, w, folder, expected=5)
    seen: list[tuple[int, int, bool, str]] = []
    w.run_controller.events.connect(lambda batch: seen.append(
        (batch[-1].done, batch[-1].total, w.cancel_button.isEnabled(),
         w.progress_label.text())))
    w.browser.table.selectAll()
    w.classify_selection()
    assert w.run_controller.is_running()
    assert w.progress.isVisible() and w.cancel_button.isVisible()
    wait_for_run(qtbot, w, timeout=240000)
    assert w.last_summary is not None and w.last_summary.done == 5
    # once every song is in, Cancel is off (the run only winds down); the line names the phase
    assert all(not enabled for done, total, enabled, _ in seen if done == total), seen
    assert any(label.startswith(("Loading", "Compiling", "Extracting", "Classifying",
                                 "Training", "Starting")) for *_, label in seen), seen
    assert "Finished: 5/5 songs, 0 errors" in w.progress_label.text()

    # Browser: every row has its prediction and status
    rows = w.browser.model.rows()
    assert {r.status for r in rows} == {"done"}
    assert all(r.prediction in GENRES5 or r.prediction for r in rows)
    assert all(0.0 <= (r.confidence or -1) <= 1.0 for r in rows)

    # Tab 1: tagged songs with marks, details pane
    tagged = w.results.tagged
    assert tagged.model.rowCount() == 5
    marks = {tagged.model.index(r, COL_MARK).data() for r in range(5)}
    assert marks <= {"✓", "✗"}
    results = w.results.results()
    correct = sum(1 for r in results if r.is_correct)
    assert f"{correct}/5 correct" in tagged.summary.text()
    tagged.table.selectRow(0)
    assert "Reasoning" in tagged.answer.toHtml()
    assert "offline model uses no prompt" in tagged.prompt.toPlainText()

    # Tab 2: metrics equal the core's computation
    expected = compute_metrics(results, songs_asked=5)
    assert w.results.metrics_tab.values["accuracy"].text() == f"{expected['accuracy']:.1%}"
    assert w.results.metrics_tab.values["songs_scored"].text() == "5"
    assert w.results.metrics_tab.per_genre.rowCount() == len(expected["per_genre"])

    # Tab 3: the plots draw when the tab is shown
    w.results.setCurrentWidget(w.results.plots)
    qtbot.waitUntil(lambda: w.results.plots.draw_count >= 1, timeout=30000)
    assert w.results.plots.axes_drawn == 4
    image = w.results.plots.image
    assert abs(image.width() - w.results.plots.width()) <= 2

    # Low-confidence threshold: raising it above every answer highlights all rows
    tagged.threshold.setValue(1.0)
    assert tagged.model.low_confidence_count() == 5
    tagged.threshold.setValue(0.0)
    assert tagged.model.low_confidence_count() == 0
    tagged.threshold.setValue(0.5)

    w.results.setCurrentWidget(tagged)
    tagged.table.selectRow(0)
    qtbot.wait(200)
    save_screenshot(w, "main_window_results.png", artifacts_dir)
    w.results.setCurrentWidget(w.results.plots)
    qtbot.waitUntil(w.results.plots.is_idle, timeout=30000)
    qtbot.wait(100)
    save_screenshot(w, "main_window_plots.png", artifacts_dir)
    w.results.setCurrentWidget(w.results.metrics_tab)
    qtbot.wait(100)
    save_screenshot(w, "main_window_metrics.png", artifacts_dir)

    # Export reports and open the results folder
    out = tmp_path / "export"
    out.mkdir()
    w.export_to(str(out))
    qtbot.waitUntil(lambda: bool(w.last_export), timeout=30000)
    folder_out = out / "bedrock_results"
    assert {p.name for p in folder_out.iterdir()} >= REPORT_FILES
    tagged_json = json.loads((folder_out / "tagged_songs.json").read_text())
    assert sorted(t["file"] for t in tagged_json) == sorted(r.name for r in rows)
    for entry in tagged_json:
        assert {"file", "actual_genre", "predicted_genre", "confidence", "is_correct",
                "reasoning", "key_indicators", "alternative_genres"} <= set(entry)
    metrics = json.loads((folder_out / "accuracy_metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(correct / 5)
    assert w.results_folder() == folder_out


def test_cancel_keeps_finished_results(qtbot, main_window, manifest, tmp_path):
    w = main_window
    folder = small_folder(tmp_path, manifest, per_genre=2)
    open_folder(qtbot, w, folder, expected=20)
    # A first run trains (and caches) the offline model for this song set; otherwise the
    # training holds every classification back and all 20 answers arrive in one batch.
    w.classify_all()
    wait_for_run(qtbot, w, timeout=300000)
    w.use_feature_cache = False  # real extraction: the answers come one by one
    at_cancel: dict[str, object] = {}

    def cancel_after_first_result(batch: list) -> None:
        # In the GUI thread, as the first result is shown: the run is still going then.
        last = batch[-1]
        if at_cancel or not any(e.latest is not None for e in batch) or last.done >= last.total:
            return
        w.cancel_action.trigger()  # what Esc does
        at_cancel.update(label=w.progress_label.text(), button=w.cancel_button.isEnabled(),
                         action=w.cancel_action.isEnabled(), done=last.done)

    w.run_controller.events.connect(cancel_after_first_result)
    w.classify_paths(w.browser.visible_paths(), force=True)
    wait_for_run(qtbot, w, timeout=300000)
    # said at once, before the run has stopped; nothing left to press
    assert at_cancel, "every song finished in the first batch: nothing left to cancel"
    assert str(at_cancel["label"]).startswith("Cancelling…"), at_cancel
    assert at_cancel["button"] is False and at_cancel["action"] is False
    summary = w.last_summary
    done_now = summary.done - summary.skipped
    assert summary.cancelled and 1 <= done_now < 20, summary
    statuses = [r.status for r in w.browser.model.rows()]
    assert statuses.count("cancelled") == 20 - done_now  # the songs it never reached
    assert len(w.results.results()) == 20  # every answer kept (the first run's included)
    assert "Cancelled" in w.progress_label.text()


def test_window_stays_responsive_during_a_batch(qtbot, main_window, manifest, tmp_path):
    """A GUI-thread timer ticks every 10 ms during a 20-song offline run; it never stalls."""
    w = main_window
    folder = small_folder(tmp_path, manifest, per_genre=2)
    open_folder(qtbot, w, folder, expected=20)
    # One song first, with the Plots tab open: the helper process that draws the plots is
    # started, so the measured run can show plots while it goes. (Training the offline model
    # for the measured song set still happens inside the measured run.)
    w.results.setCurrentWidget(w.results.plots)
    w.browser.select_path(w.browser.visible_paths()[0])
    w.classify_selection()
    wait_for_run(qtbot, w, timeout=240000)
    assert w.last_summary is not None, w.log_dock.as_text()

    w.use_feature_cache = False  # real extraction work in the measured run
    w.results.setCurrentWidget(w.results.plots)  # the plots follow the run on screen
    draws_before = w.results.plots.draw_count
    labels: list[str] = []
    live_draws: list[int] = []

    def on_batch(_batch: object) -> None:
        labels.append(w.progress_label.text())
        live_draws.append(w.results.plots.draw_count - draws_before)

    w.run_controller.events.connect(on_batch)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    w.classify_paths(w.browser.visible_paths(), force=True)
    wait_for_run(qtbot, w, timeout=300000)
    timer.stop()
    assert w.last_summary is not None, w.log_dock.as_text()
    assert w.last_summary.done == 20
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    longest = max(gaps)
    print(f"{len(ticks)} ticks, longest gap {longest * 1000:.1f} ms, "
          f"run {w.last_summary.elapsed_s:.1f} s")
    # A shared 2-core machine can deschedule the whole process now and then, so a lone long
    # tick is the machine, not us; work on the GUI thread (per-song extraction, training or
    # drawing there: 100-500 ms bursts, measured) stalls it song after song.
    stalls = [g for g in gaps if g >= 0.100]
    assert len(stalls) <= 3, f"the GUI thread stalled {len(stalls)} times: {stalls}"
    assert longest < 1.0, f"the GUI thread stalled for {longest * 1000:.0f} ms"
    # the progress line followed the run: live accuracy, cost and ETA
    assert any("20/20" in t for t in labels), labels
    assert all("accuracy" in t and "$" in t and "ETA" in t for t in labels), labels
    print(f"plots rendered during the run: {max(live_draws)}")
    assert max(live_draws) >= 1  # drawn while songs were still arriving


def test_a_corrupt_file_is_one_logged_error_and_the_batch_goes_on(qtbot, main_window, manifest,
                                                                   tmp_path):
    from genre_desktop.app.results_table import COL_MARK

    w = main_window
    folder = small_folder(tmp_path, manifest, per_genre=1, genres=("blues",))
    (folder / "blues" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    open_folder(qtbot, w, folder, expected=2)
    w.classify_all()
    wait_for_run(qtbot, w, timeout=240000)
    rows = {r.name: r for r in w.browser.model.rows()}
    assert rows["broken.wav"].status == "error" and rows["broken.wav"].error
    assert rows["blues.00000.wav"].status == "done"
    marks = sorted(w.results.tagged.model.index(r, COL_MARK).data() for r in range(2))
    assert "!" in marks and marks != ["!", "!"]
    assert w.log_dock.count() == 1 and w.log_dock.isVisible()
    text = w.log_dock.as_text()
    assert "broken.wav" in text and rows["broken.wav"].error.split(":")[0] in text
    w.log_dock.table.selectAll()
    w.log_dock.copy_to_clipboard()
    from PySide6.QtGui import QGuiApplication

    assert "broken.wav" in QGuiApplication.clipboard().text()


@pytest.mark.audio
def test_a_second_folder_starts_afresh(qtbot, main_window, manifest, tmp_path, pulse_null_sink):
    """Open a folder, classify, open another, classify: the tabs and the export hold the second
    folder's songs only, and the player lets go of the first folder's song."""
    w = main_window
    w.player.refresh_devices(pulse_null_sink.name)
    first = small_folder(tmp_path, manifest, per_genre=1, genres=("blues", "jazz"), name="one")
    second = small_folder(tmp_path, manifest, per_genre=1, genres=("classical", "metal",
                                                                  "reggae"), name="two")
    open_folder(qtbot, w, first, expected=2)
    w.classify_all()
    wait_for_run(qtbot, w, timeout=240000)
    assert w.results.tagged.model.rowCount() == 2
    song = w.browser.visible_paths()[0]
    w.browser.select_path(song)
    w.toggle_play()
    qtbot.waitUntil(w.player.engine.is_playing, timeout=15000)

    w.browser.genre_list.setCurrentRow(1)  # "blues": a genre the next folder does not have
    assert len(w.browser.visible_paths()) == 1
    open_folder(qtbot, w, second, expected=3)
    assert len(w.browser.visible_paths()) == 3  # the list is not left filtered on "blues"
    assert not w.player.engine.is_playing() and w.player.current is None
    assert w.player.title.text() == "No song loaded"
    assert w.results.tagged.model.rowCount() == 0
    assert w.results.plots.image is None and not w.last_export
    w.classify_all()
    wait_for_run(qtbot, w, timeout=240000)
    paths = {r.path for r in w.results.results()}
    assert len(paths) == 3 and all(p.startswith(str(second)) for p in paths), paths
    assert w.results.tagged.model.rowCount() == 3
    assert w.results.metrics_tab.values["songs_scored"].text() == "3"
    assert "/3 correct" in w.results.tagged.summary.text()

    out = tmp_path / "export"
    out.mkdir()
    w.export_to(str(out))
    qtbot.waitUntil(lambda: bool(w.last_export), timeout=30000)
    rows = json.loads((out / "bedrock_results" / "tagged_songs.json").read_text())
    assert sorted(r["actual_genre"] for r in rows) == ["classical", "metal", "reggae"]
    assert len(rows) == 3
