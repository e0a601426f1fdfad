"""Continuous batching over one latent KV cache: every active choice owns a row, and one decode step advances
all rows together, each at its own length (per-row cache slots).

The engine runs in its own thread (model calls block), and talks to callers through plain callbacks, so it knows
nothing about HTTP or asyncio. Active rows are kept packed at the top of the cache ([0, R)), so a decode step runs
on a view of R rows and reads only as many slots as the longest row holds. A request with n choices is prefilled
once and its cache row copied to its other n - 1 rows. Legend: R active rows, T tokens, S slots, V vocabulary.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from axk1.infer.sampling import check_sampling, sample_next
from axk1.model import AXK1ForCausalLM, LatentDecoder, LatentKVCache

log = logging.getLogger(__name__)

# Called from the engine thread: (sequence, new token or None, finish reason or None, error message or None).
Sink = Callable[["Sequence", "int | None", "str | None", "str | None"], None]
# A batched prefill computes logits at every position of every row: cap rows x tokens x vocab (in elements).
PREFILL_LOGITS_BUDGET = 64 * 2**20


class RequestError(ValueError):
    """A request the engine cannot serve; `param` names the request field to change."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop_ids: frozenset[int] | None = None  # None: the model's eos ids; an empty set never stops early


@dataclass(eq=False)
class Sequence:
    """One choice of one request."""

    id: int
    index: int  # the choice's index within its request
    prompt: list[int]
    params: SamplingParams
    sink: Sink
    generator: torch.Generator | None = None
    tokens: list[int] = field(default_factory=list)
    length: int = 0  # tokens written into the cache row
    row: int = -1
    last_token: int = 0
    cancelled: bool = False
    finished: bool = False
    created: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None


@dataclass
class EngineStats:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    decode_steps: int = 0
    decode_rows: int = 0  # sum over decode steps of the rows in the step: rows / steps = mean batch
    prefills: int = 0
    aborted: int = 0
    errors: int = 0
    finished: int = 0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    recent: deque = field(default_factory=deque)  # (time, tokens) of the last seconds, for tokens/s

    def tokens_per_second(self, window: float = 10.0) -> float:
        now = time.monotonic()
        return sum(n for t, n in list(self.recent) if t >= now - window) / window  # a copy: the engine appends

    def note_tokens(self, now: float, n: int, keep: float = 60.0) -> None:
        self.recent.append((now, n))
        while self.recent and self.recent[0][0] < now - keep:
            self.recent.popleft()


class _RowsView:
    """A cache over rows [start, stop) of another: views, so writes land in the shared cache."""

    def __init__(self, cache: LatentKVCache, start: int, stop: int) -> None:
        self.latent = [t[start:stop] for t in cache.latent]


