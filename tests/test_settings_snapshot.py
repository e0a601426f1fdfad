"""axk1/settings_snapshot.py, the one snapshot-and-compare helper of --resume, the ranks' recipe check and a data
run's settings.json, and the snapshots written before it existed: the fixtures under fixtures/settings_snapshot/
were written by main's code at e855e14 (a checkpoint's run definition for recipes/demo.toml; a data run's
settings.json, its temporary folder replaced by {root}), and must still compare equal to the same recipe."""

import json
from pathlib import Path

import pytest

from axk1.settings_snapshot import changed_keys, flat_settings, json_safe, setting_diffs

FIXTURES = Path(__file__).parent / "fixtures" / "settings_snapshot"
REPO = Path(__file__).resolve().parents[1]


def test_json_safe_writes_what_json_cannot_hold_as_its_str_or_refuses_it():
    value = {"a": Path("/x/y"), "b": (1, 2), "c": {"d": None}}
    assert json_safe(value) == {"a": "/x/y", "b": [1, 2], "c": {"d": None}}
    with pytest.raises(TypeError, match="PosixPath"):
        json_safe(value, strict=True)
    inner = {"n": [1]}
    copy = json_safe({"state": inner}, strict=True)
    inner["n"].append(2)  # a snapshot: the caller's dicts keep changing
    assert copy == {"state": {"n": [1]}}


def test_flat_settings_names_every_entry_of_tables_and_lists():
    value = {"stages": [{"tokens": 1}, {"tokens": 2}], "model": {"w": [0.3, 0.1]}, "empty": {}, "none": []}
    assert flat_settings(value) == {"stages.0.tokens": 1, "stages.1.tokens": 2, "model.w.0": 0.3, "model.w.1": 0.1,
                                    "empty": {}, "none": []}


def test_flat_settings_whole_lists_is_a_data_runs_form():
    value = {"sources": [{"path": "a"}], "filters": {"languages": ["ko", "en"], "by": {}}, "stages": []}
    assert flat_settings(value, whole_lists=True) == {"sources.0.path": "a", "filters.languages": ["ko", "en"],
                                                      "stages": []}


def test_setting_diffs_names_each_key_that_differs_or_is_missing():
    old, new = {"a": 1, "b": None, "c": 3}, {"a": 2, "c": 3, "d": "x"}
    assert changed_keys(old, new) == ["a", "b", "d"]
    assert setting_diffs(old, new) == ["a: 1 -> 2", "b: None -> '(none)'", "d: '(none)' -> 'x'"]


def test_setting_diffs_says_a_table_filled_in_by_its_keys_alone():
    """A resume that adds [model] overrides said `model.overrides: {} -> '(none)'; model.overrides.hidden_size:
    '(none)' -> 96`: the one change twice, the first line naming no setting. Only the leaf is said, either way."""
    before = flat_settings({"model": {"overrides": {}, "preset": "axk1-tiny"}})
    after = flat_settings({"model": {"overrides": {"hidden_size": 96}, "preset": "axk1-tiny"}})
    assert setting_diffs(before, after) == ["model.overrides.hidden_size: '(none)' -> 96"]
    assert setting_diffs(after, before) == ["model.overrides.hidden_size: 96 -> '(none)'"]
    # an empty table that stays apart from any key of its own is still said
    assert setting_diffs(before, {"model.preset": "axk1-tiny"}) == ["model.overrides: {} -> '(none)'"]


def test_a_checkpoint_written_before_still_resumes_with_its_recipe():
    from axk1.train.recipe import load_recipe
    from axk1.train.resume import check_resume, run_definition

    saved = json.loads((FIXTURES / "train_run_definition.json").read_text())
    recipe = load_recipe(REPO / "recipes" / "demo.toml")
    current = run_definition(recipe, recipe.model.build_config())
    check_resume(saved, current, Path("step-000050"))  # no refusal
    recipe.stages[1].tokens += 1024
    with pytest.raises(ValueError, match=r"stages\.1\.tokens: \d+ -> \d+"):
        check_resume(saved, run_definition(recipe, recipe.model.build_config()), Path("step-000050"))



