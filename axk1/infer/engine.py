"""Continuous batching over a paged latent KV cache: each step runs one shared decode step for every sequence that
has a token to sample, and a chunk of prompt tokens for the sequences still prefilling (axk1/infer/scheduler.py
decides which; axk1/infer/block_pool.py and prefix_cache.py keep the blocks).

The engine runs in its own thread (model calls block), and talks to callers through plain callbacks, so it knows
nothing about HTTP or asyncio. The cache is one pool of fixed-size blocks (axk1.model.kv_cache.PagedLatentCache); a
sequence holds the blocks its tokens fill, listed in its block table, so memory follows the tokens held, and a
prompt prefix already computed (a shared system prompt, the prompt of a request's other choices) is taken from the
prefix cache instead of computed again. Prefill chunks of all sequences go through the model packed into one row,
each token attending to its own sequence's blocks. Legend: R decode rows, T packed prefill tokens, S slots read,
K blocks per row, D sequences whose prompt ends in this prefill, V vocabulary.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import threading
import time

import torch

from axk1.infer.block_pool import NULL_BLOCK, BlockPool
from axk1.infer.drafting import ServerDrafter
from axk1.infer.engine_config import DEFAULT_CACHE_BYTES, EngineConfig
from axk1.infer.engine_stats import EngineStats
from axk1.infer.guided import mask_guided
from axk1.infer.logprobs import token_logprob
from axk1.infer.prefix_cache import PrefixCache
from axk1.infer.sampling import check_sampling, sample_next
from axk1.infer.scheduler import Scheduler
from axk1.infer.sequence import (RequestError, RequestGroups, SamplingParams, Sequence,  # noqa: F401 (re-exported)
                                 Sink, WeightsBusy)
from axk1.model import AXK1ForCausalLM, LatentDecoder, LatentKVCache
from axk1.model.kv_cache import PagedLatentCache
from axk1.sampling_ranges import SEED_RANGE, SEED_RULE

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, model: AXK1ForCausalLM, cfg: EngineConfig | None = None) -> None:
        """`cfg`: batch, context, cache and drafting (axk1/infer/engine_config.py; None: its defaults). Its errors
        name cfg's fields (`axk1 serve` names its flags instead)."""
        self.cfg = cfg = cfg or EngineConfig()
        max_batch, max_model_len, block_size, speculative = (cfg.max_batch, cfg.max_model_len, cfg.block_size,
                                                             cfg.speculative)
        config = model.config
        self.model = model.eval()
        self._decode_step = LatentDecoder(model)  # weights resolved once for every decode step
        self.weights_version = "0"  # replace_weights' count: each reply's system_fingerprint
        self.max_batch = max_batch
        context = config.context_length
        if max_model_len is not None and not 1 <= max_model_len <= context:  # was clamped without a word
            raise ValueError(f"max_model_len {max_model_len}: the model's context is {context} tokens "
                             "(config.json max_position_embeddings, or YaRN's factor x original length where that "
                             "is longer: docs/serving.md): serve at most that, or leave max_model_len unset")
        self.max_model_len = max_model_len or context
        self.vocab_size, self.eos_ids = config.vocab_size, frozenset(config.eos_token_ids)
        self.device = model.lm_head.weight.device
        dtype = model.lm_head.weight.dtype
        # a token's latents in every pool: the main layers', and the MTP layer's when speculative
        per_token = LatentKVCache.bytes_per_token(config, dtype) * (config.num_hidden_layers + int(speculative)) \
            / config.num_hidden_layers
        cache_tokens = cfg.cache_tokens
        if cache_tokens is None:
            fits = int(DEFAULT_CACHE_BYTES // per_token)
            cache_tokens = max(self.max_model_len, min(max_batch * self.max_model_len, fits))
        if cache_tokens < self.max_model_len:
            raise ValueError(f"the cache must hold at least one whole context: cache_tokens ({cache_tokens}) < "
                             f"max_model_len ({self.max_model_len}); raise cache_tokens or lower max_model_len")
        self.block_size = block_size
        num_blocks = -(-cache_tokens // block_size) + 1  # + the null block
        try:
            self.cache = PagedLatentCache(config, num_blocks, block_size, dtype, self.device,
                                          extra_layers=int(speculative))
        except (RuntimeError, MemoryError) as e:  # an allocator's refusal (CPU or CUDA) as a traceback, before
            need = num_blocks * block_size * per_token
            raise ValueError(f"the latent cache of {num_blocks - 1:,} blocks x {block_size} tokens (~{need / 2**30:,.1f} "
                             f"GiB) cannot be allocated on {self.device} ({str(e).splitlines()[0][:120]}): lower "
                             f"cache_tokens, block_size or max_model_len (the pool holds at least one whole "
                             f"context, {self.max_model_len:,} tokens)") from None
        self.cache.zero_blocks([NULL_BLOCK])
        self.pool = BlockPool(num_blocks)
        self.prefix = PrefixCache(self.pool, block_size) if cfg.prefix_caching else None
        self._cond = threading.Condition()
        self.scheduler = Scheduler(self.pool, self.prefix, block_size, max_batch, cfg.prefill_chunk, self._cond,
                                   self.cache.zero_blocks, lookahead=2 if speculative else 1)
        self.drafter = ServerDrafter(self) if speculative else None
        self.stats = EngineStats()
        self._ids = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._threads = torch.get_num_threads()  # the caller's (axk1 serve --threads), applied in the engine thread

    # ---- caller side (any thread) -----------------------------------------------------------------------
    def check_request(self, prompt: list[int], params: SamplingParams, n: int, limit_name: str = "max_tokens") -> None:
        """Raise RequestError (a ValueError naming the parameter), with what to change, for a request the engine
        cannot serve. `limit_name`: the request field that set params.max_tokens (a chat's may be
        max_completion_tokens)."""
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
            raise RequestError(f"{limit_name} must be at least 1, got {params.max_tokens}", limit_name)
        if len(prompt) + params.max_tokens > context:
            raise RequestError(f"This model's maximum context length is {context} tokens. However, you requested "
                               f"{len(prompt) + params.max_tokens} tokens ({len(prompt)} in the prompt, "
                               f"{params.max_tokens} for the completion). Ask for at most "
                               f"{context - len(prompt)} tokens ({limit_name}).", limit_name)
        if not 1 <= n <= self.max_batch:
            raise RequestError(f"n must be between 1 and {self.max_batch} (the server's batch size), got {n}", "n")
        # the one seed range (sampling_ranges.py), which leaves room for choice i's seed + i in torch's generator
        if params.seed is not None and not SEED_RANGE[0] <= params.seed <= SEED_RANGE[1]:
            raise RequestError(f"seed must be {SEED_RULE}, got {params.seed}", "seed")
        try:
            check_sampling(params.temperature, params.top_p, params.top_k)
        except ValueError as e:
            raise RequestError(str(e), str(e).split()[0]) from None  # its messages start with the parameter

    def submit(self, prompt: list[int], params: SamplingParams, sink: Sink, n: int = 1,
               request: RequestGroups | None = None) -> list[Sequence]:
        """Queue n choices of `prompt`. `request`: shared by the groups of one request with several prompts (a
        weight update lets them all start under the same weights; default: a request of its own)."""
        self.check_request(prompt, params, n)
        self.stats.prompt_tokens += len(prompt)  # once for its n choices, as the reply's usage counts it
        group = []
        for i in range(n):
            generator = None
            if params.seed is not None:  # each choice its own stream, so results do not depend on the batch
                generator = torch.Generator(device=self.device).manual_seed(params.seed + i)
            group.append(Sequence(next(self._ids), i, list(prompt), params, sink, generator))
        request = RequestGroups() if request is None else request
        for s in group:
            s.request = request
        with self._cond:  # replace_weights holds this lock: the version read here is the one that samples the group
            for s in group:
                s.weights_version = self.weights_version
            self.scheduler.waiting.append(group)
            self._cond.notify_all()
        return group

    def abort(self, sequences: list[Sequence], counted: bool = True) -> None:
        """Stop these choices; their rows are freed at the next step. `counted`: an abort (a client went away, a
        request failed), in stats.aborted; False: the caller ended them normally (a stop string met, the one tool
        call allowed made), which /metrics must not report as clients that left."""
        with self._cond:
            for s in sequences:
                s.cancelled = True
                s.finished = s.finished or not counted  # _reap counts the cancelled ones not finished
            self._cond.notify_all()

    def replace_weights(self, model: AXK1ForCausalLM, label: str = "", drain_s: float = 0.0) -> int:
        """Serve `model` from now on (RL pushes each update's weights: axk1/posttrain/rollout_server.py). A choice
        sampled part by one policy and part by the next would be neither's, so the swap waits (at most `drain_s`
        seconds, else RequestError and nothing swapped) for the started choices to finish while the requests not
        started wait, as SGLang's update does (a server that was never idle refused every update). Those then sample
        with `model`. Returns how many prefix-cache blocks (the old weights') were dropped. `model` must have the
        served architecture, device and dtype (the cache's layout). `weights_version` becomes "<count>:<digest of
        label>", every reply's system_fingerprint: a client can tell whose weights sampled it."""
        old = self.model
        if model.config.to_dict() != old.config.to_dict():
            changed = sorted(k for k, v in model.config.to_dict().items() if old.config.to_dict().get(k) != v)
            raise RequestError(f"the new weights' config.json differs from the served model's in {changed[:8]}: "
                               "only the same architecture can replace it (start a new server for another)",
                               "model_path")
        new_weight, old_weight = model.lm_head.weight, old.lm_head.weight
        if (new_weight.device, new_weight.dtype) != (old_weight.device, old_weight.dtype):
            raise RequestError(f"the new weights are {new_weight.dtype} on {new_weight.device}, the served ones "
                               f"{old_weight.dtype} on {old_weight.device}", "model_path")
        decode_step = LatentDecoder(model.eval())  # built before the swap: a failure leaves the old model serving
        with self._cond:  # the engine thread steps only with sequences to run, which this lock keeps from arriving
            self.scheduler.hold_new = True  # admit() now takes only started choices: the running set drains
            try:
                deadline = time.monotonic() + drain_s
                while busy := self.scheduler.num_started():
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stopping:  # stop(): the server exits, and no step will finish them
                        raise WeightsBusy(f"{busy} choices are being generated and did not finish within "
                                          f"{drain_s:g} s: weights are replaced only between them (send the "
                                          "update again, or when the requests in flight have finished)",
                                          "model_path")
                    self._cond.wait(left)  # the engine thread notifies after every step that finished one
            finally:
                self.scheduler.hold_new = False
                self._cond.notify_all()
            self.model, self._decode_step = model, decode_step
            # the label (the folder the caller pushed) as a short digest: it goes to every client, whose replies
            # must not carry the server's paths, nor 4 KB of text of the pusher's choosing
            digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:12]
            self.weights_version = f"{int(self.weights_version.split(':')[0]) + 1}:{digest}"
            for s in (s for group in self.scheduler.waiting for s in group):  # not started: the new weights sample
                s.weights_version = self.weights_version
            if self.drafter is not None:  # drafts with the new MTP module; its counters go on (Prometheus counters)
                counts = self.drafter.drafted, self.drafter.accepted
                self.drafter = ServerDrafter(self)
                self.drafter.drafted, self.drafter.accepted = counts
            return self.pool.drop_cached()

    @property
    def num_running(self) -> int:
        return len(self.scheduler.running)

    @property
    def num_waiting(self) -> int:
        return sum(len(g) for g in list(self.scheduler.waiting))

    @property
    def cache_bytes_used(self) -> int:
        return self.pool.num_held * self.cache.bytes_per_block

    def start(self) -> Engine:
        self._thread = threading.Thread(target=self._loop, name="axk1-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- engine thread ------------------------------------------------------------------------------------
    def _loop(self) -> None:
        # Without this the threads a step used depended on which ops had run in this thread, not on --threads
        # (measured on 2 loaded cores: the paged cache's ops made a server step ~7x slower until this was set).
        torch.set_num_threads(self._threads)
        while True:
            with self._cond:
                while not self._stopping and not self.scheduler.has_work():
                    self._cond.wait()
                if self._stopping:
                    return
            try:
                self.step()
            except Exception as e:  # a failure fails the requests in flight, never the server
                log.exception("engine step failed")
                self.stats.errors += 1
                for s in list(self.scheduler.running):
                    with contextlib.suppress(Exception):  # a sink failing here too ended the thread: the server hung
                        self._finish(s, None, f"{type(e).__name__}: {e}")
                    self.scheduler.release(s)
            if self.scheduler.hold_new:  # a weight update waits for the started choices to finish
                with self._cond:
                    self._cond.notify_all()

    @torch.inference_mode()
    def step(self) -> None:
        """Drop finished and cancelled sequences, plan (admit, reserve blocks), then one decode step for the
        sequences with a token to sample and one packed prefill call for the prompt chunks."""
        with self.stats.timing_step():  # /metrics: steps run, and how long the one in progress has run
            self._reap()
            plan = self.scheduler.plan()
            self.stats.peak_blocks = max(self.stats.peak_blocks, self.pool.num_held)
            if plan.decode:
                (self.drafter.decode if self.drafter else self.decode)(plan.decode)
            if plan.prefill:
                self.prefill(plan.prefill)
            self._reap()

    def _reap(self) -> None:
        for s in [s for s in self.scheduler.running if s.cancelled or s.finished]:
            if s.cancelled and not s.finished:
                self.stats.aborted += 1
                s.finished = True
            self.scheduler.release(s)
            s.row = -1
        for r, s in enumerate(self.scheduler.running):
            s.row = r
        self.stats.aborted += self.scheduler.drop_cancelled()

    def read_rows(self, seqs: list[Sequence], new: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(cached lengths [R], pool rows [R, S] each row reads) for a step writing `new` tokens per row after its
        cached ones; slots past a row's own read the null block and are masked."""
        dev = self.device
        len_R = torch.tensor([s.length for s in seqs], device=dev)
        S = int(len_R.max()) + new
        K = -(-S // self.block_size)
        table_RK = torch.tensor([s.blocks[:K] + [NULL_BLOCK] * (K - len(s.blocks[:K])) for s in seqs], device=dev)
        return len_R, self.cache.rows(table_RK)[:, :S]

    def decode(self, seqs: list[Sequence]) -> None:
        """One token into the cache for each of these sequences (each has exactly one pending token and a block
        for it), and the next one sampled (a drafting engine runs axk1/infer/drafting.py's step instead)."""
        R, dev = len(seqs), self.device
        len_R, read_RS = self.read_rows(seqs, 1)
        S = read_RS.shape[1]
        write_R1 = read_RS[torch.arange(R, device=dev), len_R][:, None]
        ids_R1 = torch.tensor([[s.next_input()] for s in seqs], device=dev)
        mask_R11S = (torch.arange(S, device=dev)[None, :] <= len_R[:, None])[:, None, None, :]
        logits_R1V = self._decode_step(ids_R1, len_R[:, None], self.cache.step_view(read_RS, write_R1), len_R,
                                       mask_R11S)
        self.stats.decode_steps += 1
        self.stats.decode_rows += R
        for s in seqs:
            s.length += 1
            if s.length % self.block_size == 0:
                self.scheduler.committed(s)
        mask_guided(seqs, logits_R1V[:, -1])  # constrained rows: only the tokens their grammar allows
        greedy_R = logits_R1V[:, -1].argmax(dim=-1).tolist()
        for r, s in enumerate(seqs):
            if s.params.temperature == 0:
                self._emit(s, greedy_R[r], logits_R1V[r, -1])
            else:
                self._take(s, logits_R1V[r: r + 1, -1])

    def prefill(self, chunks: list[tuple[Sequence, int]]) -> None:
        """Compute these chunks of pending tokens, packed into one row; a sequence whose chunk ends its pending
        tokens samples its next token. A token attends to its own sequence's cached slots and to its chunk up to
        itself: the mask is block-diagonal over sequences, causal inside each, so nothing is padded."""
        dev = self.device
        ids, positions, reads, writes, ends, done, starts = [], [], [], [], [], [], []
        T = sum(k for _, k in chunks)
        S = sum(s.length + k for s, k in chunks)
        mask_TS = torch.zeros(T, S, dtype=torch.bool, device=dev)
        t0 = o = 0
        for s, k in chunks:
            start, ctx = s.length, s.length + k
            starts.append(start)
            rows_C = self.cache.rows(torch.tensor(s.blocks, device=dev))[:ctx]
            reads.append(rows_C)
            writes.append(rows_C[start:])
            ids += s.all_tokens()[start:ctx]
            positions.append(torch.arange(start, ctx, device=dev))
            mask_TS[t0:t0 + k, o:o + ctx] = (torch.arange(ctx, device=dev)[None, :]
                                             <= torch.arange(start, ctx, device=dev)[:, None])
            if k == s.pending:
                ends.append(t0 + k - 1)
                done.append(s)
            t0, o = t0 + k, o + ctx
        read_1S, write_1T, positions_1T = torch.cat(reads)[None], torch.cat(writes)[None], torch.cat(positions)[None]
        view = self.cache.step_view(read_1S, write_1T, slice(0, self.model.config.num_hidden_layers))
        at_D = torch.tensor(ends, dtype=torch.long, device=dev)
        logits_1DV, hidden_1TD = self.model.forward_latent(torch.tensor([ids], device=dev), positions_1T, view, 0,
                                                           mask_TS[None, None], logits_at=at_D, return_hidden=True)
        self.stats.prefills += 1
        for s, k in chunks:
            s.length += k
            self.stats.prefill_tokens += k
            self.scheduler.committed(s)
        mask_guided(done, logits_1DV[0])
        for i, s in enumerate(done):
            self._take(s, logits_1DV[0, i: i + 1])
        if self.drafter is not None:
            self.drafter.after_prefill([(s, start, k) for (s, k), start in zip(chunks, starts)], hidden_1TD[0],
                                       positions_1T, read_1S, write_1T, mask_TS[None, None])

    def _take(self, s: Sequence, logits_1V: torch.Tensor) -> None:
        p = s.params
        token = int(sample_next(logits_1V.reshape(1, -1), p.temperature, p.top_p, p.top_k, s.generator)[0])
        self._emit(s, token, logits_1V)

    def _emit(self, s: Sequence, token: int, logits_V: torch.Tensor) -> None:
        """s's next token, chosen from the model's `logits_V` (whose log_softmax is its logprob): raw, or a
        constrained row's with what its grammar does not allow at -inf (axk1/infer/guided.py)."""
        if s.cancelled:
            return
        now = time.monotonic()
        if s.first_token_at is None:
            s.first_token_at = now
            if s.request.first_token_at is None:  # per request, as vLLM counts it and as request_duration is: its
                s.request.first_token_at = now  # first token of any choice (per choice, n=4 counted 4 times)
                self.stats.ttft_sum += now - s.created
                self.stats.ttft_count += 1
        stop_ids = self.eos_ids if s.params.stop_ids is None else s.params.stop_ids
        if token in stop_ids or (s.guide is not None and s.guide.ends_at(token)):  # a grammar's end: ignore_eos too
            s.stop_token = token
            self._finish(s, "stop")
            return
        ended = s.guide.follow(token) if s.guide is not None else None  # its grammar complete, or its matcher failed
        if ended and ended[0] == "error":  # a failed matcher ends the choice; the token it refused is not sent
            return self._finish(s, *ended)
        if s.params.logprobs is not None:
            s.logprobs.append(token_logprob(logits_V, token, s.params.logprobs))
        s.tokens.append(token)
        self.stats.generated_tokens += 1
        self.stats.note_tokens(now, 1)
        s.sink(s, token, None, None)
        if ended:
            self._finish(s, *ended)
        elif len(s.tokens) >= s.params.max_tokens or s.length + 1 >= self.max_model_len:
            self._finish(s, "length")

    def _finish(self, s: Sequence, reason: str | None, error: str | None = None) -> None:
        if s.finished:
            return
        s.finished = True
        self.stats.finished += 1
        s.sink(s, None, reason, error)
