"""A law file without what a plan's safeguards read: no runs (the fitted range), no samples (the band), a NaN
interval; the plan says what it cannot know, and its JSON stays strict."""

import dataclasses
import json
import math

import pytest

from axk1.plan.law_file import load_law_file
from axk1.plan.planner import make_plan
from axk1.plan.report import constraint_lines, write_outputs
from tests.plan_helpers import make_law_file


def _strict_load(text: str):
    """json.loads that refuses NaN and Infinity, as a strict JSON reader does."""
    def refuse(name):
        raise AssertionError(f"{name} in the JSON")
    return json.loads(text, parse_constant=refuse)


def test_a_law_without_runs_warns_its_range_is_unknown(tmp_path):
    law = make_law_file(tmp_path)
    law.runs = []
    path = law.save(tmp_path / "norange.json")
    plan = make_plan("H200", 8, 1, law=str(path), serve_gpus=0)
    assert any("lists no runs" in w and "how far this plan extrapolates" in w for w in plan.warnings)


def test_no_samples_no_band_and_strict_json(tmp_path, monkeypatch, capsys):
    law = make_law_file(tmp_path)
    law.law = dataclasses.replace(law.law, samples=())
    law.intervals = {"E": [math.nan, math.nan]}
    path = law.save(tmp_path / "noband.json")
    text = path.read_text()
    _strict_load(text)  # the NaN interval is null, not a bare NaN
    assert math.isnan(load_law_file(path).intervals["E"][0])  # ... and read back as "not measured"
    plan = make_plan("H200", 1024, 73, law=str(path), serve_gpus=0)
    lines = "\n".join(constraint_lines(plan) + plan.warnings)
    assert "its band says" not in lines and "nothing bounds the error" in lines  # no band: say so, not "its band"
    assert "plausible fits" not in lines
    files = write_outputs(plan, tmp_path / "out")
    doc = _strict_load(files["json"].read_text())
    assert doc["predicted_loss_band"] == [None, None]
    from axk1.cli import main

    assert main(["plan", "--gpu", "H200", "--gpus", "8", "--days", "1", "--law", str(path), "--json"]) == 0
    _strict_load(capsys.readouterr().out)


def test_a_null_interval_is_read_as_not_measured(tmp_path):
    doc = json.loads(json.dumps(make_law_file(tmp_path).to_dict()))
    doc["intervals"] = {"E": [None, None]}
    path = tmp_path / "law.json"
    path.write_text(json.dumps(doc))
    assert math.isnan(load_law_file(path).intervals["E"][1])


@pytest.mark.parametrize("field", ["A", "B"])
def test_one_of_A_and_B_zero_is_still_a_law(tmp_path, field):
    doc = json.loads(json.dumps(make_law_file(tmp_path).to_dict()))
    doc.update({field: 0, "samples": [], "runs": []})  # no longer the fit of its runs: a law of the user's own
    path = tmp_path / "law.json"
    path.write_text(json.dumps(doc))
    assert getattr(load_law_file(path).law, field) == 0


def _edited_law(tmp_path, **fields):
    """A law of the test's own: no samples, and no runs (a law file's law must fit the runs it lists)."""
    doc = json.loads(json.dumps(make_law_file(tmp_path).to_dict()))
    doc.update(samples=[], runs=[], alpha=0.3325, beta=0.3525, **fields)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_tokens_per_parameter_floor_holds_on_the_long_context_layout(tmp_path):
    """A law that wants the largest model it can get (a large model term, a small data term): the plan went to 7.6
    tokens per activated parameter, under its floor of 10, because the floor was checked at the base length and the
    32K layout's recompute then cut the tokens by a quarter."""
    plan = make_plan("H100", 8, 1, law=_edited_law(tmp_path, E=0.0, A=2e4, B=10.0))
    for cand in plan.candidates:
        assert cand.tokens >= 10 * cand.activated, (cand.tokens / cand.activated, cand.memory.layout)
    assert plan.rejected.get("tokens per parameter (min)")


def test_a_law_predicting_losses_above_a_uniform_guess_is_refused(tmp_path):
    """A = 1e308 (finite, non-negative: it passes the field checks) planned a "predicted loss" of 300 digits."""
    with pytest.raises(ValueError, match=r"predicts a loss of 2.\d+e\+304 nats .* not below ln\(\d[\d,]*\) = "
                                         r"\d+\.\d\d, a uniform guess's: its constants \(E 1.5, A 1e\+308"):
        make_plan("H100", 8, 1, law=_edited_law(tmp_path, E=1.5, A=1e308, B=1698.0))


def test_a_law_fitted_at_another_vocabulary_says_so_once(tmp_path):
    """A law fitted on byte-level runs (vocabulary 320) planned a 15,488-token model's "predicted loss" in nats per
    byte-token without a word."""
    law = make_law_file(tmp_path)
    plain = make_plan("H200", 8, 1, law=str(law.save(tmp_path / "plain.json")), serve_gpus=0)
    assert not any("vocabulary" in w for w in plain.warnings)  # runs that record no vocabulary: nothing to say
    law.runs = [{**r, "setting": "seq_len 128, vocabulary 320, data d, tokenizer bytes"} for r in law.runs]
    plan = make_plan("H200", 8, 1, law=str(law.save(tmp_path / "bytes.json")), serve_gpus=0)
    said = [w for w in plan.warnings if "vocabulary" in w]
    assert len(said) == 1 and "vocabulary of 320" in said[0] and f"{plan.best.config.vocab_size:,}" in said[0]
    assert "nats per token of another tokenizer" in said[0]