def test_a_resume_whose_recipe_adds_a_stage_says_so_and_how_to_go_on():
    """Each new stage's keys were listed as "'(none)' -> value" (8 of them for one stage), never naming what the
    change was or the way to train on into a stage the run did not plan."""
    import copy

    from axk1.train.recipe import load_recipe
    from axk1.train.resume import check_resume, run_definition

    recipe = load_recipe(REPO / "recipes" / "demo.toml")
    whole = run_definition(recipe, recipe.model.build_config())
    first = copy.deepcopy(whole)
    first["stages"] = first["stages"][:1]
    with pytest.raises(ValueError, match=r"the recipe adds stages 2, 3 to the run checkpointed in step-000050: .*"
                                         r"start a new run from that folder with \[model\] init_from"):
        check_resume(first, whole, Path("step-000050"))
    check_resume(whole, whole, Path("step-000050"))


def test_a_resume_whose_recipe_changes_a_later_stage_says_so_and_why_it_is_refused():
    """A longer stage 2 (one the run has not reached) was refused as "stages.1.tokens: 1024 -> 1536" with advice to
    change only the layout: the reader could not tell a stage change from a typo, nor why a stage not yet begun is
    fixed (the WSD decay starts at a step counted over the stages)."""
    import copy

    from axk1.train.recipe import load_recipe
    from axk1.train.resume import check_resume, run_definition

    recipe = load_recipe(REPO / "recipes" / "demo.toml")
    whole = run_definition(recipe, recipe.model.build_config())
    longer = copy.deepcopy(whole)
    longer["stages"][1]["tokens"] *= 2
    with pytest.raises(ValueError, match=r"^--resume: the recipe changes stage 2 of the run checkpointed in "
                                         r"step-000050 \(stages\.1\.tokens: \d+ -> \d+\): a run's stages are fixed "
                                         r"at its start, those it has not reached too .*with \[model\] init_from"):
        check_resume(whole, longer, Path("step-000050"))
    longer["optimizer.lr"] = 1.0  # a change outside the stages too: the whole list, as before
    with pytest.raises(ValueError, match=r"differs from the run checkpointed in step-000050 in what defines the run"):
        check_resume(whole, longer, Path("step-000050"))

def _data_run(root: Path) -> Path:
    """The pipeline the data fixture was recorded from, at `root`."""
    (root / "proj" / "bench").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "proj" / "bench" / "b.jsonl").write_text('{"id": "1", "question": "What is the sum of the first ten '
                                                     'primes?"}\n')
    toml = root / "proj" / "p.toml"
    toml.write_text('[run]\noutput_dir = "out"\ntasks = 1\nworkers = 1\nstages = ["extract"]\n'
                    '[[sources]]\ntype = "jsonl"\npath = "../docs"\nfilter = false\n'
                    '[filters.decontamination]\nbenchmarks = ["humaneval", "bench/b.jsonl"]\n'
                    '[filters.perplexity]\nmodel = { ko = "kenlm/ko.bin" }\n')
    return toml


