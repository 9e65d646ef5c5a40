"""Ctrl+C on a CLI Bedrock run: seconds from the signal to the process's exit (issue 11).

A real `genre-desktop classify` (boto3 over HTTP, a cold feature cache, a live extraction pool)
runs against the local wire-compatible server scripted to hang (accept, never answer) or to
throttle every call (a 429 storm) after answering three songs (finished songs the stop must
keep). Once requests hang or throttle, SIGINT (or SIGTERM) is sent once; the bench prints the
time to exit, the exit status, the requests the server saw after the signal and the songs
kept. Goal: under 2 s whatever the endpoint does.

    .venv/bin/python benchmarks/bench_stop.py [--songs 20] [--repeat 1] [--signal INT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the local Bedrock server lives with the tests


def make_songs(root: Path, count: int) -> Path:
    data = Path(os.environ.get("GENRE_DATA", REPO.parent / "shared" / "gtzan"))
    clips = sorted((data / "genres").glob("*/*.wav"))
    if not clips:
        sys.exit(f"No GTZAN clips under {data}/genres (set GENRE_DATA).")
    for clip in clips[:count]:
        dest = root / "songs" / clip.parent.name / clip.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, dest)
    return root / "songs"


ANSWERED = 3  # calls answered before the endpoint hangs or throttles


def stored(data: Path) -> int:
    dbs = list((data / "runs").glob("*.sqlite"))
    if not dbs:
        return 0
    con = sqlite3.connect(dbs[0])
    try:
        return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    finally:
        con.close()


def one(case: str, songs: Path, root: Path, sig: int) -> dict:
    from bedrock_server import (
        Reply,
        sensible_answer,
        start_bedrock_server,
        throttle,
        throwaway_aws_env,
    )

    server = start_bedrock_server()
    server.queue(sensible_answer, times=ANSWERED)  # finished songs the stop must keep
    if case == "hang":
        server.default = lambda call: Reply(action="hang")
    else:
        server.queue(throttle(), times=1_000_000)
    work = Path(tempfile.mkdtemp(dir=root))
    env = {**os.environ, **{f"GENRE_DESKTOP_{n}_DIR": str(work / n.lower())
                            for n in ("CACHE", "CONFIG", "DATA")}}
    for key, value in throwaway_aws_env(work, server.url).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "genre_desktop", "classify", str(songs), "--backend",
             "bedrock", "--workers", "4", "--extract-workers", "2", "--no-progress",
             "--requests-per-minute", "6000", "--out", str(work / "out")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 300
        data = work / "data"
        while time.monotonic() < deadline and proc.poll() is None and (
                server.count() < ANSWERED + 4 or stored(data) < ANSWERED):
            time.sleep(0.02)
        if proc.poll() is not None:
            sys.exit(f"the run ended before the signal: {proc.communicate()}")
        calls = server.count()
        t0 = time.perf_counter()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=600)
        seconds = time.perf_counter() - t0
        return {"case": case, "seconds": seconds, "rc": proc.returncode,
                "after": server.count() - calls, "kept": stored(data),
                "tail": (out + err).strip().splitlines()[-1:]}
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--songs", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--signal", default="INT", choices=("INT", "TERM"))
    args = ap.parse_args()
    sig = getattr(signal, f"SIG{args.signal}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        songs = make_songs(root, args.songs)
        for case in ("hang", "429"):
            for _ in range(args.repeat):
                r = one(case, songs, root, sig)
                print(f"{r['case']:>5}: SIG{args.signal} -> exit {r['seconds']:.2f} s, "
                      f"rc {r['rc']}, requests after the signal {r['after']}, "
                      f"songs kept {r['kept']}  ({' '.join(r['tail'])[:80]})", flush=True)


if __name__ == "__main__":
    main()
