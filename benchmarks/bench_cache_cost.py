"""Cost per 1,000 songs for each registry model, with and without prompt caching, side by side.

Every number comes from the real code path: the hybrid prompt (with the genre atlas where a
model's caching minimum asks for it), the Converse request with its `cachePoint`, real boto3
against the local server (tests/bedrock_server.py), whose usage reports cacheWriteInputTokens on
the first song and cacheReadInputTokens afterwards when the prefix reaches the model's minimum,
and the registry's prices (per 1M tokens, AWS price list July 2026; bare Claude IDs run through
a us. profile, +10%). Tokens are counted as len(text) / 4, about 15% above Claude's tokenizer;
output is fixed at 250 tokens a song (a JSON answer with its reasoning).
A 1,000-song run writes the cache once (it stays warm while songs keep coming, 5 min TTL):
cost = first song + 999 x the mean of the following songs.

Run: .venv/bin/python benchmarks/bench_cache_cost.py [--songs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bedrock_server as bs

from genre_desktop.core.backends.bedrock import BedrockBackend, BedrockConfig
from genre_desktop.core.backends.registry import ModelRegistry
from genre_desktop.core.reference import load_reference
from genre_desktop.core.types import FEATURE_COLUMNS, Prediction, SongFeatures

OUTPUT_TOKENS = 250


def songs(n: int) -> list[tuple[SongFeatures, frozenset[str]]]:
    frame = load_reference().frame
    rows = frame.iloc[[int(i * len(frame) / n) for i in range(n)]]
    return [(SongFeatures(path="", features={c: float(r[c]) for c in FEATURE_COLUMNS},
                          duration_s=30.0, analysed_s=30.0), frozenset({str(r["filename"])}))
            for _, r in rows.iterrows()]


def per_1000(model_id: str, items, cache: bool) -> tuple[float, int, int, bool]:
    """($ per 1,000 songs, mean input tokens, prefix tokens cached, cachePoint sent)."""
    backend = BedrockBackend(BedrockConfig(model_id, prompt_cache=cache, requests_per_minute=None,
                                           tokens_per_minute=None), registry=ModelRegistry())
    preds = [backend.classify(f, exclude_refs=e) for f, e in items]
    assert all(isinstance(p, Prediction) for p in preds), preds
    first, rest = preds[0].cost_usd, [p.cost_usd for p in preds[1:]]
    cached = max(p.cache_read_tokens for p in preds)
    return (first + 999 * statistics.mean(rest), int(statistics.mean(p.input_tokens
                                                                         for p in preds)),
            cached, cached > 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=12, help="songs per model and mode")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp())
    server = bs.start_bedrock_server()
    for key, value in bs.throwaway_aws_env(tmp, server.url).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    os.environ["GENRE_DESKTOP_CONFIG_DIR"] = str(tmp / "config")  # no user overrides
    server.default = lambda call: bs.answer(bs.answer_json("jazz"),
                                            output_tokens=OUTPUT_TOKENS)(call)
    items = songs(args.songs)
    print(f"{'model':<24} {'in tok':>7} {'cached':>7}  {'$/1000 plain':>12}  "
          f"{'$/1000 cached':>13}  saving")
    try:
        for info in ModelRegistry().builtin():
            server.catalog.cached.clear()
            plain, tokens, _, _ = per_1000(info.model_id, items, cache=False)
            server.catalog.cached.clear()
            cached, _, prefix, hit = per_1000(info.model_id, items, cache=True)
            saving = f"{(1 - cached / plain) * 100:5.1f}%" if hit else "  (no caching)"
            print(f"{info.label:<24} {tokens:>7} {prefix:>7}  {plain:>12.2f}  {cached:>13.2f}"
                  f"  {saving}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
