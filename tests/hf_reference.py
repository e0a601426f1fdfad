"""Helpers that build random transformers `AXK1ForCausalLM` models (the reference implementation)."""

from __future__ import annotations

import logging

import torch
from transformers import AXK1Config, AXK1ForCausalLM
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()
logging.getLogger("transformers").setLevel(logging.ERROR)

YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 64,
        "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}


def hf_config(yarn: bool = False, n_group: int = 4, topk_group: int = 2, **overrides) -> AXK1Config:
    kwargs = dict(
        vocab_size=384, hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=3,
        n_group=n_group, topk_group=topk_group, q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16,
        qk_rope_head_dim=8, v_head_dim=16, max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
        first_k_dense_replace=1, rope_parameters=dict(YARN) if yarn else {"rope_type": "default", "rope_theta": 10000.0},
    )
    kwargs.update(overrides)
    return AXK1Config(**kwargs)


def random_hf_model(config: AXK1Config, bias: bool = True, seed: int = 0) -> AXK1ForCausalLM:
    torch.manual_seed(seed)
    model = AXK1ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)  # non-trivial norms, so a norm applied in the wrong place shows
            else:
                p.normal_(0.0, 0.08)
        if bias:
            for module in model.modules():
                if hasattr(module, "e_score_correction_bias"):
                    module.e_score_correction_bias.normal_(0.0, 0.2)
    return model
