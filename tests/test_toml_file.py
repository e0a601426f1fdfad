"""The one configuration system (axk1/toml_file.py, docs/configuration.md): every shipped recipe loads through it,
relative paths are relative to the file, `--section.key value` overrides reach each verb that takes a file, and
`to_toml` writes what `build_dataclass` reads back equal."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from axk1.cli import main
from axk1.data.config import PipelineConfig, load_pipeline_config
from axk1.eval.settings import eval_config, read_eval_file
from axk1.synth.recipe import SynthRecipe, load_synth_recipe
from axk1.toml_file import build_dataclass, read_toml, resolve_path, to_toml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


@dataclass
class Inner:
    mode: str | bool = "none"
    limit: int | None = None


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    items: list[Inner] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    name: str = ""
    async_: bool = False
    removed_keys = {"old": "use name"}


def test_to_toml_round_trips_nested_tables_unions_and_keywords():
    obj = Outer(Inner(True, 3), [Inner(), Inner('quote " and\nnewline', 1)], {"web": 0.5, "a b": 0.25}, "x", True)
    text = to_toml(obj, "a comment")
    assert text.startswith("# a comment\n") and "async = true" in text and "[[items]]" in text
    assert build_dataclass(Outer, tomllib.loads(text), "t") == obj


def test_errors_name_the_place_and_the_known_keys():
    with pytest.raises(ValueError, match=r"t.inner: unknown key 'mod' \(known: limit, mode\)"):
        build_dataclass(Outer, {"inner": {"mod": 1}}, "t")
    with pytest.raises(ValueError, match=r"unknown key 'old' \(removed: use name; known: async, inner"):
        build_dataclass(Outer, {"old": 1}, "t")
    with pytest.raises(ValueError, match="t.inner.mode must be a string, got 3 or t.inner.mode must be true or false"):
        build_dataclass(Outer, {"inner": {"mode": 3}}, "t")
    with pytest.raises(ValueError, match=r"t.items\[0\].limit must be an integer"):
        build_dataclass(Outer, {"items": [{"limit": "3"}]}, "t")


def test_non_finite_numbers_are_refused_everywhere(capsys):
    @dataclass
    class Rates:
        lr: float = 1e-3

    for bad in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(ValueError, match=r"t.lr must be a finite number"):
            build_dataclass(Rates, {"lr": bad}, "t")
    # through a verb's overrides (TOML spells them inf and nan): `axk1 sft ... --optimizer.lr inf` trained a NaN model
    for value in ("inf", "nan"):
        assert main(["train", str(RECIPES / "demo.toml"), "--dry-run", "--optimizer.lr", value]) == 2
        assert "optimizer.lr must be a finite number" in capsys.readouterr().err


def test_resolve_path_is_relative_to_the_file():
    assert resolve_path("../out/x", "recipes/data") == str(Path("recipes/out/x"))
    assert resolve_path("/abs", "recipes") == "/abs" and resolve_path("", "r") == "" and resolve_path(None, "r") is None


def test_a_tilde_is_the_home_folder_in_every_kind_of_file(tmp_path, monkeypatch):
    """`~/x` was joined to the file's folder as a folder literally named "~" (and the run's last line said
    `checkpoints in ~/x/...`, which a user then removes with `rm -rf ~/...`). Expanded as the shell does."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_path("~/runs/a", "recipes") == str(tmp_path / "home" / "runs" / "a")
    assert resolve_path("~", "recipes") == str(tmp_path / "home")
    assert resolve_path("a/~/b", "r") == str(Path("r/a/~/b"))  # only at the start, as in a shell
    data = load_pipeline_config(RECIPES / "data" / "starter.toml", ["--run.output_dir=~/d"])
    assert data.run.output_dir == str(tmp_path / "home" / "d")
    config = tmp_path / "run.toml"
    config.write_text('output = "~/eval"\n')
    assert read_eval_file(config).output == str(tmp_path / "home" / "eval")


def test_a_tables_keys_and_values_are_checked_against_its_type():
    """`dict[int, float]` and `dict[str, Any]` settings were taken unchecked: nan passed, and a key or value of the
    wrong type failed later in int()/float() without naming the setting."""
    @dataclass
    class Tables:
        shares: dict[int, float] = field(default_factory=dict)
        args: dict[str, Any] = field(default_factory=dict)
        loose: dict = field(default_factory=dict)

    assert build_dataclass(Tables, {"shares": {"2": 1, "-3": 0.5}}, "t").shares == {2: 1.0, -3: 0.5}
    for bad, named in (({"shares": {"2": float("nan")}}, r"t.shares.2 must be a finite number"),
                       ({"shares": {"2": "x"}}, r"t.shares.2 must be a number, got 'x'"),
                       ({"shares": {"two": 0.3}}, r"t.shares has the key 'two': its keys are whole numbers"),
                       ({"shares": {"2.5": 0.3}}, r"t.shares has the key '2.5'"),
                       ({"args": {"mem": float("inf")}}, r"t.args.mem must be a finite number"),
                       ({"loose": {"a": [1, {"b": float("nan")}]}}, r"t.loose.a\[1\].b must be a finite number")):
        with pytest.raises(ValueError, match=named):
            build_dataclass(Tables, bad, "t")


