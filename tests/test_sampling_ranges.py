"""The one range check of temperature, top_p and top_k (axk1/sampling_ranges.py) is the one every generator uses:
generation's check_sampling, the eval backends' Sampling, RL's [rl] keys and the synth teacher's [teacher] keys
accept and refuse the same values, each error naming the setting as its user wrote it. The copies had drifted: the
synth recipe took `temperature = inf`, which the others refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from axk1.eval.backends import Sampling
from axk1.infer.sampling import check_sampling
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.sampling_ranges import RULES, sampling_problems
from axk1.synth.recipe import load_synth_recipe
from tests.serve_helpers import make_model_folder
from tests.posttrain_helpers import minimal_rl_recipe

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("ranges") / "base")


def _callers(temperature: float, top_p: float, folder: Path, tmp_path: Path) -> dict:
    """Each caller run on the two settings: None where it accepted them, else its error."""
    def rl():
        raw = minimal_rl_recipe(tmp_path, folder)
        raw["rl"].update(temperature=temperature, top_p=top_p)
        parse_rl_recipe(raw, tmp_path)

    runs = {"infer": lambda: check_sampling(temperature, top_p, 0),
            "eval": lambda: Sampling(temperature=temperature, top_p=top_p),
            "rl": rl,
            "synth": lambda: load_synth_recipe(ROOT / "recipes" / "synth" / "default.toml",
                                               ["--teacher.temperature", repr(temperature),
                                                "--teacher.top_p", repr(top_p)])}
    out = {}
    for name, run in runs.items():
        try:
            run()
            out[name] = None
        except ValueError as e:
            out[name] = str(e)
    return out


@pytest.mark.parametrize("temperature, top_p, field", [
    (INF, 0.9, "temperature"), (NAN, 0.9, "temperature"), (-0.5, 0.9, "temperature"),
    (0.7, 0.0, "top_p"), (0.7, 1.5, "top_p"), (0.7, NAN, "top_p"), (0.7, -INF, "top_p")])
def test_every_caller_refuses_what_the_shared_check_refuses_naming_the_setting(temperature, top_p, field, folder,
                                                                              tmp_path):
    assert field in sampling_problems(temperature, top_p)
    said = _callers(temperature, top_p, folder, tmp_path)
    assert all(e is not None and field in e for e in said.values()), said


@pytest.mark.parametrize("temperature, top_p", [(0.7, 0.9), (1.0, 1.0), (1e-3, 1e-300)])
def test_every_caller_accepts_what_the_shared_check_accepts(temperature, top_p, folder, tmp_path):
    assert sampling_problems(temperature, top_p) == {}
    assert _callers(temperature, top_p, folder, tmp_path) == dict.fromkeys(("infer", "eval", "rl", "synth"))


def test_the_rules_are_the_words_of_each_callers_error(folder, tmp_path):
    """Each caller says the shared rule, not its own (the eval backends said "0 < top_p <= 1", the synth recipe
    "temperature ... >= 0"): one place to change what a range is, each error naming the setting its way."""
    for temperature, top_p, field in ((-0.5, 0.9, "temperature"), (0.7, 1.5, "top_p")):
        said = _callers(temperature, top_p, folder, tmp_path)
        assert all(RULES[field] in e for e in said.values()), said
        assert said["rl"].startswith(f"[rl] {field} must be") and said["infer"].startswith(f"{field} must be")
        assert f"--teacher.{field} override" in said["synth"] and "bad sampling settings" in said["eval"]
