"""Synthetic training data from parsed documents, written by a teacher model behind an OpenAI-compatible API.

recipe.py (TOML → dataclasses), documents.py (documents → passages), text.py (language, key spans; n-grams are axk1.text.ngrams),
formats.py (teacher reply → sample), filters.py (checks, decontamination), dedup.py (MinHash), teacher.py
(client + response cache), pipeline.py (the run, with accounting), cli.py (`axk1 data synth`).
"""

__all__ = ["SynthRecipe", "SynthSummary", "load_synth_recipe", "run_synth"]
_MODULE = {"SynthRecipe": "recipe", "load_synth_recipe": "recipe", "SynthSummary": "pipeline", "run_synth": "pipeline"}


def __getattr__(name: str):
    """The names on first use (PEP 562): `axk1 data synth`'s flags (synth/cli.py, built with every verb's parser)
    need neither the pipeline nor its imports."""
    if name in _MODULE:
        import importlib

        return getattr(importlib.import_module(f"axk1.synth.{_MODULE[name]}"), name)
    raise AttributeError(f"module 'axk1.synth' has no attribute {name!r}")
