"""Compute planning: from GPUs x days to a model size, a token count, a config.json and a recipe.toml.

axk1.hardware (GPU table, FLOP budget) -> scaling.py (laws) -> axk1.flops (closed-form counts, FLOPs; arch.py
the planner's shape measures) -> memory.py (layouts) -> search.py (architecture search) -> planner.py (the plan) -> recipe.py, report.py (files).
"""

__all__ = ["Plan", "make_plan"]


def __getattr__(name: str):
    """The names on first use (PEP 562): the planner imports the trainer's recipe and with it torch, which the
    `axk1 plan` flags (plan/cli.py, built with every verb's parser) do not need."""
    if name in __all__:
        from axk1.plan import planner

        return getattr(planner, name)
    raise AttributeError(f"module 'axk1.plan' has no attribute {name!r}")
