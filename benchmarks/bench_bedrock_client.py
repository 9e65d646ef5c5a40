"""The Bedrock client against the local wire-compatible server (tests/bedrock_server.py).

Reports, all measured side by side in one run:
1. client overhead per song (prompt build, Converse round trip with SigV4 + parsing) with an
   instant server;
2. worker scaling with a slow server: wall time for N songs with 1, 4 and 8 workers sharing
   one backend, as a ratio of the ideal (N * delay / workers);
3. a throttle storm (a share of requests answered 429 at random): songs lost, retries, and
   slowdown against the same run without throttling;
4. cost per song for each built-in model from the real prompt's token estimate.

Run: .venv/bin/python benchmarks/bench_bedrock_client.py [--songs N] [--delay S]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bedrock_server as bs

from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig
from genre_desktop.core.backends.registry import HAIKU_45, ModelRegistry
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import FEATURE_COLUMNS, Prediction, SongFeatures


def songs(n: int) -> list[tuple[SongFeatures, frozenset[str]]]:
    frame = load_reference().frame
    rows = frame.iloc[[int(i * len(frame) / n) for i in range(n)]]
    return [(SongFeatures(path="", features={c: float(r[c]) for c in FEATURE_COLUMNS},
                          duration_s=30.0, analysed_s=30.0), frozenset({str(r["filename"])}))
            for _, r in rows.iterrows()]


def backend(**kw) -> BedrockBackend:
    base = dict(model_id=HAIKU_45, backoff_base_s=0.05, backoff_max_s=0.5, max_retries=10,
                requests_per_minute=None, tokens_per_minute=None, max_pool_connections=16)
    base.update(kw)
    return BedrockBackend(BedrockConfig(**base), registry=ModelRegistry())


def run(b: BedrockBackend, items, workers: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        out = list(pool.map(lambda it: b.classify(it[0], exclude_refs=it[1]), items))
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=24)
    parser.add_argument("--delay", type=float, default=0.5, help="server seconds per call")
    args = parser.parse_args(argv)

    import os

    server = bs.start_bedrock_server()
    for key, value in bs.throwaway_aws_env(Path(tempfile.mkdtemp()), server.url).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    items = songs(args.songs)

    # 1. overhead per song with an instant server
    from genre_desktop.core.prompt import build_prompt, estimate_tokens

    b = backend()
    b.classify(*items[0][:1], exclude_refs=items[0][1])  # warm up: client, table, imports
    t_prompt, t_call = [], []
    for feats, excl in items:
        t0 = time.perf_counter()
        p = build_prompt(feats.features, exclude_refs=excl)
        t1 = time.perf_counter()
        b.converse(b.build_request(p.system, p.user))
        t_call.append(time.perf_counter() - t1)
        t_prompt.append(t1 - t0)
    print(f"1. per song, instant server: prompt build {statistics.median(t_prompt) * 1000:.1f} ms"
          f", Converse round trip (sign, HTTP, parse) {statistics.median(t_call) * 1000:.1f} ms"
          " (medians)")

    # 2. worker scaling with a slow server
    server.delay_s = args.delay
    print(f"2. {args.songs} songs, server {args.delay:.2f} s per call:")
    for workers in (1, 4, 8):
        wall, out = run(backend(), items, workers)
        ideal = args.songs * args.delay / workers
        ok = sum(isinstance(o, Prediction) for o in out)
        print(f"   {workers} worker(s): {wall:6.2f} s, {ok}/{len(out)} ok, "
              f"wall/ideal = {wall / ideal:.2f}")

    # 3. throttle storm: 30% of requests answered 429 at random
    server.delay_s = 0.05
    base_wall, _ = run(backend(), items, 8)
    rng = random.Random(1)
    lock = threading.Lock()

    def stormy(call):
        with lock:
            throttled = rng.random() < 0.3
        return bs.throttle()(call) if throttled else bs.sensible_answer(call)

    server.default = stormy
    for mode in ("adaptive", "standard"):
        rng.seed(1)
        b = backend(retry_mode=mode)
        before = server.count()
        wall, out = run(b, items, 8)
        lost = sum(not isinstance(o, Prediction) for o in out)
        print(f"3. 30% random 429s, 8 workers, botocore {mode}: {lost}/{len(out)} songs lost, "
              f"{server.count() - before} requests, {b.totals.retries} retries counted, "
              f"slowdown x{wall / base_wall:.1f} ({wall:.2f} s vs {base_wall:.2f} s)")
    server.default = bs.sensible_answer

    # 4. cost per song from the real prompt's size
    p = build_prompt(items[0][0].features, exclude_refs=items[0][1])
    tokens_in, tokens_out = estimate_tokens(p.full_text), 250
    print(f"4. prompt ~{tokens_in} tokens in, ~{tokens_out} out; cost per song:")
    for info in ModelRegistry().builtin():
        print(f"   {info.label:<22} ${info.cost(tokens_in, tokens_out):.5f}"
              f"  ({100 * info.cost(tokens_in, tokens_out):.2f} cents)")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
