"""The annotate stage's steps after deduplication, in order, as the extract stage's filters are one list
(axk1/data/filter_steps.py). Each entry lives beside its step and is called as

    build(annotate: AnnotateConfig, exclusions: Callable[[str], writer]) -> a datatrove step, or None when off

`exclusions(name)` is the writer for `excluded/<name>/`, which the run's accounting reads (axk1/data/stats.py). A
new annotation or annotate-stage filter is one module holding its step and builder, and one entry below (settings
of its own: a key in AnnotateConfig, axk1/data/config.py).
"""

from __future__ import annotations

from typing import Any, Callable

from datatrove.pipeline.base import PipelineStep

from axk1.data.classify import domain_step
from axk1.data.difficulty import difficulty_step
from axk1.data.disorder_filter import disordered_step
from axk1.data.filter_entry import Exclusions

AnnotateBuilder = Callable[[Any, Exclusions], "PipelineStep | None"]

# the domain label; the difficulty score and signals; then the removal of the text those signals flag as disordered
ANNOTATE_STEPS: list[AnnotateBuilder] = [domain_step, difficulty_step, disordered_step]


def annotate_steps(annotate, exclusions: Exclusions) -> list[PipelineStep]:
    """The steps of ANNOTATE_STEPS that the configuration switches on, in order."""
    steps = (build(annotate, exclusions) for build in ANNOTATE_STEPS)
    return [step for step in steps if step is not None]
