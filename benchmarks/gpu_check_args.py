"""The GPU check's two settings from its command line (benchmarks/gpu_check.py): --model, the model's shape, and
--set, a module-level setting to try in the same GPU run; each refused with the reason before anything runs."""

from __future__ import annotations

from axk1 import ModelConfig


def model_overrides(assignments: list[str]) -> dict:
    """`NAME=VALUE` pairs for the model's shape (--model), each a field of ModelConfig and VALUE a Python literal."""
    import ast
    import dataclasses

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    out = {}
    for text in assignments:
        name, _, value = text.partition("=")
        name = name.strip()
        if name not in fields or name in ("vocab_size", "max_position_embeddings"):
            raise SystemExit(f"gpu_check: --model {text!r}: not a model field this check lets you set (ModelConfig's "
                             f"fields but vocab_size and max_position_embeddings, which the check sets)")
        try:
            out[name] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as e:
            raise SystemExit(f"gpu_check: --model {text!r}: {e} (give NAME=VALUE, VALUE a Python literal)")
    return out


def apply_settings(assignments: list[str]) -> dict:
    """`MODULE.NAME=VALUE` → setattr(import_module(MODULE), NAME, literal_eval(VALUE)) for an existing NAME; returns
    {MODULE.NAME: (old, new)} for the JSON."""
    import ast
    import importlib

    done = {}
    for text in assignments:
        target, _, value = text.partition("=")
        module_name, _, name = target.strip().rpartition(".")
        try:
            module = importlib.import_module(module_name)
            new = ast.literal_eval(value.strip())
        except (ImportError, ValueError, SyntaxError) as e:
            raise SystemExit(f"gpu_check: --set {text!r}: {e} (give MODULE.NAME=VALUE, VALUE a Python literal)")
        if not hasattr(module, name):
            raise SystemExit(f"gpu_check: --set {text!r}: {module_name} has no {name!r} to set")
        done[target.strip()] = [repr(getattr(module, name)), repr(new)]
        setattr(module, name, new)
    return done
