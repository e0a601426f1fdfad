"""axk1: build, train, evaluate and serve A.X K1-style Mixture-of-Experts language models."""

from axk1.config import ModelConfig
from axk1.model import AXK1ForCausalLM
from axk1.checkpoint.hf import load_model, save_pretrained

__version__ = "0.1.0"

__all__ = ["AXK1ForCausalLM", "ModelConfig", "load_model", "save_pretrained", "__version__"]
