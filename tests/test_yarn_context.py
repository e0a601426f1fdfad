"""A YaRN model's context: the longer of config.json's max_position_embeddings and factor x
original_max_position_embeddings (ModelConfig.context_length), the length vLLM derives for YaRN. A released config
may hold the original length in max_position_embeddings; transformers runs such a model past it, and so must axk1
(serve's default --max-model-len, generate's limit, eval's)."""

import torch

import axk1
from axk1.infer.engine import Engine
from axk1.infer.generate import generate
from axk1.infer.engine_config import EngineConfig
from tests.hf_reference import YARN, hf_config, random_hf_model


def _yarn(config: axk1.ModelConfig, original: int, factor: float = 4.0) -> axk1.ModelConfig:
    return config.replace(rope_scaling={"type": "yarn", "factor": factor, "original_max_position_embeddings": original})


def test_context_length_is_the_longer_of_max_position_embeddings_and_the_yarn_product(tiny_config):
    assert tiny_config.replace(rope_scaling=None).context_length == tiny_config.max_position_embeddings
    assert _yarn(tiny_config.replace(max_position_embeddings=128), 128).context_length == 512  # the original length
    assert _yarn(tiny_config.replace(max_position_embeddings=512), 128).context_length == 512  # the extended one
    assert _yarn(tiny_config.replace(max_position_embeddings=1024), 128).context_length == 1024  # longer: kept
    assert _yarn(tiny_config.replace(max_position_embeddings=100), 100, 2.5).context_length == 250


def test_a_config_holding_the_original_length_runs_past_it_with_transformers_logits(tmp_path):
    """transformers' own YaRN model, saved with max_position_embeddings = the original 64 (factor 4): axk1 loads it
    with a context of 256, its logits at positions 64..199 are transformers', and the engine serves 256 by default
    (before: "sequence of 200 tokens exceeds max_position_embeddings=64", and serve's context 64)."""
    original = YARN["original_max_position_embeddings"]
    reference = random_hf_model(hf_config(yarn=True, max_position_embeddings=original), seed=5)
    reference.save_pretrained(tmp_path)
    ours = axk1.load_model(tmp_path, dtype=torch.float32)
    assert ours.config.max_position_embeddings == original and ours.config.context_length == 4 * original
    ids = torch.randint(3, 384, (1, 200), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = reference(ids).logits
        got = ours(ids)
    assert (got[:, original:] - expected[:, original:]).abs().max().item() <= 1e-4
    assert Engine(ours, EngineConfig(max_batch=1)).max_model_len == 4 * original
    out = generate(ours, [ids[0].tolist()], max_new_tokens=56, stop_ids=[])  # to the last position of the context
    assert len(out.tokens[0]) == 56
