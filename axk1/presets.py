"""Named model shapes. `axk1-519b` is the released A.X K1; the others keep its structure at smaller sizes."""

from __future__ import annotations

from typing import Any

# The released YaRN block's values besides its factor and the length it extends from (docs/model.md): the one copy,
# which `axk1 export --yarn` and the long-context demo's stage write too.
YARN_VALUES: dict[str, Any] = {"type": "yarn", "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0}


def yarn_block(factor: float, original: int) -> dict[str, Any]:
    """A config.json rope_scaling block: YaRN by `factor` from `original` tokens, with the release's other values."""
    return {**YARN_VALUES, "factor": float(factor), "original_max_position_embeddings": original}


# The released shape (docs/model.md, "Released configuration"). The YaRN block (factor 4 from 32K to 128K) is the best
# public reconstruction, not a verified copy of the hub's config.json.
AXK1_519B: dict[str, Any] = dict(
    vocab_size=163840, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
    num_hidden_layers=61, first_k_dense_replace=1, num_attention_heads=64, q_lora_rank=1536, kv_lora_rank=512,
    qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=192, n_shared_experts=1,
    num_experts_per_tok=8, n_group=8, topk_group=4, routed_scaling_factor=2.5, norm_topk_prob=True,
    rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=131072,
    rope_scaling=yarn_block(4.0, 32768),
    num_nextn_predict_layers=1, tie_word_embeddings=False, bos_token_id=163691, eos_token_id=163691,
)

# The special-token ids of a tokenizer trained by `axk1 data` (axk1.text.tokenizer_file.SPECIAL_TOKENS, in that
# order: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2, <|pad|> 3). The models trained on its shards need them in
# config.json: generation, RL rollouts and transformers stop at config.json's eos, so an eos of A.X K1's 163691
# (an ordinary merge in an axk1 tokenizer) never stops at the chat turn's end <|im_end|>.
AXK1_TOKENIZER_IDS: dict[str, int] = dict(bos_token_id=0, eos_token_id=2, pad_token_id=3)

PRESETS: dict[str, dict[str, Any]] = {
    "axk1-519b": AXK1_519B,
    # Unit tests: every mechanism (dense layer, groups, shared expert, MTP) at a size that runs in milliseconds. Its
    # ids (pad 0, bos 1, eos 2) are those of the word-level tokenizers the tests and demo-long build for it.
    "axk1-tiny": dict(
        vocab_size=512, hidden_size=64, intermediate_size=160, moe_intermediate_size=32, num_hidden_layers=3,
        first_k_dense_replace=1, num_attention_heads=4, q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16,
        qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2,
        n_group=4, topk_group=2, max_position_embeddings=1024, num_nextn_predict_layers=1,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    ),
    # CPU demos and the end-to-end pipeline.
    "axk1-mini": dict(
        vocab_size=32768, hidden_size=384, intermediate_size=1024, moe_intermediate_size=192, num_hidden_layers=6,
        first_k_dense_replace=1, num_attention_heads=6, q_lora_rank=192, kv_lora_rank=128, qk_nope_head_dim=48,
        qk_rope_head_dim=32, v_head_dim=48, n_routed_experts=32, n_shared_experts=1, num_experts_per_tok=4,
        n_group=4, topk_group=2, max_position_embeddings=4096, num_nextn_predict_layers=1,
        **AXK1_TOKENIZER_IDS,
    ),
    # One GPU: the full A.X K1 vocabulary size, ~2B total parameters, trained with an axk1 tokenizer of that size.
    "axk1-gpu-small": dict(
        vocab_size=163840, hidden_size=1024, intermediate_size=4096, moe_intermediate_size=512, num_hidden_layers=16,
        first_k_dense_replace=1, num_attention_heads=16, q_lora_rank=512, kv_lora_rank=256, qk_nope_head_dim=64,
        qk_rope_head_dim=32, v_head_dim=64, n_routed_experts=64, n_shared_experts=1, num_experts_per_tok=6,
        n_group=8, topk_group=4, max_position_embeddings=32768, num_nextn_predict_layers=1,
        **AXK1_TOKENIZER_IDS,
    ),
}
