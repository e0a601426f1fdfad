"""docs/configuration.md's "Which files" table names every table of each file it lists: the pipeline file's [web]
(and the recipe's [validation]) were left out, so a reader of the table did not know they exist."""

import dataclasses
import re
from pathlib import Path

import pytest

from axk1.data.config import FilterConfig, PipelineConfig
from axk1.synth.recipe import SynthRecipe
from axk1.train.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]


def _row(verb: str) -> str:
    text = (ROOT / "docs" / "configuration.md").read_text()
    return next(line for line in text.splitlines() if line.startswith(f"| `{verb}` |"))


def _tables(cls) -> set[str]:
    """The fields of `cls` that are tables ([name] or [[name]]) in its file."""
    return {f.name for f in dataclasses.fields(cls) if f.init and (dataclasses.is_dataclass(f.type) or
            "Config" in str(f.type))}


@pytest.mark.parametrize("verb, cls", [("axk1 train", Recipe), ("axk1 data run", PipelineConfig),
                                       ("axk1 data synth --recipe", SynthRecipe)])
def test_the_table_names_every_table_of_the_file(verb, cls):
    named = set(re.findall(r"[\w]+", _row(verb).split("|")[4]))
    assert _tables(cls) <= named, sorted(_tables(cls) - named)


def test_the_pipeline_row_names_the_filter_subtables():
    named = set(re.findall(r"[\w]+", _row("axk1 data run").split("|")[4]))
    assert _tables(FilterConfig) <= named, sorted(_tables(FilterConfig) - named)
