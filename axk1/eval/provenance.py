"""The short content hash that names what a run measured (dataset, prompts, translations) in its report.

Its own module, below both the tasks and the translator: translate.py took it from tasks/base.py, and importing
that package first (its __init__ imports lcb_ko, which imports translate) made `import axk1.eval.translate` fail
with a circular import whenever translate was the first eval module loaded."""

from __future__ import annotations

from axk1.json_text import json_digest


def digest(obj) -> str:
    """Short content hash for provenance (dataset, prompts, translations)."""
    return json_digest(obj)[:16]
