"""Inference: generation over the latent KV cache (generate.py), sampling rules (sampling.py)."""

from axk1.infer.generate import GenerationResult, generate

__all__ = ["GenerationResult", "generate"]