class Engine:
    def __init__(self, model: AXK1ForCausalLM, max_batch: int = 32, max_model_len: int | None = None) -> None:
        config = model.config
        self.model = model.eval()
        self._decode_step = LatentDecoder(model)  # weights resolved once for every decode step
        self.max_batch = max_batch
        self.max_model_len = min(max_model_len or config.max_position_embeddings, config.max_position_embeddings)
        self.vocab_size = config.vocab_size
        self.eos_ids = frozenset(config.eos_token_ids)
        self.device = model.lm_head.weight.device
        self.cache = LatentKVCache(config, max_batch, self.max_model_len, model.lm_head.weight.dtype, self.device)
        self.stats = EngineStats()
        self._ids = itertools.count()
        self._waiting: deque[list[Sequence]] = deque()  # groups: the n choices of one request
        self._active: list[Sequence] = []  # row r holds _active[r]
        self._admitting: list[Sequence] = []  # taken from the queue, not yet prefilled
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ---- caller side (any thread) -----------------------------------------------------------------------
    def check_request(self, prompt: list[int], params: SamplingParams, n: int) -> None:
        """Raise RequestError (a ValueError naming the parameter), with what to change, for a request the engine
        cannot serve."""
        context = self.max_model_len
        if not prompt:
            raise RequestError("the prompt is empty: send at least one token", "prompt")
        bad = next((t for t in prompt if not 0 <= t < self.vocab_size), None)
        if bad is not None:
            raise RequestError(f"token id {bad} in the prompt is out of range for this model "
                               f"(valid: 0..{self.vocab_size - 1})", "prompt")
        if len(prompt) >= context:
            raise RequestError(f"This model's maximum context length is {context} tokens, but the prompt has "
                               f"{len(prompt)} tokens. Shorten the prompt.", "prompt")
        if params.max_tokens < 1:
            raise RequestError(f"max_tokens must be at least 1, got {params.max_tokens}", "max_tokens")
        if len(prompt) + params.max_tokens > context:
            raise RequestError(f"This model's maximum context length is {context} tokens. However, you requested "
                               f"{len(prompt) + params.max_tokens} tokens ({len(prompt)} in the prompt, "
                               f"{params.max_tokens} for the completion). Ask for at most "
                               f"{context - len(prompt)} tokens (max_tokens).", "max_tokens")
        if not 1 <= n <= self.max_batch:
            raise RequestError(f"n must be between 1 and {self.max_batch} (the server's batch size), got {n}", "n")
        # torch.Generator.manual_seed takes [-2**63, 2**64); choice i seeds with seed + i
        if params.seed is not None and not -(2**63) <= params.seed <= 2**64 - n:
            raise RequestError(f"seed must be in [-2**63, 2**64 - n] for n = {n}, got {params.seed}", "seed")
        try:
            check_sampling(params.temperature, params.top_p, params.top_k)
        except ValueError as e:
            raise RequestError(str(e), str(e).split()[0]) from None  # its messages start with the parameter

    def submit(self, prompt: list[int], params: SamplingParams, sink: Sink, n: int = 1) -> list[Sequence]:
        self.check_request(prompt, params, n)
        group = []
        for i in range(n):
            generator = None
            if params.seed is not None:  # each choice its own stream, so results do not depend on the batch
                generator = torch.Generator(device=self.device).manual_seed(params.seed + i)
            group.append(Sequence(next(self._ids), i, list(prompt), params, sink, generator))
        with self._cond:
            self._waiting.append(group)
            self._cond.notify()
        return group

    def abort(self, sequences: list[Sequence]) -> None:
        """Stop these choices (a client went away, or a stop string was met); their rows are freed at once."""
        with self._cond:
            for s in sequences:
                s.cancelled = True
            self._cond.notify()

    @property
    def num_running(self) -> int:
        return len(self._active)

    @property
    def num_waiting(self) -> int:
        return sum(len(g) for g in self._waiting)

    def start(self) -> Engine:
        self._thread = threading.Thread(target=self._loop, name="axk1-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- engine thread ------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._waiting and not self._active:
                    self._cond.wait()
                if self._stopping:
                    return
            try:
                self.step()
            except Exception as e:  # a failure fails the requests in flight, never the server
                log.exception("engine step failed")
                self.stats.errors += 1
                for s in self._active + self._admitting:
                    self._finish(s, None, f"{type(e).__name__}: {e}")
                self._active.clear()
                self._admitting.clear()

    @torch.inference_mode()
    def step(self) -> None:
        """Drop cancelled rows, admit waiting requests into free rows, then one shared decode step."""
        self._reap()
        self._admit()
        if self._active:
            self._decode()

    def _reap(self) -> None:
        for s in [s for s in self._active if s.cancelled or s.finished]:
            if s.cancelled and not s.finished:
                self.stats.aborted += 1
                s.finished = True
            self._free(s)

    def _free(self, s: Sequence) -> None:
        """Move the last active row into s's row, so active rows stay packed at the top."""
        last = self._active[-1]
        if last is not s:
            n = last.length
            for t in self.cache.latent:
                t[s.row, :n] = t[last.row, :n]
            last.row = s.row
            self._active[s.row] = last
        self._active.pop()
        s.row = -1

    def _admit(self) -> None:
        groups: list[list[Sequence]] = []
        free = self.max_batch - len(self._active)
        with self._cond:
            while self._waiting:
                group = [s for s in self._waiting[0] if not s.cancelled]
                if not group:
                    self._waiting.popleft()
                    continue
                if len(group) > free:
                    break  # first come, first served: wait for rows rather than let later requests pass
                self._waiting.popleft()
                groups.append(group)
                self._admitting.extend(group)
                free -= len(group)
        # Prefill in batches whose logits fit the budget (a batched prefill returns logits at every position).
        batch: list[list[Sequence]] = []
        for group in groups:
            longest = max([len(g[0].prompt) for g in batch] + [len(group[0].prompt)])
            if batch and (len(batch) + 1) * longest * self.vocab_size > PREFILL_LOGITS_BUDGET:
                self._prefill(batch)
                batch = []
            batch.append(group)
        if batch:
            self._prefill(batch)
        self._admitting.clear()

    def _prefill(self, groups: list[list[Sequence]]) -> None:
        """Right-padded prefill of each group's prompt into one row, then copy that row to the group's other
        choices. Pad slots hold garbage that no mask ever exposes: decode overwrites them in order."""
        R0, G = len(self._active), len(groups)
        lengths = [len(g[0].prompt) for g in groups]
        T0 = max(lengths)
        ids_GT = torch.zeros(G, T0, dtype=torch.long)
        for i, g in enumerate(groups):
            ids_GT[i, : lengths[i]] = torch.tensor(g[0].prompt)
        lengths_G = torch.tensor(lengths)
        causal_TT = torch.ones(T0, T0, dtype=torch.bool).tril()
        real_GT = torch.arange(T0)[None, :] < lengths_G[:, None]
        mask_G1TT = ((causal_TT & real_GT[:, None, :]) | torch.eye(T0, dtype=torch.bool))[:, None]
        positions_GT = torch.arange(T0).expand(G, T0)
        view = _RowsView(self.cache, R0, R0 + G)
        dev = self.device
        logits_GTV = self.model.forward_latent(ids_GT.to(dev), positions_GT.to(dev), view, 0, mask_G1TT.to(dev),
                                               last_only=(G == 1))
        last_GV = logits_GTV[:, -1] if G == 1 else logits_GTV[torch.arange(G, device=dev), (lengths_G - 1).to(dev)]
        self.stats.prefills += 1
        # Choices beyond the first go after all first choices; copy their prompt rows.
        for i, g in enumerate(groups):
            g[0].row = R0 + i
        extra = [s for g in groups for s in g[1:]]
        for j, s in enumerate(extra):
            s.row = R0 + G + j
        ordered = [g[0] for g in groups] + extra
        self._active.extend(ordered)
        for s in extra:
            src = next(g[0].row for g in groups if s in g)
            for t in self.cache.latent:
                t[s.row, : len(s.prompt)] = t[src, : len(s.prompt)]
        for i, g in enumerate(groups):
            self.stats.prompt_tokens += lengths[i]
            for s in g:
                s.length = len(s.prompt)
                self._take(s, last_GV[i: i + 1])

    def _decode(self) -> None:
        self._reap()  # choices that ended at prefill (a stop token, or max_tokens = 1)
        active = self._active
        if not active:
            return
        R = len(active)
        ids_R1 = torch.tensor([[s.last_token] for s in active], device=self.device)
        len_R = torch.tensor([s.length for s in active], device=self.device)
        S = int(len_R.max()) + 1
        mask_R11S = (torch.arange(S, device=self.device)[None, :] <= len_R[:, None])[:, None, None, :]
        logits_R1V = self._decode_step(ids_R1, len_R[:, None], _RowsView(self.cache, 0, R), len_R, mask_R11S)
        self.stats.decode_steps += 1
        self.stats.decode_rows += R
        for s in active:
            s.length += 1
        greedy_R = logits_R1V[:, -1].argmax(dim=-1).tolist()
        for r, s in enumerate(active):
            if s.params.temperature == 0:
                self._emit(s, greedy_R[r])
            else:
                self._take(s, logits_R1V[r: r + 1, -1])
        self._reap()

    def _take(self, s: Sequence, logits_1V: torch.Tensor) -> None:
        p = s.params
        token = int(sample_next(logits_1V.reshape(1, -1), p.temperature, p.top_p, p.top_k, s.generator)[0])
        self._emit(s, token)

    def _emit(self, s: Sequence, token: int) -> None:
        if s.cancelled:
            return
        now = time.monotonic()
        if s.first_token_at is None:
            s.first_token_at = now
            self.stats.ttft_sum += now - s.created
            self.stats.ttft_count += 1
        stop_ids = self.eos_ids if s.params.stop_ids is None else s.params.stop_ids
        if token in stop_ids:
            self._finish(s, "stop")
            return
        s.tokens.append(token)
        s.last_token = token
        self.stats.generated_tokens += 1
        self.stats.note_tokens(now, 1)
        s.sink(s, token, None, None)
        if len(s.tokens) >= s.params.max_tokens or s.length + 1 >= self.max_model_len:
            self._finish(s, "length")

    def _finish(self, s: Sequence, reason: str | None, error: str | None = None) -> None:
        if s.finished:
            return
        s.finished = True
        self.stats.finished += 1
        s.sink(s, None, reason, error)
