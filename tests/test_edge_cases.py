"""Edge cases found by exercising the command line as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

from genre_desktop.core.songs import Song
from genre_desktop.core.store import RunStore


def test_output_into_a_closed_pipe_ends_quietly():
    # `genre-desktop classify --list-runs | head -0`: the reader is gone before we write.
    RunStore.create([Song("/m/rock/a.wav", "rock")], settings={}).close()
    proc = subprocess.Popen([sys.executable, "-m", "genre_desktop", "classify", "--list-runs"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
