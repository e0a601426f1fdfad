"""The extract stage's filters, in the order documents meet them (datatrove's way: a pipeline is a list of small
steps). Each entry is a builder living beside its filter:

    build(filters: FilterConfig, exclusions: Callable[[str], writer]) -> a datatrove step, or None when switched off

`exclusions(name)` is the writer for `excluded/<name>/`, where the step's removed documents go with their reason
(the run's accounting, axk1/data/stats.py, reads every folder there). A new filter is one module holding its step
and its builder, one entry below, and a field for its settings in FilterConfig (axk1/data/config.py), which the
typed TOML loader needs to accept `[filters.<name>]`.
"""

from __future__ import annotations

from typing import Callable

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter

from axk1.data.config import FilterConfig
from axk1.data.decontaminate import decontamination_step
from axk1.data.filters import code_step, quality_step
from axk1.data.korean_signals import korean_signals_step
from axk1.data.lid import language_step
from axk1.data.perplexity import perplexity_step
from axk1.data.pii import pii_step
from axk1.data.url_filter import url_step

Exclusions = Callable[[str], JsonlWriter]
FilterBuilder = Callable[[FilterConfig, Exclusions], "PipelineStep | None"]

# PII first, so that no excluded/ folder keeps a phone number (excluded/url/ did, written before the scrubber ran;
# the URL check reads metadata.url alone, never the text); URLs next (the cheapest check); language before the
# Korean signals and quality, which read its label; benchmark decontamination on what they kept, code included;
# the perplexity model last, the costliest. With site boilerplate removal the pipeline runs the PII step earlier
# still, before extracted/ (axk1/data/pipeline.py).
EXTRACT_FILTERS: list[FilterBuilder] = [pii_step, url_step, language_step, korean_signals_step, quality_step,
                                        code_step, decontamination_step, perplexity_step]


def extract_filters(filters: FilterConfig, exclusions: Exclusions) -> list[PipelineStep]:
    """The steps of EXTRACT_FILTERS that the configuration switches on, in order."""
    steps = (build(filters, exclusions) for build in EXTRACT_FILTERS)
    return [step for step in steps if step is not None]
