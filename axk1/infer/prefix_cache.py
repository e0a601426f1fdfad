"""Prefix caching: a full block of latents is indexed by the tokens it holds and every token before it, so a later
prompt that starts the same way (a shared system prompt, a repeated document) takes those blocks instead of
computing them again.

A block's key chains its parent's: sha256(parent key + the block's token ids), so equal keys mean equal prefixes
(the whole prefix, not only the block; a 64-bit hash could collide and hand a sequence another's latents). Only full
blocks are indexed; a block's content never changes while it is indexed (sequences write only past their length,
into blocks they hold alone). When the pool evicts a cached block it tells this index to forget it.
"""

from __future__ import annotations

import hashlib
from array import array

from axk1.infer.block_pool import BlockPool


class PrefixCache:
    def __init__(self, pool: BlockPool, block_size: int) -> None:
        self.pool, self.block_size = pool, block_size
        self._block_of: dict[bytes, int] = {}
        self._key_of: dict[int, bytes] = {}
        self.hit_tokens = 0  # prompt tokens taken from the cache instead of computed
        pool.is_cached = self._key_of.__contains__
        pool.on_evict = self._forget

    def keys(self, tokens: list[int], known: list[bytes]) -> list[bytes]:
        """The keys of every full block of `tokens`, extending `known` (the keys of its first blocks) in place."""
        bs = self.block_size
        for i in range(len(known), len(tokens) // bs):
            parent = known[-1] if known else b""
            known.append(hashlib.sha256(parent + array("q", tokens[i * bs:(i + 1) * bs]).tobytes()).digest())
        return known

    def match(self, keys: list[bytes]) -> list[int]:
        """The cached blocks of the longest cached run of these keys from the start, each now held once more."""
        blocks = []
        for key in keys:
            block = self._block_of.get(key)
            if block is None:
                break
            self.pool.hold(block)
            blocks.append(block)
        self.hit_tokens += len(blocks) * self.block_size
        return blocks

    def peek(self, keys: list[bytes]) -> tuple[int, int]:
        """What match(keys) would take, taking nothing: (blocks matched, those of them nobody holds now, which a
        match takes off the pool's available count)."""
        matched = unheld = 0
        for key in keys:
            block = self._block_of.get(key)
            if block is None:
                break
            matched += 1
            unheld += self.pool.refs(block) == 0
        return matched, unheld

    def insert(self, keys: list[bytes], blocks: list[int]) -> None:
        """Index each full block under its key (a key already indexed keeps its block: the other copy is not)."""
        for key, block in zip(keys, blocks):
            if key not in self._block_of and block not in self._key_of:
                self._block_of[key] = block
                self._key_of[block] = key

    def _forget(self, block: int) -> None:
        del self._block_of[self._key_of.pop(block)]

    def __len__(self) -> int:
        return len(self._key_of)
