"""Tagger speed: the numpy musicnn (both models) beside musicnn + TensorFlow, on one core.

Per 30 s clip (the 14 full shared clips; --clips N for fewer), for MSD_musicnn + MTT_musicnn
together, from the 22,050 Hz samples to both models' averaged tags and embeddings:
- ours: core/tagger in this process, one BLAS thread;
- TensorFlow: musicnn's own extractor in the throwaway venv of benchmarks/musicnn_tf.py
  (--tfvenv, default /work/tfvenv; skipped when it is not there), one intra/inter-op thread.
Both run in the same invocation, one after the other, so the ratio is fair on a busy machine;
the goal is <= 0.5 s per clip. Wall time and CPU time are both printed: on a shared machine
the CPU time (process_time) is closer to what one free core would take. The memory peak is
this process's maximum resident set while tagging (ru_maxrss), and its growth over the
resident set before the first clip.

Run: .venv/bin/python benchmarks/bench_tagger.py [--clips N] [--data DIR] [--tfvenv DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("GENRE_DATA", "../shared/gtzan"))
    parser.add_argument("--clips", type=int, default=14)
    parser.add_argument("--tfvenv", default="/work/tfvenv")
    args = parser.parse_args(argv)

    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    from genre_desktop.core import tagger
    from genre_desktop.core.audio import load_audio

    if not tagger.available():
        print("the musicnn weights are not installed (make venv)")
        return 1
    root = Path(args.data)
    with open(root / "MANIFEST.tsv", newline="") as fh:
        full = [root / r["file"] for r in csv.DictReader(fh, delimiter="\t")
                if r["clip"] == "full"][: args.clips]
    audio = [load_audio(p, sr=22050) for p in full]
    blas = [(i["internal_api"], i.get("architecture")) for i in threadpool_info()]
    print(f"{len(full)} full 30 s clips; BLAS {blas}")

    with threadpool_limits(1):
        tagger.tag_signal(audio[0].y[:22050 * 4], 22050)  # weights, filter banks: not timed
        base = _rss_mb()
        times, cpu = [], []
        for a in audio:
            t0, c0 = time.perf_counter(), time.process_time()
            tagger.tag_signal(a.y, a.sr)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours, ours_cpu = float(np.mean(times)), float(np.mean(cpu))
    print(f"ours (numpy, 1 thread): {ours:.3f} s wall, {ours_cpu:.3f} s CPU per clip (CPU min "
          f"{min(cpu):.3f}, max {max(cpu):.3f}); goal <= 0.5 s (CPU): "
          f"{'MET' if ours_cpu <= 0.5 else 'NOT MET'}")
    print(f"memory: peak RSS {peak:.0f} MB (before the first clip {base:.0f} MB, "
          f"+{peak - base:.0f} MB while tagging)")

    py = Path(args.tfvenv) / "bin" / "python"
    if not py.exists():
        print(f"TensorFlow side skipped: no {py} (see benchmarks/musicnn_tf.py)")
        return 0
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "OMP_NUM_THREADS": "1",
           "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    script = Path(__file__).with_name("musicnn_tf.py")
    out = subprocess.run([str(py), str(script), "time", *map(str, full)], env=env,
                         capture_output=True, text=True, check=False)
    got = dict(ln.split() for ln in out.stdout.splitlines() if ln.startswith(("seconds", "cpu")))
    if "cpu_seconds_per_clip" not in got:
        print("TensorFlow run failed:", out.stderr[-800:])
        return 1
    theirs, theirs_cpu = float(got["seconds_per_clip"]), float(got["cpu_seconds_per_clip"])
    print(f"musicnn + TensorFlow (1 thread): {theirs:.3f} s wall, {theirs_cpu:.3f} s CPU per "
          f"clip (graph build and weight loading excluded)")
    print(f"ratio ours / TensorFlow: CPU {ours_cpu / theirs_cpu:.2f}, wall {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
