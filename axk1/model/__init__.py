"""The A.X K1 network in plain PyTorch. Imports nothing from the rest of axk1 except the config and rope_scaling
(config.json's YaRN rope_scaling block, which the RoPE reads), both in layers below it."""

from axk1.model.latent_decode import LatentDecoder
from axk1.model.kv_cache import LatentKVCache
from axk1.model.transformer import AXK1ForCausalLM, check_token_ids

__all__ = ["AXK1ForCausalLM", "LatentDecoder", "LatentKVCache", "check_token_ids"]
