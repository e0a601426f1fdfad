"""The extract stage's filters, in the order documents meet them (datatrove's way: a pipeline is a list of small
steps). Each entry lives beside its filter and is called as

    entry(filters: FilterConfig, exclusions: Callable[[str], writer]) -> a datatrove step, or None when switched off

`exclusions(name)` is the writer for `excluded/<name>/`, where the step's removed documents go with their reason
(the run's accounting, axk1/data/stats.py, reads every folder there). An entry is a FilterEntry
(axk1/data/filter_entry.py), which names its settings table and dataclass: FilterConfig (axk1/data/config.py) gains
`[filters.<table>]` from this list. A new filter is one module holding its step and its entry, and one line below.
"""

from __future__ import annotations

from typing import Any, Callable

from datatrove.pipeline.base import PipelineStep

from axk1.data.code_filter import CODE_STEP
from axk1.data.decontaminate import DECONTAMINATION_STEP
from axk1.data.filter_entry import Exclusions
from axk1.data.korean_signals import KOREAN_SIGNALS_STEP
from axk1.data.lid import language_step
from axk1.data.perplexity import PERPLEXITY_STEP
from axk1.data.pii import PII_STEP
from axk1.data.quality_filter import QUALITY_STEP
from axk1.data.url_filter import URL_STEP

FilterBuilder = Callable[[Any, Exclusions], "PipelineStep | None"]  # a FilterEntry, or a function of [filters]

# PII first, so that no excluded/ folder keeps a phone number (excluded/url/ did, written before the scrubber ran;
# the URL check reads metadata.url alone, never the text); URLs next (the cheapest check); language before the
# Korean signals and quality, which read its label; benchmark decontamination on what they kept, code included;
# the perplexity model last, the costliest. Entries marked before_site_boilerplate (PII) lead the list: with site
# boilerplate removal they run before the pages are written and counted (axk1/data/pipeline.py).
EXTRACT_FILTERS: list[FilterBuilder] = [PII_STEP, URL_STEP, language_step, KOREAN_SIGNALS_STEP, QUALITY_STEP,
                                        CODE_STEP, DECONTAMINATION_STEP, PERPLEXITY_STEP]


def extract_filters_around_site_boilerplate(filters, exclusions: Exclusions) -> tuple[list, list]:
    """The steps of EXTRACT_FILTERS that the configuration switches on, in order, split where site boilerplate
    removal goes: the leading entries marked before_site_boilerplate, then the rest."""
    built = [(getattr(build, "before_site_boilerplate", False), build(filters, exclusions))
             for build in EXTRACT_FILTERS]
    built = [(early, step) for early, step in built if step is not None]
    cut = next((i for i, (early, _) in enumerate(built) if not early), len(built))
    return [step for _, step in built[:cut]], [step for _, step in built[cut:]]
