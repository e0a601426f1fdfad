"""Compute planning: from GPUs x days to a model size, a token count, a config.json and a recipe.toml.

axk1.hardware (GPU table, FLOP budget) -> scaling.py (laws) -> axk1.flops (closed-form counts, FLOPs; arch.py
the planner's shape measures) -> memory.py (layouts) -> search.py (architecture search) -> planner.py (the plan) -> recipe.py, report.py (files).
"""
