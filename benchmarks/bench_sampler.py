"""The training sampler's host time at scale (axk1/train/data.py): a shard of 20M documents (one index of 160 MB),
memory-mapped; the time to draw a step's rows for one rank (16 rows x 4,096 tokens, the 519B recipe's 4K stages)
and the time to build the sampler (startup).

    .venv/bin/python benchmarks/bench_sampler.py [--dir /tmp/bench_sampler]

The shard is written once into --dir (660 MB) and kept for reruns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.token_shards import LAYOUT  # noqa: E402
from axk1.train.data import StageSampler, load_shards  # noqa: E402
from axk1.train.recipe import Recipe  # noqa: E402
from axk1.train.recipe_sections import BatchConfig, DataConfig, StageConfig  # noqa: E402

DOCS, DOC_TOKENS, VOCAB = 20_000_000, 8, 163_840


def write_shard(folder: Path) -> Path:
    manifest = folder / "manifest.json"
    if manifest.exists():
        return manifest
    (folder / "web").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rng.integers(2, VOCAB, DOCS * DOC_TOKENS, dtype=np.uint32).astype("<u4").tofile(folder / "web" / "0.bin")
    (np.arange(DOCS + 1, dtype=np.uint64) * DOC_TOKENS).astype("<u8").tofile(folder / "web" / "0.idx")
    manifest.write_text(json.dumps({**LAYOUT, "vocab_size": VOCAB, "shards": [
        {"path": "web/0.bin", "offsets": "web/0.idx", "domain": "web", "bucket": "d0"}]}))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp/bench_sampler")
    manifest = write_shard(Path(ap.parse_args().dir))
    recipe = Recipe(data=DataConfig(manifest=str(manifest), seed=1), batch=BatchConfig(global_sequences=16),
                    stages=[StageConfig(name="s", tokens=16 * 4096 * 10, seq_len=4096, mixture={"web": 1.0})])
    t0 = time.perf_counter()
    _, shards = load_shards(manifest)
    sampler = StageSampler(recipe, shards)
    startup = time.perf_counter() - t0
    sampler.batch(0)
    t0 = time.perf_counter()
    for step in range(1, 6):
        sampler.batch(step)
    print(f"{DOCS:,} documents: startup {startup:.2f} s, a step's 16 x 4,096 rows "
          f"{(time.perf_counter() - t0) / 5 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
