"""Broken configuration is one sentence naming the file and line, never a traceback (#11)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from batch_helpers import prediction, result

from genre_desktop.cli import main
from genre_desktop.core.reference import default_table_path
from genre_desktop.core.reports import write_reports
from genre_desktop.core.settings import settings_path


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_settings_file_that_is_not_utf8(tmp_path, capsys):
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'backend = "local"\n# caf\xe9 du commerce\n')
    assert main(["classify", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(path) in line and "line 2 is not UTF-8" in line


def test_reports_are_strict_json(tmp_path):
    bad = prediction("jazz", float("nan"), cost=float("inf"))
    folder = write_reports([result("/m/jazz/a.wav", "jazz", bad)], tmp_path).get(
        "tagged_songs.json").parent
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    for name in ("tagged_songs.json", "accuracy_metrics.json"):
        json.loads((folder / name).read_text(), parse_constant=refuse)
    (tagged,) = json.loads((folder / "tagged_songs.json").read_text())
    assert tagged["confidence"] is None and tagged["cost_usd"] is None


def _table(tmp_path, frame: pd.DataFrame) -> str:
    path = tmp_path / "reference.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("case", ["one_genre", "three_rows", "a_word", "infinity"])
def test_a_reference_that_cannot_train_is_refused_at_set_up(tmp_path, capsys, case):
    full = pd.read_csv(default_table_path())
    frame = {
        "one_genre": full[full.label == "jazz"],
        "three_rows": pd.concat([full[full.label == "jazz"], full[full.label == "rock"].head(3)]),
        "a_word": full.head(300).astype({"tempo": object}),
        "infinity": full.head(300).copy(),
    }[case]
    if case == "a_word":
        frame.loc[frame.index[7], "tempo"] = "fast"
    if case == "infinity":
        frame.loc[frame.index[7], "rms_var"] = float("inf")
    songs = tmp_path / "songs"
    songs.mkdir()
    (songs / "a.wav").write_bytes(b"RIFF")  # never read: the run must not start
    rc = main(["classify", str(songs), "--reference", _table(tmp_path, frame), "--no-progress"])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2
    assert "reference.csv" in line and "Traceback" not in line
    expected = {"one_genre": "has 1 genre(s)", "three_rows": "only 3 row(s) of 'rock'",
                "a_word": "'fast' in column tempo on line 9",
                "infinity": "in column rms_var on line 9"}[case]
    assert expected in line, line


def test_a_non_finite_price_names_the_file_and_line(tmp_path, bedrock_server, capsys):
    from genre_desktop.core.resources import config_dir

    (tmp_path / "songs").mkdir()
    (tmp_path / "songs" / "a.wav").write_bytes(b"RIFF")  # never read: the run must not start
    models = config_dir() / "models.toml"
    models.parent.mkdir(parents=True, exist_ok=True)
    models.write_text('# my prices\n["anthropic.claude-3-haiku-20240307-v1:0"]\n'
                      'output_per_1k = 0.00125\ninput_per_1k = nan\n')
    rc = main(["classify", str(tmp_path / "songs"), "--backend", "bedrock",
               "--model", "anthropic.claude-3-haiku-20240307-v1:0"])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2
    assert f"{models}, line 4: " in line and "input_per_1k must be a finite number" in line
