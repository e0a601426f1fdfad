"""One entry of the extract stage's filter list (axk1/data/filter_steps.py), declared by the filter's own module:
how to build its datatrove step and which settings table it reads. The [filters] section of pipeline.toml
(FilterConfig, axk1/data/config.py) gains a `[filters.<table>]` for every entry that names one, so a new filter
with settings is its module and one line in the list, and the loader accepts its table with no further edit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter

Exclusions = Callable[[str], JsonlWriter]  # name -> the writer for excluded/<name>/


@dataclass(frozen=True)
class FilterEntry:
    # (its settings, exclusions) -> the step, or None when the settings switch it off. Its settings are its
    # [filters.<table>] table (an instance of `config`), or the whole [filters] section when it has no table.
    build: Callable[[Any, Exclusions], PipelineStep | None]
    table: str = ""
    config: type | None = None  # the dataclass of [filters.<table>]; its defaults are the table's
    # runs before site boilerplate removal, which writes and counts the pages (axk1/data/pipeline.py); such
    # entries lead the list
    before_site_boilerplate: bool = False

    def __post_init__(self) -> None:
        if bool(self.table) != (self.config is not None):
            raise ValueError(f"FilterEntry {self.build.__name__}: give both table and config, or neither")

    def __call__(self, filters: Any, exclusions: Exclusions) -> PipelineStep | None:
        """Built from the whole [filters] section, as a plain builder function in the list is."""
        return self.build(getattr(filters, self.table) if self.table else filters, exclusions)
