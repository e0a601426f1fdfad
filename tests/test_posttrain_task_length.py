"""A task whose prompt leaves no room in the model's context for the tokens generated after it is refused when the
task file is read, named by path:line and task id, by `axk1 rl` (its --dry-run and the run itself) and `posttrain
heldout`: it passed the check and the dry run, then killed a run at the iteration that first drew it ("prompt 0
has 12628 tokens"), and the run could not be resumed once the row was removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from axk1.cli import main
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import max_token_chars
from axk1.posttrain.task_length import PromptBudget, prompt_ids
from axk1.posttrain.tasks import read_tasks
from tests.serve_helpers import make_model_folder

SHORT = [{"prompt": f"What is {i} + 3?", "answer": str(i + 3)} for i in range(6)]
LONG = {"id": "long-one", "prompt": "What is 2 + 3? " + "Please think carefully. " * 600, "answer": "5"}


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("m") / "model")  # a 1024-token context


def _rl(folder: Path, tasks: Path, out: Path, *extra: str) -> int:
    return main(["rl", "recipes/posttrain/rl.toml", "--model.init_from", str(folder), "--rl.tasks",
                 json.dumps([str(tasks)]), "--out", str(out), *extra])


def test_an_overlong_prompt_is_refused_when_read_with_path_line_and_id(tmp_path, folder):
    codec = ChatCodec.from_folder(folder)
    path = _write(tmp_path / "t.jsonl", [*SHORT, LONG])
    budget = PromptBudget(codec, ("think", "non-think"), 8, 1024, "[rl] max_new_tokens")
    with pytest.raises(ValueError, match=rf"1 of 7 rows .* cannot be used:\n  {path}:7 \(task long-one\): the "
                                         r"prompt is [\d,]+ tokens in think mode.*> the model's context of 1,024"):
        read_tasks(path, codec, budget)
    assert len(read_tasks(_write(tmp_path / "ok.jsonl", SHORT), codec, budget)) == 6


def test_the_cheap_bound_agrees_with_encoding_at_the_edge(folder):
    """Short prompts are passed without being encoded (a token covers at least a byte): around the edge of the
    context, for ASCII, Korean and emoji text, the answer is the one encoding every prompt gives."""
    codec = ChatCodec.from_folder(folder)
    budget = PromptBudget(codec, ("think", "non-think"), 100, 1024, "[rl] max_new_tokens")
    for unit in ("ab ", "생각 ", "🙂", "x"):
        for reps in range(1, 1200, 37):
            prompt = unit * reps
            n = max(len(prompt_ids(codec, prompt, m == "think")) for m in ("think", "non-think"))
            assert (budget.problem(prompt) is None) == (n + 100 <= 1024), (unit, reps, n)


def test_rl_dry_run_run_and_heldout_refuse_an_overlong_task_before_any_iteration(tmp_path, folder, capsys):
    path = _write(tmp_path / "mine.jsonl", [*SHORT, LONG])
    assert _rl(folder, path, tmp_path / "out", "--dry-run") == 2
    err = capsys.readouterr().err
    assert f"{path}:7 (task long-one)" in err and "ok: the recipe passes" not in err
    assert _rl(folder, path, tmp_path / "out", "--rl.iterations", "1") == 2  # the run: before it trains
    assert f"{path}:7 (task long-one)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "checkpoints").exists()
    assert main(["posttrain", "heldout", str(folder), str(path), "--device", "cpu"]) == 2
    assert f"{path}:7 (task long-one)" in capsys.readouterr().err


def test_max_new_tokens_beyond_the_context_is_one_error_naming_the_knob(tmp_path, folder, capsys):
    path = _write(tmp_path / "mine.jsonl", SHORT)
    assert _rl(folder, path, tmp_path / "out", "--dry-run", "--rl.max_new_tokens", "2000") == 2
    err = capsys.readouterr().err
    assert "[rl] max_new_tokens = 2,000 does not fit the training length (max_position_embeddings) of 1,024 " \
           "tokens" in err
    assert main(["posttrain", "heldout", str(folder), str(path), "--device", "cpu", "--max-new-tokens", "2000"]) == 2
    assert "--max-new-tokens = 2,000 does not fit" in capsys.readouterr().err
    assert _rl(folder, path, tmp_path / "out", "--dry-run", "--rl.max_new_tokens", "900") == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


def test_a_rollout_server_is_checked_against_the_longest_prompt_of_all_tasks(tmp_path, folder, monkeypatch):
    """The server's max_model_len was checked against the first draw's longest prompt only, so a longer task drawn
    later failed mid-run on the server."""
    import axk1.posttrain.rl as rl
    from axk1.posttrain.rl_recipe import parse_rl_recipe
    from tests.rl_helpers import rl_run_recipe

    longer = {"id": "longer", "prompt": "What is 2 + 3? " + "Think it through. " * 20, "answer": "5"}
    tasks = _write(tmp_path / "mine.jsonl", [longer, *SHORT])  # the first draw (data.seed 1234) takes row 7
    checked = []

    class Server:  # stands in for RolloutServer: records what the trainer asks it to check, then stops the run
        def __init__(self, *args, **kwargs):
            pass

        def check(self, prompt, group_size, max_new_tokens):
            checked.append(len(prompt))
            raise RuntimeError("checked")

    monkeypatch.setattr(rl, "RolloutServer", Server)
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a", server_url="http://127.0.0.1:9",
                                           prompts_per_step=2), tmp_path)
    with pytest.raises(RuntimeError, match="checked"):
        rl.RLTrainer(recipe)
    codec = ChatCodec.from_folder(folder)
    longest = max(len(prompt_ids(codec, longer["prompt"], m == "think")) for m in ("think", "non-think"))
    assert checked == [longest]


def test_rl_fits_rows_in_the_training_length_and_heldout_in_the_yarn_context_each_saying_which(tmp_path, capsys):
    """A YaRN model (max_position_embeddings 1,024, context 4 x that): RL trains on its rollouts, so its rows must
    fit the training length; heldout only generates, so it takes the extended context. RL's refusal said "the
    model's context" of 1,024 tokens, while heldout passed the same row for that model's context of 4,096."""
    from axk1.config import ModelConfig
    from axk1.presets import yarn_block

    tiny = ModelConfig.from_preset("axk1-tiny")
    yarn = make_model_folder(tmp_path / "yarn", config=tiny.replace(
        rope_scaling=yarn_block(4.0, tiny.max_position_embeddings)))
    codec = ChatCodec.from_folder(yarn)
    words = "Please think carefully. "
    reps = next(k for k in range(40, 2000, 20) if len(prompt_ids(codec, words * k, True)) > 1100)
    row = {"id": "between", "prompt": "What is 2 + 3? " + words * reps, "answer": "5"}
    path = _write(tmp_path / "mine.jsonl", [row, *SHORT])
    assert _rl(yarn, path, tmp_path / "out", "--dry-run") == 2
    err = capsys.readouterr().err
    assert f"{path}:1 (task between)" in err and "> the training length (max_position_embeddings) of 1,024 " \
           "tokens: drop or shorten the row, or start from a model trained at a longer max_position_embeddings" in err
    assert main(["posttrain", "heldout", str(yarn), str(path), "--device", "cpu", "--max-new-tokens", "4",
                 "--modes", "non-think", "--limit", "1"]) == 0
    assert "task between" not in capsys.readouterr().err


def test_heldout_json_into_a_new_folder_is_written_and_one_under_a_file_refused_before_the_model_loads(
        tmp_path, folder, capsys, monkeypatch):
    """`posttrain heldout --json new/r.json` ran the whole evaluation, then failed: no such folder."""
    import axk1.posttrain.heldout as heldout

    path = _write(tmp_path / "mine.jsonl", SHORT[:1])
    out = tmp_path / "new" / "deeper" / "r.json"
    assert main(["posttrain", "heldout", str(folder), str(path), "--device", "cpu", "--max-new-tokens", "2",
                 "--modes", "non-think", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["non-think"]["n"] == 1
    (tmp_path / "a_file").write_text("x")

    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran before --json was checked")

    monkeypatch.setattr(heldout, "evaluate_heldout", never)
    assert main(["posttrain", "heldout", str(folder), str(path), "--device", "cpu",
                 "--json", str(tmp_path / "a_file" / "r.json")]) == 2
    assert "--json" in capsys.readouterr().err
    assert main(["posttrain", "heldout", str(folder), str(path), "--device", "cpu", "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_prompt_far_over_the_budget_is_refused_without_being_encoded(tmp_path, folder, monkeypatch):
    """A 50 MB prompt was tokenised in full (two minutes, 6.5 GB) only to be refused: one longer than the room left
    can hold at the longest token's length is refused from its length alone."""
    codec = ChatCodec.from_folder(folder)
    budget = PromptBudget(codec, ("think", "non-think"), 100, 1024, "[rl] max_new_tokens")
    encoded = []
    real = codec.encode
    monkeypatch.setattr(codec, "encode", lambda text, **kw: encoded.append(len(text)) or real(text, **kw))
    huge = "What is 2 + 3? " + "x" * (924 * max_token_chars(codec))  # past what the 924 tokens left could hold
    path = _write(tmp_path / "t.jsonl", [*SHORT, {"id": "huge", "prompt": huge, "answer": "5"}])
    with pytest.raises(ValueError, match=rf"{path}:7 \(task huge\): the prompt has [\d,]+ characters, more than "
                                         r"the 924 tokens left by \[rl\] max_new_tokens = 100"):
        read_tasks(path, codec, budget)
    assert max(encoded, default=0) < len(huge)  # the short rows may be encoded; the huge one never is
