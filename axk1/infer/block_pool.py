"""Which blocks of the paged latent cache (axk1.model.kv_cache.PagedLatentCache) are free, held, or cached.

A block is held by every sequence whose block table lists it (a reference count: a cached prefix is shared). When
the last holder lets go, a block whose content the prefix cache indexes stays where it is, evictable, in least
recently used order; any other block goes back to the free list. Allocation takes a free block first (the lowest
id, so the memory in use stays at the start of the pool and the OS never backs the rest), then evicts the least
recently used cached block. Block 0 is never handed out: padded block-table entries point at it.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable

NULL_BLOCK = 0


class PoolExhausted(RuntimeError):
    """Every block is held by a sequence: the caller must wait for one to finish, or preempt one."""


class BlockPool:
    def __init__(self, num_blocks: int) -> None:
        if num_blocks < 2:
            raise ValueError(f"a block pool needs at least 2 blocks (one is reserved), got {num_blocks}")
        self.num_blocks = num_blocks
        self._refs = [0] * num_blocks
        self._free = list(range(1, num_blocks))  # a heap, already ordered
        self._evictable: OrderedDict[int, None] = OrderedDict()
        self._touched = 1  # blocks [1, _touched) have been handed out at least once
        # Set by the prefix cache: does it index this block's content, and forget the block when evicted.
        self.is_cached: Callable[[int], bool] = lambda block: False
        self.on_evict: Callable[[int], None] = lambda block: None

    @property
    def num_available(self) -> int:
        """Blocks an allocation can get now: free, or cached and held by nobody."""
        return len(self._free) + len(self._evictable)

    @property
    def num_held(self) -> int:
        return self.num_blocks - 1 - self.num_available

    def allocate(self, n: int) -> tuple[list[int], list[int]]:
        """n blocks, each held once: (blocks, the ones never handed out before, which the cache must zero)."""
        if n > self.num_available:
            raise PoolExhausted(f"{n} blocks wanted, {self.num_available} available")
        blocks, fresh = [], []
        for _ in range(n):
            if self._free:
                block = heapq.heappop(self._free)
            else:
                block, _ = self._evictable.popitem(last=False)
                self.on_evict(block)
            if block >= self._touched:  # lowest id first: the next untouched block is the only one past the mark
                fresh.append(block)
                self._touched = block + 1
            self._refs[block] = 1
            blocks.append(block)
        return blocks, fresh

    def hold(self, block: int) -> None:
        """One more holder of a block already in use or cached (a prefix-cache hit)."""
        if self._refs[block] == 0:
            del self._evictable[block]
        self._refs[block] += 1

    def release(self, blocks: list[int]) -> None:
        for block in blocks:
            self._refs[block] -= 1
            if self._refs[block] == 0:
                if self.is_cached(block):
                    self._evictable[block] = None  # most recently used at the end
                else:
                    heapq.heappush(self._free, block)

    def drop_cached(self) -> int:
        """Frees every cached block nobody holds (their content was computed by weights now replaced); returns how
        many."""
        dropped = list(self._evictable)
        self._evictable.clear()
        for block in dropped:
            self.on_evict(block)
            heapq.heappush(self._free, block)
        return len(dropped)

    def refs(self, block: int) -> int:
        return self._refs[block]
