"""axk1: build, train, evaluate and serve A.X K1-style Mixture-of-Experts language models."""

from axk1.version import __version__

__all__ = ["AXK1ForCausalLM", "ModelConfig", "load_model", "save_pretrained", "__version__"]

# The model API is imported on first use (PEP 562), so that `import axk1.data...` (the data verbs) does not
# import torch: start-up of `axk1 data pdf` was 1.1 s of torch for a sub-second job.
_LAZY = {"ModelConfig": "axk1.config", "AXK1ForCausalLM": "axk1.model", "load_model": "axk1.checkpoint.hf",
         "save_pretrained": "axk1.checkpoint.hf"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'axk1' has no attribute {name!r}")