def test_eval_config_takes_toml_dates_and_tables(tmp_path):
    """A TOML date (lcb_start = 2025-02-01) and table (extra_body = { min_p = 0.05 }) were refused as "must be a
    string ... or a list"; they mean the text their flags take."""
    config = tmp_path / "run.toml"
    config.write_text('lcb_start = 2025-02-01\nlcb_end = "2025-05-01"\nextra_body = { min_p = 0.05, stop = ["x"] }\n')
    cfg = eval_config({}, config)
    assert (cfg.lcb_start, cfg.lcb_end, cfg.extra_body) == ("2025-02-01", "2025-05-01", {"min_p": 0.05, "stop": ["x"]})
    assert eval_config({"extra_body": '{"min_p": 0.05}'}).extra_body == {"min_p": 0.05}  # the flag's text: the same
    config.write_text('extra_body = { min_p = nan }\n')
    with pytest.raises(ValueError, match="extra_body.min_p must be a finite number"):
        read_eval_file(config)
    config.write_text('lcb_start = 5\n')
    with pytest.raises(ValueError, match="lcb_start must be a string.*must be a date"):
        read_eval_file(config)
    config.write_text('max_tokens = 2025-02-01\n')  # a date where no option takes one
    with pytest.raises(ValueError, match="max_tokens must be an integer"):
        read_eval_file(config)
    config.write_text('lcb_end = "yesterday"\n')  # the file's values meet the flags' checks
    with pytest.raises(ValueError, match="--lcb-end must be a date such as 2025-02-01, got 'yesterday'"):
        eval_config({}, config)


def test_paths_on_the_command_line_are_relative_to_the_current_folder(tmp_path, monkeypatch):
    """In the file a relative path is relative to the file's folder; given on the command line (`--out`, a
    `--section.key` override of a path key) it is relative to where the command runs, as docs/configuration.md
    says. `axk1 train recipes/demo.toml --out out/x` used to write recipes/out/x."""
    from axk1.posttrain.sft import load_sft_recipe
    from axk1.train.recipe import load_recipe
    from tests.serve_helpers import make_model_folder

    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(RECIPES / "demo.toml", ["--data.manifest", "shards/manifest.json"], out_dir="out/x")
    assert Path(recipe.run.out_dir) == tmp_path / "out" / "x"
    assert Path(recipe.data.manifest) == tmp_path / "shards" / "manifest.json"
    assert Path(recipe.checkpointing.dir).parent == tmp_path / "out" / "x"
    from_file = load_recipe(RECIPES / "demo.toml")  # the file's own paths: still relative to recipes/
    assert Path(from_file.data.manifest).resolve().is_relative_to(ROOT)
    (tmp_path / "think.jsonl").write_text("")
    make_model_folder(tmp_path / "model", with_tokenizer=True)
    sft = load_sft_recipe(RECIPES / "posttrain" / "sft-think.toml", ["--sft.data", '["think.jsonl"]', "--run.out_dir",
                                                                     "sft-out", "--model.init_from", "model"])
    assert sft.sft.data == [str(tmp_path / "think.jsonl")] and Path(sft.run.out_dir) == tmp_path / "sft-out"
    assert Path(sft.model.init_from) == tmp_path / "model"
    data = load_pipeline_config(RECIPES / "data" / "starter.toml", ["--sources.0.path", "web", "--run.output_dir", "d"])
    assert Path(data.sources[0].path) == tmp_path / "web" and Path(data.run.output_dir) == tmp_path / "d"
    assert Path(data.sources[1].path).resolve() == ROOT / "out" / "starter" / data.sources[1].path.rsplit("/", 1)[-1]


