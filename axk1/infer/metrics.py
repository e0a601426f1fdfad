"""Server counters, written in the Prometheus text exposition format (no client library needed for a few lines)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from axk1.infer.engine import Engine


@dataclass
class ServerMetrics:
    requests: Counter = field(default_factory=Counter)  # (endpoint, status) -> count
    finishes: Counter = field(default_factory=Counter)  # finish_reason -> choices that ended with it
    duration_sum: float = 0.0
    duration_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count_request(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1

    def observe_request_end(self, seconds: float, finish_reasons: list[str | None]) -> None:
        """A generation request's duration, and how its choices ended (None: not at all, aborted)."""
        with self._lock:
            self.duration_sum += seconds
            self.duration_count += 1
            self.finishes.update(r for r in finish_reasons if r is not None)

    def render(self, engine: Engine) -> str:
        stats = engine.stats
        lines: list[str] = []

        def metric(name: str, kind: str, help: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP axk1_{name} {help}")
            lines.append(f"# TYPE axk1_{name} {kind}")
            lines.extend(f"axk1_{name}{labels} {value:g}" for labels, value in samples)

        with self._lock:
            requests = sorted(self.requests.items())
            duration = (self.duration_sum, self.duration_count)
            finishes = sorted(self.finishes.items())
        metric("requests_total", "counter", "HTTP requests by endpoint and status code.",
               [(f'{{endpoint="{e}",status="{s}"}}', n) for (e, s), n in requests] or [("", 0)])
        metric("num_requests_running", "gauge", "Choices being generated (rows in the decode batch).",
               [("", engine.num_running)])
        metric("num_requests_waiting", "gauge", "Choices queued for a free row (queue length).",
               [("", engine.num_waiting)])
        metric("weight_update_waiting", "gauge", "1 while a weight update waits for the started choices to finish "
               "(new requests wait meanwhile), else 0.", [("", int(engine.scheduler.hold_new))])
        metric("prompt_tokens_total", "counter", "Prompt tokens of the requests (their usage's prompt_tokens).",
               [("", stats.prompt_tokens)])
        metric("prefill_tokens_total", "counter", "Prompt tokens computed, per chunk as each step computes "
               "it (prefix-cache hits left out, a preempted choice's recompute counted again).", [("", stats.prefill_tokens)])
        metric("generation_tokens_total", "counter", "Tokens generated.", [("", stats.generated_tokens)])
        metric("generation_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s.",
               [("", stats.tokens_per_second())])
        metric("decode_steps_total", "counter", "Shared decode steps run.", [("", stats.decode_steps)])
        metric("decode_rows_total", "counter", "Rows summed over decode steps (divide by steps: mean batch).",
               [("", stats.decode_rows)])
        metric("requests_aborted_total", "counter", "Choices stopped before their end (client gone, request "
               "failed).", [("", stats.aborted)])
        metric("request_success_total", "counter", "Choices that ended, by finish_reason (vLLM's name).",
               [(f'{{finished_reason="{r}"}}', n) for r, n in finishes] or [("", 0)])
        metric("engine_errors_total", "counter", "Engine steps that failed.", [("", stats.errors)])
        metric("engine_steps_total", "counter", "Engine steps run (each: one decode batch and one packed prefill).",
               [("", stats.steps)])
        metric("engine_step_running_seconds", "gauge", "How long the engine step in progress has run (0 between "
               "steps): a stalled reply with a large value here is one slow step, not a stuck queue.",
               [("", stats.step_running_seconds())])
        metric("cache_used_bytes", "gauge", "Latent cache held by sequences (blocks held x block bytes).",
               [("", engine.cache_bytes_used)])
        metric("cache_capacity_bytes", "gauge", "The latent cache's pool.", [("", engine.cache.nbytes())])
        metric("cache_peak_used_bytes", "gauge", "Most latent cache held at once.",
               [("", stats.peak_blocks * engine.cache.bytes_per_block)])
        metric("prefix_cache_hit_tokens_total", "counter", "Prompt tokens taken from the prefix cache.",
               [("", engine.prefix.hit_tokens if engine.prefix is not None else 0)])
        metric("preemptions_total", "counter", "Sequences preempted for cache blocks (recomputed later).",
               [("", engine.scheduler.preemptions)])
        drafter = engine.drafter
        metric("spec_decode_draft_tokens_total", "counter", "Tokens drafted by the MTP module (--speculative).",
               [("", drafter.drafted if drafter else 0)])
        metric("spec_decode_accepted_tokens_total", "counter", "Drafted tokens the main model kept.",
               [("", drafter.accepted if drafter else 0)])
        metric("time_to_first_token_seconds", "summary", "Time from submission to a request's first token.",
               [("_sum", stats.ttft_sum), ("_count", stats.ttft_count)])
        metric("request_duration_seconds", "summary", "Generation requests, from arrival to the last token.",
               [("_sum", duration[0]), ("_count", duration[1])])
        return "\n".join(lines) + "\n"
