"""The A.X K1 decoder: MLA + (dense SwiGLU | MoE) layers, with the post-MoE RMSNorm A.X K1 adds to DeepSeek-V3.

Legend: B batch, T tokens, S key slots, D hidden, V vocabulary.
Module and parameter names mirror the released checkpoint (`model.layers.{i}.self_attn.q_a_proj.weight`, ...),
so converting to the Hugging Face layout only splits the stacked experts (axk1.checkpoint.state_dict_adapter;
the model imports nothing above it, so writing a folder is axk1.checkpoint.hf.save_pretrained(model, path)).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from axk1.config import ModelConfig
from axk1.rope_scaling import normalise_rope_scaling
from axk1.model.latent_decode import LatentDecoder
from axk1.model.decoder import DecoderLayer
from axk1.model.attention_mask import DocumentMask
from axk1.model.mla import MLA, document_positions
from axk1.model.moe import GroupedExperts, MoE, Router
from axk1.model.mtp import MTPModule
from axk1.model.norm import RMSNorm
from axk1.model.rope import RotaryEmbedding, rope_rotation


class AXK1Model(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)


class AXK1ForCausalLM(nn.Module):
    """`model(input_ids)` → logits [B, T, V]. Pass `document_ids_BT` for packed sequences."""

    def __init__(self, config: ModelConfig, with_mtp: bool = False) -> None:
        super().__init__()
        self.config = config
        self.model = AXK1Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        n_mtp = config.num_nextn_predict_layers if with_mtp else 0
        self.mtp = nn.ModuleList(MTPModule(config) for _ in range(n_mtp)) if n_mtp else None
        self.init_weights()

    def decoder_layers(self) -> list[DecoderLayer]:
        """Every decoder layer: the main stack, then each MTP module's. The units that FSDP2 shards, activation
        recompute wraps and compile compiles (an MTP module's norms and projection run outside its layer)."""
        return list(self.model.layers) + ([m.layer for m in self.mtp] if self.mtp is not None else [])

    def set_rope_scaling(self, rope_scaling: dict | None) -> None:
        """Switches the position encoding to `rope_scaling` (a YaRN block, or None for plain RoPE) in place: the
        config every module shares, each rotary table and each attention's softmax scale (mscale_all_dim enters
        it). A context-extension stage does this to a model trained at the original length (axk1/train/trainer.py);
        the weights are untouched."""
        self.config.rope_scaling = None if rope_scaling is None else normalise_rope_scaling(rope_scaling)
        self.config.validate()
        for module in self.modules():
            if isinstance(module, RotaryEmbedding):
                module.reset_parameters()
            elif isinstance(module, MLA):
                module.scale = self.config.softmax_scale()

    # ---- initialisation ---------------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None,
                     normal_: Callable[[str, torch.Tensor, float], None] | None = None) -> None:
        """Normal(0, initializer_range) for every matrix, ones for norms, zero balancing bias.

        `normal_(name, weight, std)`, when given, draws each matrix instead of `weight.normal_`: a model sharded
        after a meta-device build fills only this rank's shard with it (axk1.parallel.init)."""
        std = self.config.initializer_range

        def draw(name: str, w: torch.Tensor) -> None:
            if w.is_meta:
                return
            if normal_ is not None:
                normal_(name, w, std)
            else:
                w.normal_(0.0, std, generator=generator)

        for prefix, module in self.named_modules(prefix=""):
            prefix = prefix + "." if prefix else ""
            if isinstance(module, (nn.Linear, nn.Embedding, Router)):
                draw(prefix + "weight", module.weight)
            elif isinstance(module, GroupedExperts):
                draw(prefix + "gate_up_proj", module.gate_up_proj)
                draw(prefix + "down_proj", module.down_proj)
            elif isinstance(module, (RMSNorm, RotaryEmbedding)):
                module.reset_parameters()
            if isinstance(module, Router) and not module.e_score_correction_bias.is_meta:
                module.e_score_correction_bias.zero_()

    @torch.no_grad()
    def reset_derived_state(self) -> None:
        """After `to_empty` (a meta-device build given storage): norms to ones, balancing bias and expert counts
        to zero, RoPE tables recomputed - the state no weight file or random draw provides."""
        for module in self.modules():
            if isinstance(module, (RMSNorm, RotaryEmbedding)):
                module.reset_parameters()
            elif isinstance(module, Router):
                module.e_score_correction_bias.zero_()
            elif isinstance(module, MoE):
                module.tokens_per_expert.zero_()

    # ---- training / full-sequence forward ----------------------------------------------------------
    def hidden_states(self, input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None = None,
                      position_ids_BT: torch.Tensor | None = None,
                      attention_mask: DocumentMask | None = None,
                      ids_checked: bool = False) -> tuple[torch.Tensor, tuple]:
        """Last decoder layer's output (before the final norm) and the (cos, sin, mask) it was computed with.
        `attention_mask` with `position_ids_BT`: given whole instead of derived from document_ids (a
        context-parallel shard of the rows, axk1/parallel/context_parallel.py). `ids_checked`: the caller has
        checked the ids against the vocabulary on the host (the trainer, before its copy to the device), which
        spares the check's two reads of device values: on an accelerator each waits for every queued kernel."""
        if not ids_checked:
            check_token_ids(input_ids_BT, self.config)
        B, T = input_ids_BT.shape
        if T > self.config.context_length:
            raise ValueError(f"sequence of {T} tokens exceeds the model's context of {self.config.context_length} "
                             "(max_position_embeddings, or YaRN's factor x original length where longer)")
        mask_B1TS = attention_mask
        if attention_mask is not None and position_ids_BT is None:
            raise ValueError("an explicit attention_mask needs its position_ids")
        if document_ids_BT is not None and attention_mask is None:
            if document_ids_BT.shape != input_ids_BT.shape:
                raise ValueError(f"document_ids shape {tuple(document_ids_BT.shape)} != input_ids shape {(B, T)}")
            mask_B1TS = DocumentMask(document_ids_BT)
            if position_ids_BT is None:
                position_ids_BT = document_positions(document_ids_BT)
        if position_ids_BT is None:
            position_ids_BT = torch.arange(T, device=input_ids_BT.device).expand(B, T)
        if mask_B1TS is not None:  # the block mask built here, before the (compiled) layers: see attention_mask.py
            mask_B1TS.prepare()
        cos_BT1P, sin_BT1P = self.model.rotary_emb(position_ids_BT)
        h_BTD = self.model.embed_tokens(input_ids_BT)
        for layer in self.model.layers:
            h_BTD = layer(h_BTD, cos_BT1P, sin_BT1P, mask_B1TS)
        return h_BTD, (cos_BT1P, sin_BT1P, mask_B1TS)

    def forward(self, input_ids_BT: torch.Tensor, document_ids_BT: torch.Tensor | None = None,
                position_ids_BT: torch.Tensor | None = None) -> torch.Tensor:
        h_BTD, _ = self.hidden_states(input_ids_BT, document_ids_BT, position_ids_BT)
        return self.lm_head(self.model.norm(h_BTD))

    def mtp_hidden_states(self, h_BTD: torch.Tensor, input_ids_BT: torch.Tensor, rope_and_mask: tuple) -> list[torch.Tensor]:
        """Depth-k MTP hidden states [B, T-k, D], final-normed: position i predicts token i+1+k (training only).
        The trainer feeds them to the chunked cross-entropy with lm_head's weight (lm_head of them: the logits)."""
        if self.mtp is None:
            raise ValueError("this model was built without MTP modules (pass with_mtp=True)")
        cos_BT1P, sin_BT1P, mask_B1TS = rope_and_mask
        out = []
        for k, module in enumerate(self.mtp, start=1):
            T = h_BTD.shape[1] - 1
            mask = None if mask_B1TS is None else mask_B1TS.prefix(T)
            h_BTD = module(h_BTD[:, :T], self.model.embed_tokens(input_ids_BT[:, k : k + T]),
                           cos_BT1P[:, :T], sin_BT1P[:, :T], mask)
            out.append(module.shared_head_norm(h_BTD))
        return out

    # ---- generation with a latent KV cache --------------------------------------------------------
    def forward_latent(self, input_ids_BT: torch.Tensor, position_ids_BT: torch.Tensor, cache,
                       slot: int | torch.Tensor, mask_B1TS: torch.Tensor, last_only: bool = True,
                       logits_at: torch.Tensor | None = None, return_hidden: bool = False):
        """Run T new tokens against `cache` (an axk1.model.LatentKVCache, or a PagedLatentCache step view), writing
        at `slot` (an int, or per-row slots [B] when T = 1); `mask_B1TS` (boolean, True = attend; or the additive
        float bias, 0 / -inf) spans the cache slots to attend over. logits_at: token indices [K] along T whose
        logits to return ([B, K, V]; for prompts packed into one row, where only some tokens end a prompt).
        return_hidden: (logits, the last layer's output [B, T, D] for every token, before the final norm: what MTP
        drafts from)."""
        B, T = input_ids_BT.shape
        if T == 1 and logits_at is None and not return_hidden:  # decoding: the hot path on plain tensors (generate keeps one decoder)
            return LatentDecoder(self)(input_ids_BT, position_ids_BT, cache, slot, mask_B1TS)
        h_BTD = self.model.embed_tokens(input_ids_BT)
        # The rope rotation is built once for all layers (rope_rotation).
        rot_BTRR = rope_rotation(*self.model.rotary_emb(position_ids_BT), self.config.rope_interleave)
        if rot_BTRR.dtype != h_BTD.dtype:  # apply_rope rounds cos and sin to the activations' dtype the same way
            rot_BTRR = rot_BTRR.to(h_BTD.dtype)
        for i, layer in enumerate(self.model.layers):
            h_BTD = layer.forward_latent(h_BTD, rot_BTRR, cache.latent[i], slot, mask_B1TS)
        hidden_BTD = h_BTD
        if logits_at is not None:
            h_BTD = h_BTD[:, logits_at]
        elif last_only:
            h_BTD = h_BTD[:, -1:]
        logits = self.lm_head(self.model.norm(h_BTD))
        return (logits, hidden_BTD) if return_hidden else logits


def check_token_ids(input_ids: torch.Tensor, config: ModelConfig) -> None:
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be an integer tensor, got {input_ids.dtype}")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be [batch, tokens], got shape {tuple(input_ids.shape)}")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= config.vocab_size):
        bad = input_ids[(input_ids < 0) | (input_ids >= config.vocab_size)][0].item()
        raise ValueError(f"token id {bad} is out of range for vocab_size={config.vocab_size} (valid: 0..{config.vocab_size - 1})")
