"""One timing helper for the micro-benchmarks: run, warm up, time each call."""

from __future__ import annotations

import time


def time_ms(fn, repeats: int, warmup: int = 1, pick=min) -> float:
    """`pick` (min: the best; statistics.median) of `repeats` timed calls of `fn`, in ms, after `warmup` untimed
    ones (which also compile whatever `fn` compiles)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return pick(times) * 1e3