def test_shipped_data_and_synth_recipes_load_through_the_loader():
    data = load_pipeline_config(RECIPES / "data" / "starter.toml")
    assert isinstance(data, PipelineConfig) and len(data.sources) == 5
    # relative to the file: recipes/data/../../out is the repository's out/
    assert Path(data.run.output_dir).resolve() == ROOT / "out" / "data"
    assert Path(data.sources[0].path).resolve() == ROOT / "out" / "starter" / "web"
    assert Path(data.tokenize.tokenizer).resolve() == ROOT / "out" / "data" / "tokenizer"
    synth = load_synth_recipe(RECIPES / "synth" / "default.toml")
    assert isinstance(synth, SynthRecipe) and synth.path == (RECIPES / "synth" / "default.toml").resolve()
    assert synth.tasks[0].prompts["en"] == RECIPES / "synth" / "prompts" / "qa.en.txt"
    with pytest.raises(ValueError, match=r"unknown key 'temprature' \(known: concurrency"):
        load_synth_recipe(RECIPES / "synth" / "default.toml", ["--teacher.temprature", "1"])


def test_shipped_posttrain_recipes_build():
    """Their tables and types (validation needs the model folders they start from, which the demo makes)."""
    from axk1.posttrain.rl_recipe import RLRecipe
    from axk1.posttrain.sft import SFTRecipe

    files = sorted((RECIPES / "posttrain").glob("*.toml"))
    assert len(files) == 7
    for path in files:
        if path.name != "tasks.toml":  # the demo's task-generation settings, read by axk1/posttrain/pipeline.py
            cls = RLRecipe if path.name.endswith("rl.toml") else SFTRecipe
            assert isinstance(build_dataclass(cls, read_toml(path, "recipe"), str(path)), cls)


def test_data_run_takes_overrides(monkeypatch, capsys):
    seen = {}

    def fake_run_pipeline(cfg, force=False, **kwargs):
        seen["cfg"] = cfg
        return []

    monkeypatch.setattr("axk1.data.pipeline.run_pipeline", fake_run_pipeline)
    # slurm: the verb returns after submitting, so nothing runs here
    assert main(["data", "run", str(RECIPES / "data" / "starter.toml"), "--run.executor", "slurm",
                 "--run.tasks", "8", "--sources.0.path=/data/web", "--workers", "3"]) == 0
    cfg = seen["cfg"]
    assert (cfg.run.executor, cfg.run.tasks, cfg.run.workers, cfg.sources[0].path) == ("slurm", 8, 3, "/data/web")
    assert main(["data", "run", str(RECIPES / "data" / "starter.toml"), "--run.taskz", "8"]) == 2
    assert "unknown key 'taskz'" in capsys.readouterr().err


def test_data_synth_takes_overrides(monkeypatch, tmp_path):
    seen = {}

    class Summary:
        outputs = {"kept": "k", "rejected": "r", "failed": "f", "excluded": "e", "summary": "s"}
        requests, failed, generated, kept = 1, 0, 1, 1

        def table(self):
            return ""

    def fake_run_synth(documents, recipe, *args, **kwargs):
        seen["recipe"] = recipe
        return Summary()

    monkeypatch.setattr("axk1.synth.pipeline.run_synth", fake_run_synth)
    assert main(["data", "synth", "docs.jsonl", "--teacher", "openai:http://127.0.0.1:1", "--recipe",
                 str(RECIPES / "synth" / "default.toml"), "-o", str(tmp_path / "o.jsonl"), "--teacher.temperature",
                 "0.2", "--tasks.1.thinking", "false", "--teacher-model", "1e3"]) == 0
    r = seen["recipe"]
    assert r.teacher.temperature == 0.2 and not r.tasks[1].thinking and r.teacher.model == "1e3"


def test_eval_config_paths_are_relative_to_the_file(tmp_path):
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "aime.jsonl").write_text("")
    config = folder / "run.toml"
    config.write_text('model = "model"\ntranslator = "openai:http://x/v1"\noutput = "out"\naime_data = "aime.jsonl"\n'
                      'lcb_data = "/abs/lcb"\ntasks = ["aime25", "lcb"]\nmax_tokens = 64\n')
    cfg = eval_config({}, config)
    assert (cfg.model, cfg.translator, cfg.output, cfg.aime_data, cfg.lcb_data, cfg.tasks, cfg.max_tokens) == (
        str(folder / "model"), "openai:http://x/v1", str(folder / "out"), str(folder / "aime.jsonl"), "/abs/lcb",
        ["aime25", "lcb"], 64)
    assert cfg.n == 1 and cfg.lcb_cache is None  # what the file does not set keeps its default
    assert eval_config({"output": "o"}, config).output == "o"  # a typed flag wins, relative to the current folder
    config.write_text('aime_data = "math-ai/aime25"\n')  # no such file there: a Hugging Face dataset id
    assert read_eval_file(config).aime_data == "math-ai/aime25"
    config.write_text('max_tokens = "many"\n')
    with pytest.raises(ValueError, match="max_tokens must be an integer"):
        read_eval_file(config)
    config.write_text('max_tokens = 0\n')  # the flag's bound holds in the file too
    with pytest.raises(ValueError, match="max_tokens = 0: "):
        eval_config({}, config)
    config.write_text('thinking = "maybe"\n')
    with pytest.raises(ValueError, match="thinking = 'maybe'; choose from on, off, default"):
        eval_config({}, config)
    config.write_text('max_token = 64\n')
    with pytest.raises(ValueError, match="unknown key 'max_token'"):
        read_eval_file(config)


