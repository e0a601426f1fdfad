"""The mask of packed training rows (causal, never across a document boundary) in the form the attention kernel
wants. SDPA takes a dense boolean [B, 1, T, T] (on CPU, where ATen's flash kernel handles it); on CUDA a dense mask
keeps SDPA off its flash kernels and costs T² bytes per row (1 GiB at 32K), so there the mask is a FlexAttention
BlockMask built from the document ids: blocks wholly outside every document are skipped, none of it is dense.

The model builds the block mask before its first layer (`prepare`), once per batch and once for the MTP layers'
shorter rows (`prefix`): built lazily inside a compiled layer, the build was a graph break there (its deprecation
warning, which dynamo cannot trace) in the first layer and the MTP layer of every micro-batch. `prepare` also hands
the mask the flex_attention the layers call (`flex_attention_kernel`): made lazily in the first attention call, the
compiled kernel's global being None was a guard of the first compiled layer's graph, which dynamo then compiled
again at the second step.

Legend: B rows, T tokens.
"""

from __future__ import annotations

import torch
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

# The devices whose training attention runs FlexAttention over a block mask (the tests add "cpu" to compare
# its forward with the dense path; torch 2.13 has no CPU backward for it).
FLEX_DEVICES = {"cuda"}
# The devices where flex_attention runs eager rather than compiled (its fused kernel): the CPU, whose tests compare
# its forward (a test empties it to trace the compiled kernel inside compiled layers on CPU).
EAGER_FLEX_DEVICES = {"cpu"}

_compiled_create_block_mask = None
_compiled_flex_attention = None


def flex_attention_kernel(device: torch.device):
    """flex_attention as `device` runs it: eager on EAGER_FLEX_DEVICES, else compiled, once per process. Called
    outside the model's layers (DocumentMask.prepare), so that a compiled layer only reads a function that exists.
    With build_block_mask, the one torch.compile inside axk1/model/ (tests/test_architecture.py, MODEL_EXCEPTIONS):
    FlexAttention is fused only compiled, and eager it materialises the T x T scores."""
    global _compiled_flex_attention
    if device.type in EAGER_FLEX_DEVICES:
        return flex_attention
    if _compiled_flex_attention is None:
        _compiled_flex_attention = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex_attention


def build_block_mask(mask_mod, B: int, q_len: int, kv_len: int, device: torch.device) -> BlockMask:
    """create_block_mask for all heads (H = None); compiled on an accelerator, where T is long and the eager build
    evaluates the mask over all B x T x T positions. Compiled through torch.compile, as torch asks:
    create_block_mask's own `_compile` flag is deprecated and warns on every call."""
    global _compiled_create_block_mask
    if device.type == "cpu":
        return create_block_mask(mask_mod, B, None, q_len, kv_len, device=device)
    if _compiled_create_block_mask is None:
        _compiled_create_block_mask = torch.compile(create_block_mask)
    return _compiled_create_block_mask(mask_mod, B, None, q_len, kv_len, device=device)


def document_causal_mask(document_ids_BT: torch.Tensor) -> torch.Tensor:
    """Boolean [B, 1, T, T]: causal, and never across a document boundary."""
    T = document_ids_BT.shape[1]
    causal_TT = torch.ones(T, T, dtype=torch.bool, device=document_ids_BT.device).tril()
    same_doc_BTT = document_ids_BT[:, :, None] == document_ids_BT[:, None, :]
    return (same_doc_BTT & causal_TT)[:, None]


class DocumentMask:
    """The document-causal mask of a batch, built lazily in the form asked for. Under context parallelism a rank
    holds queries [q_start, q_start + q_len) of the rows and attends over all T keys (gathered): the mask is then
    those rows of the whole one."""

    def __init__(self, document_ids_BT: torch.Tensor, q_start: int = 0, q_len: int | None = None) -> None:
        self.document_ids_BT = document_ids_BT
        self.q_start = q_start
        self.q_len = document_ids_BT.shape[1] - q_start if q_len is None else q_len
        self._dense: torch.Tensor | None = None
        self._block: BlockMask | None = None
        self._kernel = None

    @property
    def use_flex(self) -> bool:
        return self.document_ids_BT.device.type in FLEX_DEVICES

    def prepare(self) -> DocumentMask:
        """Builds now the form the attention kernel will ask for where that is the block mask (FlexAttention's
        devices), and takes the flex_attention to run over it, so that no layer makes either; on CPU the dense mask
        stays lazy, as before."""
        if self.use_flex:
            self.block()
            self.flex_kernel()
        return self

    def flex_kernel(self):
        """The flex_attention the layers run over this mask (flex_attention_kernel), taken in `prepare`."""
        if self._kernel is None:
            self._kernel = flex_attention_kernel(self.document_ids_BT.device)
        return self._kernel

    def prefix(self, T: int) -> DocumentMask:
        """The mask of the first T positions (the MTP modules' shorter rows), prepared: called outside the layers, so
        its block mask too is built before a compiled layer sees it. A second build rather than this block mask's
        upper-left corner (BlockMask._adjust): torch 2.11's _adjust leaves the lengths at whole blocks, which
        flex_attention then refuses for T rows."""
        if self.q_start or self.q_len != self.document_ids_BT.shape[1]:
            raise ValueError("a context-parallel shard's mask has no prefix (MTP does not run under context parallelism)")
        return DocumentMask(self.document_ids_BT[:, :T]).prepare()

    def dense(self) -> torch.Tensor:
        """Boolean [B, 1, q_len, T]."""
        if self._dense is None:
            whole = document_causal_mask(self.document_ids_BT)
            self._dense = whole[:, :, self.q_start:self.q_start + self.q_len]
        return self._dense

    def block(self) -> BlockMask:
        if self._block is None:
            docs_BT, start = self.document_ids_BT, self.q_start
            B, T = docs_BT.shape

            def causal_same_document(b, h, q, kv):
                return (q + start >= kv) & (docs_BT[b, q + start] == docs_BT[b, kv])

            self._block = build_block_mask(causal_same_document, B, self.q_len, T, docs_BT.device)
        return self._block
