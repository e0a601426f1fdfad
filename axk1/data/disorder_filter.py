"""Text in random order (characters shuffled: spam generators, broken extraction) leaves the run at annotation.

Its difficulty signals measure the disorder, not a difficulty (axk1/data/difficulty.py, `disordered`), and it scores
0, which is the easiest bucket: d0, the one a curriculum's first stage reads (recipes/demo.toml). Kept there it was
trained as the easiest data. So the annotate stage removes it, after the difficulty annotator that flags it, to
excluded/disordered/ with the reason below, where the run's accounting counts it (axk1/data/stats.py)."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

REASON = "disordered_text"


class DisorderedTextFilter(BaseFilter):
    name = "axk1 disordered text"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("difficulty_signals", {}).get("disordered"):
            return False, REASON
        return True


def disordered_step(annotate, exclusions) -> DisorderedTextFilter:
    """The annotate stage's entry (axk1/data/annotate_steps.py), after the difficulty annotator that flags the
    text; removals go to excluded/disordered/."""
    return DisorderedTextFilter(exclusion_writer=exclusions("disordered"))
