"""Run-store faults (issue 11): one writer per run; a full disk."""

from __future__ import annotations

import os
import shutil

import pytest
from batch_helpers import shared_feature_cache  # noqa: F401

from genre_desktop.cli import main
from genre_desktop.core.resources import data_dir
from genre_desktop.core.store import RunInUse, RunStore


def _songs(root, gtzan_dir, n=2):
    folder = root / "songs" / "blues"
    folder.mkdir(parents=True)
    for i in range(n):
        shutil.copy(gtzan_dir / "genres" / "blues" / f"blues.{i:05d}.wav", folder)
    return folder.parent


@pytest.mark.usefixtures("shared_feature_cache")
def test_a_second_writer_of_a_run_is_refused_naming_the_holder(gtzan_dir, tmp_path, capsys):
    songs = _songs(tmp_path, gtzan_dir)
    assert main(["classify", str(songs), "--out", str(tmp_path / "out"), "--no-progress",
                 "--extract-workers", "1", "--samples-per-genre", "1"]) == 0
    (db,) = (data_dir() / "runs").glob("*.sqlite")
    capsys.readouterr()
    holder = RunStore.open(db, writer=True)  # as a `--resume` in progress holds it
    try:
        with pytest.raises(RunInUse):
            RunStore.open(db, writer=True)
        assert main(["classify", "--resume", db.stem, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"genre-desktop classify: Run {db.stem} is in use by another process "
                       f"(pid {os.getpid()}); wait for it to end or stop it first.")
        with RunStore.open(db) as reader:  # reading (list-runs, reports) is still allowed
            assert reader.count() == 1
    finally:
        holder.close()
    assert main(["classify", "--resume", db.stem, "--no-progress"]) == 0  # released on close