@pytest.mark.parametrize("override, named", [
    (["--dedup.num_buckets", "0"], "dedup.num_buckets = 0"),  # datatrove's ZeroDivisionError traceback
    (["--dedup.hashes_per_bucket", "0"], "dedup.hashes_per_bucket = 0"),  # its IndexError traceback
    (["--dedup.char_n_grams", "0"], "dedup.char_n_grams = 0"),  # 31 of 32 documents dropped, exit 0
    (["--dedup.char_n_grams", "-3"], "dedup.char_n_grams = -3"),  # near-dedup did nothing, exit 0
    (["--filters.languages", '["kor"]'], "did you mean 'ko'"),  # every document excluded, exit 0
    (["--filters.languages", '["kor_Hang"]'], "did you mean 'ko'"),
    (["--filters.languages", "[]"], "filters.languages is empty"),
    (["--filters.min_language_score", "2"], "filters.min_language_score = 2.0"),
    (["--filters.quality.word_tokenizer", "spacy"], "word_tokenizer = 'spacy'"),  # met inside a worker
    (["--tokenize.train_vocab_size", "100"], "train_vocab_size = 100"),  # met after every other stage ran
    (["--tokenize.train_vocab_size", "-5"], "train_vocab_size = -5"),
    (["--tokenize.train_digits_per_token", "4"], "train_digits_per_token = 4"),
    # met by the worker pool after settings.json and the logs were written; with workers = 1 a typo passed
    (["--run.start_method", "spawnn"], "run.start_method = 'spawnn': use one of"),
    (["--run.output_dir", '""'], "run.output_dir is empty"),  # wrote into the current folder
    # a table's entries: nan was taken, -1 excluded every document, "x" and "two" failed naming no key
    (["--filters.quality.top_n_grams", "{ 2 = nan }"], r"filters.quality.top_n_grams.2 must be a finite number"),
    (["--filters.quality.top_n_grams", "{ 2 = -1.0 }"], r"top_n_grams = \{ 2 = -1.0 \}: keys are n-gram lengths"),
    (["--filters.quality.top_n_grams", "{ 2 = 0 }"], r"top_n_grams = \{ 2 = 0.0 \}"),
    (["--filters.quality.top_n_grams", "{ 0 = 0.5 }"], r"top_n_grams = \{ 0 = 0.5 \}"),
    (["--filters.quality.top_n_grams", '{ 2 = "x" }'], r"filters.quality.top_n_grams.2 must be a number, got 'x'"),
    (["--filters.quality.top_n_grams", "{ two = 0.3 }"], r"filters.quality.top_n_grams has the key 'two'"),
    (["--filters.quality.dup_n_grams", "{ 5 = 1.5 }"], r"dup_n_grams = \{ 5 = 1.5 \}"),
    (["--slurm.sbatch_args", "{ mem = nan }"], r"slurm.sbatch_args.mem must be a finite number"),
])
def test_pipeline_settings_that_failed_mid_run_are_refused_when_the_file_is_read(override, named):
    """Found by a new user in session 19: each of these ran (some for all the stages before the one that used
    them) and then failed with a traceback, or finished having dropped the corpus."""
    with pytest.raises(ValueError, match=named):
        load_pipeline_config(ROOT / "recipes" / "data" / "starter.toml", override)


def test_eval_config_contamination_report_is_relative_to_the_file(tmp_path):
    """`contamination = "report.json"` in sub/eval.toml was read from the current folder (its flag's metavar,
    REPORT, was not one the loader took for a path): `axk1 eval --config sub/eval.toml` said the report does not
    exist. Every path key is declared, not guessed from a metavar."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "report.json").write_text("{}")
    config = folder / "eval.toml"
    config.write_text('contamination = "report.json"\nlcb_cache = "cache"\ntranslation_cache = "t.json"\n')
    cfg = read_eval_file(config)
    assert cfg.contamination == str(folder / "report.json")
    assert cfg.lcb_cache == str(folder / "cache") and cfg.translation_cache == str(folder / "t.json")
