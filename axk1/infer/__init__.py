"""Inference: generation over the latent KV cache (generate.py), sampling rules (sampling.py)."""

import sys
import types

__all__ = ["GenerationResult", "generate"]

# The names are imported on first use (PEP 562), so that the package's torch-free modules (the `axk1 serve` flags,
# engine_config.py) load without torch: building the command line's parser imported it (`axk1 --help`, 2 s).


def __getattr__(name: str):
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("axk1.infer.generate"), name)  # the module, not the attribute
    raise AttributeError(f"module 'axk1.infer' has no attribute {name!r}")


class _Package(types.ModuleType):
    """`axk1.infer.generate` is the function, as `from axk1.infer import generate` has always given, also once the
    submodule of that name is loaded: the import system then sets the package's attribute to the module."""

    def __setattr__(self, name: str, value) -> None:
        if name == "generate" and isinstance(value, types.ModuleType):
            value = value.generate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