def test_a_data_run_recorded_before_still_resumes_with_its_pipeline(tmp_path, monkeypatch):
    from axk1.data.config import load_pipeline_config
    from axk1.data.run_folder import SETTINGS_FILE
    from axk1.data.run_settings import check_settings

    root = tmp_path.resolve()
    toml = _data_run(root)
    monkeypatch.chdir(root)
    cfg = load_pipeline_config(toml)
    cfg.out.mkdir(parents=True)
    recorded = (FIXTURES / "data_settings.json").read_text().replace("{root}", str(root))
    (cfg.out / SETTINGS_FILE).write_text(recorded)
    cfg.pdf.min_hangul_space_ratio = 0.04  # that run's default (0.08 since): relaunched as it was made
    # added since: the run was LSH alone, took the Korean word length range and letter share for every language, and
    # had no English stop-word rule
    with pytest.raises(ValueError, match=r"dedup\.min_jaccard \(0\.0 -> 0\.72\).* \(dedup\.min_jaccard is newer "
                       r"than that run.*pass --dedup\.min_jaccard 0\.0 to go on.*"
                       r"pass --filters\.quality\.max_avg_word_length_other 0\.0 to go on.*"
                       r"pass --filters\.quality\.min_alpha_words_ratio_other 0\.0 to go on.*"
                       r"pass --filters\.quality\.min_stop_words_en 0 to go on"):
        check_settings(cfg)
    cfg.dedup.min_jaccard = 0.0  # as that run was made
    cfg.filters.quality.min_avg_word_length_other = cfg.filters.quality.max_avg_word_length_other = 0.0
    cfg.filters.quality.min_alpha_words_ratio_other = 0.0
    cfg.filters.quality.min_stop_words_en = 0
    check_settings(cfg)  # no refusal: the relaunch resumes
    # (the run kept Korean and English alone: the Japanese and Chinese word counts decided nothing in it, and it
    # goes on under this launch's, unasked)
    assert json.loads((cfg.out / SETTINGS_FILE).read_text()) == {
        **json.loads(recorded), "dedup.min_jaccard": 0.0, "filters.quality.min_avg_word_length_other": 0.0,
        "filters.quality.max_avg_word_length_other": 0.0, "filters.quality.min_alpha_words_ratio_other": 0.0,
        "filters.quality.min_stop_words_en": 0, "filters.quality.chars_per_word_ja": 1.64,
        "filters.quality.chars_per_word_zh": 1.6}
    cfg.filters.decontamination.ngram = 8
    with pytest.raises(ValueError, match=r"filters\.decontamination\.ngram \(13 -> 8\)"):
        check_settings(cfg)


def test_a_data_run_recorded_before_that_kept_japanese_resumes_counting_its_words_as_then(tmp_path, monkeypatch):
    """Japanese and Chinese words are counted from their characters now (filters.quality.chars_per_word_ja/_zh);
    a run recorded before, whose filters.languages kept Japanese, counted the tokenizer's clauses: its relaunch is
    asked for --filters.quality.chars_per_word_ja 0.0, which decides its Japanese pages as it did, and not for the
    Chinese figure, which decided nothing there."""
    from axk1.data.config import load_pipeline_config
    from axk1.data.run_folder import SETTINGS_FILE
    from axk1.data.run_settings import check_settings

    root = tmp_path.resolve()
    toml = _data_run(root)
    monkeypatch.chdir(root)
    recorded = json.loads((FIXTURES / "data_settings.json").read_text().replace("{root}", str(root)))
    recorded["filters.languages"] = ["ko", "en", "ja"]
    # the run as it was made, the settings added since the fixture included (the test above)
    as_made = ["--filters.languages", '["ko", "en", "ja"]', "--pdf.min_hangul_space_ratio", "0.04",
               "--dedup.min_jaccard", "0.0", "--filters.quality.min_stop_words_en", "0",
               "--filters.quality.min_avg_word_length_other", "0.0", "--filters.quality.max_avg_word_length_other",
               "0.0", "--filters.quality.min_alpha_words_ratio_other", "0.0"]
    cfg = load_pipeline_config(toml, as_made)
    cfg.out.mkdir(parents=True)
    (cfg.out / SETTINGS_FILE).write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match=r"^[^(]*filters\.quality\.chars_per_word_ja \(0\.0 -> 1\.64\)[^(]*\("
                       r"filters\.quality\.chars_per_word_ja is newer than that run.*pass "
                       r"--filters\.quality\.chars_per_word_ja 0\.0 to go on") as refused:
        check_settings(cfg)
    assert "chars_per_word_zh" not in str(refused.value)
    check_settings(load_pipeline_config(toml, as_made + ["--filters.quality.chars_per_word_ja", "0.0"]))  # resumes
    written = json.loads((cfg.out / SETTINGS_FILE).read_text())
    assert (written["filters.quality.chars_per_word_ja"], written["filters.quality.chars_per_word_zh"]) == (0.0, 1.6)
