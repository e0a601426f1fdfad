"""StarCoder-style checks on code documents, as a datatrove filter, each removal with a reason. Prose goes through
axk1/data/quality_filter.py instead; settings under [filters.code] in pipeline.toml."""

from __future__ import annotations

from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from axk1.data.filter_entry import FilterEntry
from axk1.data.quality_filter import is_prose


@dataclass
class CodeConfig:
    max_line_length: int = 1000
    max_avg_line_length: float = 100.0
    min_alnum_ratio: float = 0.25
    min_chars: int = 20


class CodeFilter(BaseFilter):
    """StarCoder-style checks on code documents; generated files (marked by the reader) are removed."""

    name = "axk1 code"

    def __init__(self, config: CodeConfig | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.config = config or CodeConfig()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if is_prose(doc):
            return True
        c = self.config
        if doc.metadata.get("generated"):
            return False, "generated_code"
        text = doc.text
        if len(text.strip()) < c.min_chars:
            return False, "empty_code"
        lines = text.split("\n")
        if max(map(len, lines)) > c.max_line_length:
            return False, "code_long_lines"
        if len(text) / len(lines) > c.max_avg_line_length:
            return False, "code_avg_line_length"
        if sum(ch.isalnum() for ch in text) / len(text) < c.min_alnum_ratio:
            return False, "code_low_alnum"
        return True


# The extract stage's entry (axk1/data/filter_steps.py): settings under [filters.code]; removals go to excluded/code/.
CODE_STEP = FilterEntry(lambda cfg, exclusions: CodeFilter(cfg, exclusion_writer=exclusions("code")),
                        table="code", config=CodeConfig)
