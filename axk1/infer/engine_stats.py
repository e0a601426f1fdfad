"""The engine's counters (tokens, steps, cache, latency), which /metrics (axk1/infer/metrics.py) and the benchmarks
read."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class EngineStats:
    prompt_tokens: int = 0  # the requests' prompts, once each (what their usage bills)
    prefill_tokens: int = 0  # prompt tokens computed: prefix-cache hits not, preemption's recompute again
    generated_tokens: int = 0
    decode_steps: int = 0
    decode_rows: int = 0  # sum over decode steps of the rows in the step: rows / steps = mean batch
    prefills: int = 0  # packed prefill calls (one per step that had prompt chunks)
    peak_blocks: int = 0  # most cache blocks held at once
    aborted: int = 0
    errors: int = 0
    finished: int = 0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    recent: deque = field(default_factory=deque)  # (time, tokens) of the last seconds, for tokens/s
    # steps run, and when the one in progress began (None between steps): with requests waiting on a reply, a step
    # count that stands still tells a step taking minutes from an engine stepping without progress
    steps: int = 0
    step_started: float | None = None

    @contextlib.contextmanager
    def timing_step(self):
        self.step_started = time.monotonic()
        try:
            yield
        finally:
            self.steps += 1
            self.step_started = None

    def step_running_seconds(self) -> float:
        started = self.step_started  # read once: the engine thread clears it
        return 0.0 if started is None else time.monotonic() - started

    def tokens_per_second(self, window: float = 10.0) -> float:
        now = time.monotonic()
        return sum(n for t, n in list(self.recent) if t >= now - window) / window  # a copy: the engine appends

    def note_tokens(self, now: float, n: int, keep: float = 60.0) -> None:
        self.recent.append((now, n))
        while self.recent and self.recent[0][0] < now - keep:
            self.recent.popleft()
