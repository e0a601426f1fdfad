"""What the engine computes at each step, and where in the paged cache it goes.

Every running sequence has tokens whose latents are cached (`length`) and pending tokens after them (prompt and
generated ids not yet run through the model). A sequence with one pending token decodes: the shared decode step
feeds it and samples. One with more is prefilling: it gets a chunk of its pending tokens, from a per-step budget of
`chunk` tokens, so a prompt of the model's whole context is computed over many steps, each also running every other
user's decode. Prefill chunks go shortest first (a short prompt that arrives during a long one is answered within a
step), and the oldest prefilling sequence always gets at least a quarter of the budget, so it is never starved.

Blocks: a sequence's block table (`blocks`) covers its cached tokens, plus room for this step's tokens, reserved in
plan(). When the pool runs short, the newest sequence is preempted: its blocks go back and it returns to the front
of the queue, to be recomputed later (prompt and tokens generated so far; sampling continues from its own
generator), so older sequences always finish; it comes back only with room for its whole prefix (admit). The pool
holds at least one whole context, so the oldest sequence always fits. A request's other choices (n > 1) wait for its
first choice's prompt, then take its blocks from the prefix cache and compute only the partial last block.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from axk1.infer.block_pool import BlockPool
from axk1.infer.prefix_cache import PrefixCache
from axk1.infer.sequence import Sequence


@dataclass
class StepPlan:
    decode: list[Sequence] = field(default_factory=list)  # one pending token each: fed, then sampled
    prefill: list[tuple[Sequence, int]] = field(default_factory=list)  # (sequence, its pending tokens to compute)


class Scheduler:
    def __init__(self, pool: BlockPool, prefix: PrefixCache | None, block_size: int, max_batch: int, chunk: int,
                 lock: threading.Condition, zero_blocks, lookahead: int = 1) -> None:
        """lookahead: cache slots a decode row reserves per step (2 when the engine drafts: the pending token and
        the draft are verified together; the draft's slot is kept only when the draft is)."""
        self.pool, self.prefix, self.block_size, self.lookahead = pool, prefix, block_size, lookahead
        self.max_batch, self.chunk = max_batch, chunk
        self._lock, self._zero_blocks = lock, zero_blocks  # zero_blocks(fresh blocks): PagedLatentCache.zero_blocks
        self.waiting: deque[list[Sequence]] = deque()  # groups: the n choices of one request (caller holds _lock)
        self.running: list[Sequence] = []  # in admission order
        # a weight update is waiting for the started choices to finish (Engine.replace_weights): only those are
        # admitted (a preempted choice with tokens must finish under the weights that began it), the rest wait
        self.hold_new = False
        self.preemptions = 0

    # ---- queue -------------------------------------------------------------------------------------------
    def admit(self) -> None:
        """Move waiting groups to running while rows are free and the pool has the blocks _blocks_to_admit asks,
        first come first served. Without the second condition a preempted choice came straight back while the pool
        was still short, took its cached prefix and was preempted again in the same step: a thousand preemptions for
        twelve choices under a small cache (the outputs right, the preemption count meaningless)."""
        with self._lock:
            held: list[list[Sequence]] = []  # fresh groups passed over while a weight update drains
            while self.waiting:
                group = [s for s in self.waiting[0] if not s.cancelled]
                if not group:
                    self.waiting.popleft()
                    continue
                if self.hold_new and not group[0].request.begun:
                    held.append(self.waiting.popleft())
                    continue
                if len(self.running) + len(group) > self.max_batch:
                    break  # wait for rows rather than let later requests pass
                if self.running and self._blocks_to_admit(group) > self.pool.num_available:
                    break  # wait for blocks too (with nothing running, it runs: someone must)
                self.waiting.popleft()
                group[0].request.begun = True
                for follower in group[1:]:
                    follower.leader = group[0]
                self.running.extend(group)
            self.waiting.extendleft(reversed(held))  # back in their order, at the front

    def _blocks_to_admit(self, group: list[Sequence]) -> int:
        """Free blocks the pool must have before `group` joins running sequences. A fresh group needs what its first
        step takes: its first chunk's blocks and the unheld cached prefix blocks it will take (those leave the
        available count too); a preempted choice needs its whole recomputed prefix (prompt and tokens so far), or it
        is preempted again as soon as the older sequences grow, while its cached blocks are being evicted: the probe
        of a 128-block pool saw ~11 preemptions a request and 8x the prompt tokens recomputed. On top, what the
        running sequences' next step may take stays free (_growth), so an admission does not itself force a
        preemption in the step that admits it."""
        if group[0].preempted:
            need = -(-(group[0].pending + self.lookahead - 1) // self.block_size)
        else:
            need = self._first_step_blocks(group[0]) * len(group)
        return need + self._growth()

    def _first_step_blocks(self, s: Sequence) -> int:
        """Blocks a sequence that holds none (just admitted) takes from the pool's available ones in its first step:
        the cached prefix blocks nobody holds (a hit takes them off the evictable list) and its first chunk's."""
        matched, unheld = self.prefix.peek(self._prefix_keys(s)) if self.prefix is not None else (0, 0)
        return unheld + -(-min(len(s.all_tokens()) - matched * self.block_size, self.chunk) // self.block_size)

    def _growth(self) -> int:
        """Blocks the running sequences may take in the next step: one per decoding row (the most a decode step
        takes, lookahead <= block size), the next chunk's blocks of each row still prefilling (all of them at most
        the step's prefill budget, chunk and the oldest's quarter, plus a partly filled block a row), and a row
        admitted but not begun its first step's (_first_step_blocks). Before, admission kept only one block per
        running sequence: an older sequence still prefilling took its next chunk and preempted the one just admitted
        (a pool much smaller than max_batch whole contexts)."""
        bs = self.block_size
        decode = prefill = prefilling = fresh = 0
        for s in self.running:
            if s.pending <= 1:
                decode += 1
            elif not s.blocks and s.length == 0:
                fresh += self._first_step_blocks(s)
            else:
                prefilling += 1
                prefill += -(-(s.length + min(s.pending, self.chunk)) // bs) - len(s.blocks)
        budget = -(-(self.chunk + max(1, self.chunk // 4)) // bs) + prefilling
        return decode + min(prefill, budget) + fresh

    def num_started(self) -> int:
        """Choices of begun requests, running or waiting (preempted, or a begun request's other prompts): what a
        weight update waits for, since they belong with the weights that began them (caller holds the lock)."""
        return len(self.running) + sum(len(g) for g in self.waiting if g[0].request.begun)

    def has_work(self) -> bool:
        """Whether a step has anything to run (caller holds the lock): not when a weight update holds every
        waiting request and nothing has started."""
        return bool(self.running) or any(not self.hold_new or g[0].request.begun for g in self.waiting)

    def drop_cancelled(self) -> int:
        """Drop the waiting choices whose client left while they waited for a row (or to be recomputed); returns
        how many of them had not finished (aborts, for the engine's count)."""
        with self._lock:
            if not any(s.cancelled for group in self.waiting for s in group):
                return 0
            dropped = [s for group in self.waiting for s in group if s.cancelled and not s.finished]
            for s in dropped:
                s.finished = True
            kept = [left for group in self.waiting if (left := [s for s in group if not s.cancelled])]
            self.waiting.clear()
            self.waiting.extend(kept)
            return len(dropped)

    def release(self, s: Sequence) -> None:
        """s has finished or was cancelled: its blocks go back (cached ones stay findable until evicted)."""
        self.pool.release(s.blocks)
        s.blocks = []
        self.running.remove(s)
        for f in self.running:
            if f.leader is s:
                f.leader = None

    # ---- one step --------------------------------------------------------------------------------------------
    def plan(self) -> StepPlan:
        self.admit()
        plan = StepPlan()
        for s in list(self.running):  # oldest first: when blocks run short, the newest give way
            if s in self.running and s.pending == 1 and self._reserve(s, self.lookahead, plan, shrink=False):
                plan.decode.append(s)
        ready = [s for s in self.running if s.pending > 1 and not self._waits_for_leader(s)]
        for s in ready:
            if not s.blocks and s.length == 0:
                self._take_cached_prefix(s)
        ready = [s for s in ready if s.pending > 1]  # a full prefix hit leaves one token: a decode row next step
        budget = self.chunk
        for s in sorted(ready, key=lambda s: (s.pending, s.id)):
            if budget <= 0:
                break
            k = self._reserve(s, min(s.pending, budget), plan, shrink=True)
            if k:
                plan.prefill.append((s, k))
                budget -= k
        oldest = min(ready, key=lambda s: s.id, default=None)
        if oldest is not None and oldest in self.running and all(p is not oldest for p, _ in plan.prefill):
            k = self._reserve(oldest, min(oldest.pending, max(1, self.chunk // 4)), plan, shrink=True)
            if k:
                plan.prefill.append((oldest, k))
        return plan

    def committed(self, s: Sequence) -> None:
        """s's cache now holds `length` tokens: index the blocks they fill (after every step that advanced s)."""
        full = s.length // self.block_size
        if self.prefix is not None and full > s.indexed:
            keys = self.prefix.keys(s.all_tokens()[: full * self.block_size], s.keys)
            self.prefix.insert(keys[s.indexed:full], s.blocks[s.indexed:full])
            s.indexed = full

    # ---- blocks ------------------------------------------------------------------------------------------------
    def _waits_for_leader(self, s: Sequence) -> bool:
        lead = s.leader
        return lead is not None and not (lead.finished or lead.cancelled) and lead.pending > 1

    def _take_cached_prefix(self, s: Sequence) -> None:
        if self.prefix is None:
            return
        s.blocks = self.prefix.match(self._prefix_keys(s))
        s.indexed = len(s.blocks)  # indexed already: that is where they came from
        s.length = len(s.blocks) * self.block_size

    def _prefix_keys(self, s: Sequence) -> list[bytes]:
        """The keys of the whole blocks of s's tokens a cache hit may cover: all but the last token's block at least
        (one token is computed: its logits are sampled)."""
        tokens = s.all_tokens()
        usable = (len(tokens) - 1) // self.block_size
        return self.prefix.keys(tokens[: usable * self.block_size], s.keys)[:usable]

    def _reserve(self, s: Sequence, k: int, plan: StepPlan, shrink: bool) -> int:
        """Give s blocks for its next k tokens, preempting newer sequences if the pool is short. Returns the tokens
        it got room for: k, fewer (shrink=True), or 0 (s waits; if not shrink, s itself was preempted)."""
        bs = self.block_size
        need = -(-(s.length + k) // bs) - len(s.blocks)
        while need > self.pool.num_available:
            victim = max((v for v in self.running if v.id > s.id and v.blocks), key=lambda v: v.id, default=None)
            if victim is None:
                break
            self._preempt(victim, plan)
        if need > self.pool.num_available:
            if not shrink:
                self._preempt(s, plan)
                return 0
            need = self.pool.num_available
            k = min(k, (len(s.blocks) + need) * bs - s.length)
            if k <= 0:
                return 0
        if need > 0:
            blocks, fresh = self.pool.allocate(need)
            if fresh:
                self._zero_blocks(fresh)
            s.blocks.extend(blocks)
        return k

    def _preempt(self, s: Sequence, plan: StepPlan) -> None:
        self.preemptions += 1
        # last block first: the pool evicts least recently released first, so the blocks the others take now are
        # its tail and its prefix stays cached for its recompute (in order, its first block went first and broke
        # the hash chain, leaving nothing to match; vLLM frees in reverse for the same reason)
        self.pool.release(s.blocks[::-1])
        s.blocks, s.length, s.indexed = [], 0, 0
        self.running.remove(s)
        for f in self.running:
            if f.leader is s:
                f.leader = None
        if s in plan.decode:
            plan.decode.remove(s)
        plan.prefill = [(p, k) for p, k in plan.prefill if p is not s]
        s.leader = None
        s.preempted = True  # admit() now waits for room for its whole prefix
        with self._lock:
            self.waiting.appendleft([s])
