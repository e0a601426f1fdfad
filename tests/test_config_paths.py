"""The one path rule of every recipe (axk1/toml_file.py, docs/configuration.md): the root class declares its path
keys and the names such a key may hold that are no file, and `resolve_declared` resolves them against the file's
folder. The data pipeline resolved "humaneval" to <folder>/humaneval and undid it where it was read (a missing
"sub/humaneval" silently became the bundled set); synth compared a literal and resolved a command-line benchmark
against the recipe's folder, not the current one."""

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from axk1.data.config import PipelineConfig, config_from_dict, load_pipeline_config
from axk1.data.decontaminate import check_benchmarks
from axk1.synth.recipe import load_synth_recipe
from axk1.toml_file import load_toml, resolve_declared

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class _Inner:
    files: list[str] = field(default_factory=list)
    table: dict[str, str] = field(default_factory=dict)


@dataclass
class _Root:
    out: str = "out"
    inner: list[_Inner] = field(default_factory=list)
    path_keys: ClassVar[tuple[str, ...]] = ("out", "inner.*.files", "inner.*.table")
    builtin_names: ClassVar[dict[str, tuple[str, ...]]] = {"inner.*.files": ("bundled",)}


def test_resolve_declared_resolves_the_declared_keys_and_keeps_builtin_names(tmp_path):
    root = _Root(inner=[_Inner(files=["bundled", "a.jsonl", "./bundled", "/abs/b", ""], table={"ko": "m.bin"})])
    resolve_declared(root, tmp_path)
    assert root.out == str(tmp_path / "out")
    assert root.inner[0].files == ["bundled", str(tmp_path / "a.jsonl"), str(tmp_path / "bundled"), "/abs/b", ""]
    assert root.inner[0].table == {"ko": str(tmp_path / "m.bin")}


def test_command_line_paths_are_relative_to_the_current_folder_but_builtin_names(tmp_path, monkeypatch):
    (tmp_path / "r.toml").write_text("")
    monkeypatch.chdir(tmp_path / "..")
    raw = load_toml(tmp_path / "r.toml", "recipe", None, ["--inner.files", '["bundled", "x"]', "--run.out", "o"],
                    ("inner.files", "run.out"), {"inner.files": ("bundled",)})
    here = tmp_path.parent
    assert raw == {"inner": {"files": ["bundled", str(here / "x")]}, "run": {"out": str(here / "o")}}


def _pipeline(benchmarks: list[str]) -> dict:
    return {"run": {"stages": ["dedup"]}, "filters": {"decontamination": {"benchmarks": benchmarks}}}


def test_a_pipeline_keeps_humaneval_as_the_bundled_sets_name(tmp_path, monkeypatch):
    cfg = config_from_dict(_pipeline(["humaneval", "b.jsonl"]), tmp_path)
    assert cfg.filters.decontamination.benchmarks == ["humaneval", str(tmp_path / "b.jsonl")]
    toml = tmp_path / "p.toml"
    toml.write_text('[run]\nstages = ["dedup"]\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_pipeline_config(toml, ["--filters.decontamination.benchmarks", '["humaneval"]'])
    assert cfg.filters.decontamination.benchmarks == ["humaneval"]
    assert PipelineConfig.builtin_names == {"filters.decontamination.benchmarks": ("humaneval",)}


def test_a_missing_file_named_like_the_bundled_set_is_an_error_not_the_bundled_set(tmp_path):
    cfg = config_from_dict(_pipeline(["sub/humaneval"]), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"benchmark file .*sub/humaneval does not exist"):
        check_benchmarks(cfg.filters.decontamination)


def _synth_recipe(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes"
    shutil.copytree(ROOT / "recipes" / "synth", folder)
    return folder / "default.toml"


def test_a_synth_recipe_resolves_its_declared_paths(tmp_path, monkeypatch):
    path = _synth_recipe(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    recipe = load_synth_recipe(path, ["--filters.benchmarks", '["humaneval", "b.jsonl"]'])
    # on the command line, relative to the current folder (it was the recipe's)
    assert recipe.filters.benchmarks == ["humaneval", str(tmp_path / "work" / "b.jsonl")]
    assert all(Path(f).is_absolute() and f.is_file() for t in recipe.tasks for f in t.prompts.values())
    text = path.read_text()
    assert '\nbenchmarks = ["humaneval"]\n' in text
    path.write_text(text.replace('\nbenchmarks = ["humaneval"]\n', '\nbenchmarks = ["humaneval", "bench/b.jsonl"]\n'))
    recipe = load_synth_recipe(path)  # in the file: relative to the recipe's folder
    assert recipe.filters.benchmarks == ["humaneval", str(path.parent / "bench" / "b.jsonl")]
