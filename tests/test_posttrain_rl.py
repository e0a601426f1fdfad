"""RL with verifiable rewards: the reward function on real outputs (math grader, code in the sandbox, think-tag
format), and the GSPO loop's mechanics (dynamic sampling, several updates per rollout so the ratio moves, metrics,
exact resume, export)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch

import axk1.posttrain.rl as rl
import axk1.posttrain.rl_rollout as rl_rollout
import axk1.posttrain.rl_update as rl_update
from axk1.infer.generate import GenerationResult
from axk1.posttrain.heldout import paired_difference
from axk1.posttrain.rewards import Score, format_ok, score
from axk1.posttrain.rl_recipe import parse_rl_recipe
from tests.serve_helpers import make_model_folder
from tests.train_helpers import strict_json_rows
from tests.rl_helpers import fake_scores, rl_run_recipe, rl_tasks

MATH = {"id": "m", "kind": "math", "answer": "82", "tests": ""}
CODE = {"id": "c", "kind": "code", "answer": "", "tests": "assert add_n(1) == 8\nassert add_n(-7) == 0\n"}


def test_math_reward_correct_wrong_and_format():
    assert score(MATH, "7+5=12\n</think>\n\nThe answer is \\boxed{82}.", "stop", True).reward == 1.0
    assert score(MATH, "The answer is \\boxed{82}.", "stop", False).reward == 1.0
    assert score(MATH, "7+5=12\n</think>\n\nThe answer is \\boxed{81}.", "stop", True).reward == -1.0
    # think mode that never closes the block: no answer and a format violation
    s = score(MATH, "7+5=12 The answer is \\boxed{82}.", "stop", True)
    assert (s.correct, s.format_ok, s.reward) == (False, False, -2.0)
    # a non-think answer that opens a think block is right but penalised
    s = score(MATH, "<think>x</think> \\boxed{82}", "stop", False)
    assert (s.correct, s.format_ok, s.reward, s.status) == (True, False, 0.0, "format")
    assert score(MATH, "</think>\\boxed{82}", "length", True).status == "truncated"
    assert not format_ok("a</think>b</think>c", True)


def test_code_reward_runs_the_tests_in_the_sandbox():
    good = "ok\n</think>\n\n```python\ndef add_n(x):\n    return x + 7\n```"
    bad = "ok\n</think>\n\n```python\ndef add_n(x):\n    return x + 6\n```"
    cheat = "```python\nimport sys\ndef add_n(x):\n    sys.exit(0)\n```"  # exits before any assert fails ...
    assert score(CODE, good, "stop", True).correct
    assert not score(CODE, bad, "stop", True).correct
    assert not score(CODE, "no code here", "stop", False).correct
    # ... but the asserts run in the sandbox's judge, not after it in the program: a call that exits is a failure
    assert score(CODE, cheat, "stop", False).status == "wrong"
    exits_first = "```python\ndef add_n(x):\n    return 0\nimport os\nos._exit(0)\n```"
    assert score(CODE, exits_first, "stop", False).status == "wrong"
    # think mode that never closes the block has no answer, as in math: right code inside the trace is not graded
    s = score(CODE, "thinking...\n```python\ndef add_n(x):\n    return x + 7\n```", "stop", True)
    assert (s.correct, s.status, s.reward) == (False, "no_answer", -2.0)


def test_paired_difference():
    mean, se = paired_difference([0, 1, 0, 0], [1, 1, 1, 0])
    assert mean == 0.5 and se == pytest.approx(math.sqrt((3 * 0.25 + 0.25) / 3 / 4))


def test_gspo_loop_updates_resumes_and_exports(tmp_path, monkeypatch):
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    folder = make_model_folder(tmp_path / "base")
    tasks = rl_tasks(tmp_path / "tasks.jsonl")
    full = rl.run_rl(parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a"), tmp_path))
    rows = full["rows"]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert {"reward/think", "reward/non-think", "accuracy/think", "response_len/non-think", "clip_frac",
                "ratio_mean", "entropy", "rollout_tokens_per_s", "update_tokens_per_s", "expert_drift_mean"} <= set(r)
    # the second minibatch of each rollout sees a policy that already moved: the ratio is no longer exactly 1
    assert any(r["ratio_max"] > 1 + 1e-6 or r["ratio_min"] < 1 - 1e-6 for r in rows)
    assert rows[-1]["expert_drift_mean"] > 0  # routing moved since the start of RL
    # interrupted after iteration 1 and resumed: the same rollouts, rewards and losses as the uninterrupted run
    part = parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "b", iterations=1), tmp_path)
    rl.run_rl(part)
    resumed = rl.run_rl(parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "b"), tmp_path), resume=True)["rows"]
    for a, b in zip(rows[1:], resumed):
        assert (a["step"], a["reward_mean"], a["response_len/think"]) == (b["step"], b["reward_mean"], b["response_len/think"])
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
    assert (Path(full["model_dir"]) / "chat_template.jinja").exists()
    assert (tmp_path / "a" / "tb").is_dir()


def test_dynamic_sampling_drops_equal_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(rl_rollout, "score_all",
                        lambda items, *a, **k: [Score(False, True, "wrong", -1.0) for _ in items])
    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=1,
                                           max_sampling_rounds=2, export=False), tmp_path)
    (row,) = rl.run_rl(recipe)["rows"]
    assert row["skipped"] and row["groups_dropped"] == 4 and row["rounds"] == 2  # 2 rounds x 2 prompts, all equal


def test_kl_to_the_start_model_is_logged(tmp_path, monkeypatch):
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=2, beta=0.1,
                                           updates_per_batch=1, level="token", export=False), tmp_path)
    rows = rl.run_rl(recipe)["rows"]
    assert rows[0]["kl_mean"] == pytest.approx(0.0, abs=1e-6)  # one update per rollout: iteration 1 trains the start itself
    assert rows[-1]["kl_mean"] > 0  # after updates the policy has left the frozen start


def test_recipe_errors_name_the_field(tmp_path):
    folder = make_model_folder(tmp_path / "base", with_tokenizer=True)
    tasks = rl_tasks(tmp_path / "t.jsonl")
    with pytest.raises(ValueError, match="level"):
        parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a", level="word"), tmp_path)
    with pytest.raises(ValueError, match="group_size"):
        parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a", group_size=1), tmp_path)
    with pytest.raises(ValueError, match="unknown key 'clip'"):
        parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a", clip=0.2), tmp_path)
    # refused when the file is read (it was found at launch, after the weights loaded)
    raw = rl_run_recipe(tmp_path, folder, tasks, "a")
    raw["parallelism"] = {"cp": 2}
    with pytest.raises(ValueError, match="cp > 1: RL's log-probabilities do not run under context parallelism"):
        parse_rl_recipe(raw, tmp_path)
    # pretraining's step cap is not RL's: accepted, it ran every iteration regardless
    raw = rl_run_recipe(tmp_path, folder, tasks, "a")
    raw["run"]["max_steps"] = 1
    with pytest.raises(ValueError, match=r"\[run\] max_steps = 1 is not read by `axk1 rl`.*\[rl\] iterations"):
        parse_rl_recipe(raw, tmp_path)
    # a key pasted where the variable's name goes: refused when read, naming the field, not echoing the key
    with pytest.raises(ValueError, match=r"\[rl\] server_api_key_env takes the NAME") as e:
        parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a", server_api_key_env="sk-abc123"), tmp_path)
    assert "sk-abc123" not in str(e.value)


def test_an_iteration_whose_every_update_is_non_finite_logs_null_and_no_warning(tmp_path, monkeypatch):
    """Every update of the iteration dropped for a NaN loss: numpy's nanmean over its losses put "RuntimeWarning:
    Mean of empty slice" in the run's log. The row says why it was skipped, and its loss is null in the strict
    metrics file, the non_finite field saying it was NaN."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    real_loss = rl_update.policy_loss

    def nan_loss(*args, **kwargs):
        loss, stats = real_loss(*args, **kwargs)
        return loss * math.nan, stats

    monkeypatch.setattr(rl_update, "policy_loss", nan_loss)
    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=1,
                                           export=False), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        (row,) = rl.run_rl(recipe)["rows"]
    assert row["skipped"] == "non-finite loss or gradient in every update" and row["bad_updates"] == 2
    (strict,) = strict_json_rows(recipe.logging.jsonl)
    assert strict["loss"] is None and strict["non_finite"]["loss"] == "nan"
    assert 0 < strict["ratio_min"] <= strict["ratio_max"]  # the ratios were finite: they are kept


def test_rollouts_stop_at_the_turn_end_and_train_the_sampled_stop(tmp_path, monkeypatch):
    """A.X K1's config.json names an eos other than the chat turn's end (`<|im_end|>`). Rollouts stopped on
    config.json's eos only, so a model SFT taught to end turns with `<|im_end|>` ran every completion to
    max_new_tokens, and a completion that did stop was trained ending in config.json's eos, not the token it sampled."""
    import json
    folder = make_model_folder(tmp_path / "base")
    config = json.loads((folder / "config.json").read_text())
    turn_end = 2  # `<|im_end|>` in the test tokenizer; config.json now says `<|endoftext|>` (1), as A.X K1's differs
    config["eos_token_id"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    seen = {}

    def recording_generate(model, prompts, **kw):
        # every other completion ends on the turn end, as a model after SFT does: the sampled stop is what is trained
        seen["stop_ids"] = kw["stop_ids"]
        n = len(prompts)
        return GenerationResult([[5, 6, 7]] * n, ["stop", "length"] * (n // 2), stop_tokens=[turn_end, None] * (n // 2))

    monkeypatch.setattr(rl_rollout, "generate", recording_generate)
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=1,
                                           dynamic_sampling=False, export=False), tmp_path)
    trainer = rl.RLTrainer(recipe)
    samples, _ = trainer.rollout(0)
    assert sorted(seen["stop_ids"]) == [1, turn_end]
    assert [s["completion"][-1] == turn_end for s in samples] == [True, False] * (len(samples) // 2)
    assert all(len(s["completion"]) == 4 for s in samples[::2]) and all(len(s["completion"]) == 3 for s in samples[1::2])
    trainer.release()


def test_every_update_of_a_batch_divides_by_the_batchs_tokens_as_trl(tmp_path, monkeypatch):
    """token_mean (TRL's dapo) over a rollout batch trained in two steps: each step's token sum is divided by the
    batch's kept tokens over the number of steps, TRL's normaliser, so every token weighs the same in whichever
    step it falls (each step divided by its own minibatch's tokens: 0.84x to 1.23x of TRL's steps)."""
    import dataclasses

    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    real_generate, real_loss, calls = rl_rollout.generate, rl_update.policy_loss, []

    def uneven(*args, **kwargs):  # completions of 2 to 8 tokens: the two minibatches hold different token counts
        result = real_generate(*args, **kwargs)
        cut = [t[:2 + (3 * i) % 7] for i, t in enumerate(result.tokens)]
        return dataclasses.replace(result, tokens=cut, finish_reasons=["stop"] * len(cut), stop_tokens=[])

    def spy(logp, old, adv, mask, **kwargs):
        calls.append((float(kwargs["num_tokens"]), int(mask.sum())))
        return real_loss(logp, old, adv, mask, **kwargs)

    monkeypatch.setattr(rl_rollout, "generate", uneven)
    monkeypatch.setattr(rl_update, "policy_loss", spy)
    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=1,
                                           export=False), tmp_path)
    rl.run_rl(recipe)
    (n1, kept1), (n2, kept2) = calls  # one micro-batch a step: a group of 4 completions
    assert kept1 != kept2 and n1 == n2 == pytest.approx((kept1 + kept2) / 2)


def test_without_dynamic_sampling_an_iteration_of_flat_groups_is_skipped_and_leaves_the_weights(tmp_path):
    """dynamic_sampling = false keeps flat groups; a batch of nothing else has no advantage anywhere. Its update
    was a zero-gradient optimizer step (weight decay alone moving the weights) and the run said it trained the
    model, exit 0; dynamic sampling's run of the same rollouts was skipped, exit 1. Now both skip: no optimizer
    step, counted, model_changed false. One new token in think mode never closes the think block: every reward −2."""
    from axk1.checkpoint.hf import load_model

    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=2,
                                           dynamic_sampling=False, max_new_tokens=1, modes=["think"]), tmp_path)
    recipe.optimizer.weight_decay = 0.1
    result = rl.run_rl(recipe)
    assert [r["skipped"] for r in result["rows"]] == ["every group had equal rewards"] * 2
    assert all(r["reward_mean"] == -2.0 for r in result["rows"])
    assert (result["skipped_iterations"], result["model_changed"]) == (2, False)  # `axk1 rl` exits 1 on this
    start, end = load_model(folder).state_dict(), load_model(result["model_dir"]).state_dict()
    assert all(torch.equal(start[k], end[k]) for k in start)


def test_every_task_drawn_is_prompted_in_both_modes(tmp_path):
    """A.X K1 gives each instruction both prompts, [I; <think>] and [I; </think>]; RL drew each task once in one mode
    (16 distinct tasks a step, none seen in both). Now prompts_per_step / 2 tasks, each in both modes, the same
    draw for the same (seed, iteration, round): a resumed run samples what the uninterrupted one did."""
    from types import SimpleNamespace

    from axk1.infer.chat import ChatCodec
    from axk1.posttrain.tasks import read_task_rows

    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl", 40), "a",
                                           prompts_per_step=16), tmp_path)
    codec = ChatCodec.from_folder(folder)
    trainer = SimpleNamespace(recipe=recipe, codec=codec, tasks=read_task_rows(recipe.rl.tasks, codec))
    prompts = rl_rollout.sample_prompts(trainer, 3, 0)
    modes = {}
    for task, thinking, ids in prompts:
        modes.setdefault(task["id"], []).append(thinking)
        assert codec.decode(ids).rstrip().endswith("<think>" if thinking else "</think>")
    assert len(prompts) == 16 and len(modes) == 8 and all(sorted(m) == [False, True] for m in modes.values())
    assert rl_rollout.sample_prompts(trainer, 3, 0) == prompts
    assert rl_rollout.sample_prompts(trainer, 4, 0) != prompts
    with pytest.raises(ValueError, match=r"prompts_per_step = 3 does not divide over the 2 modes.*multiple of 2"):
        parse_rl_recipe(rl_run_recipe(tmp_path, folder, tmp_path / "t.jsonl", "a", prompts_per_step=3), tmp_path)


def test_a_template_that_does_not_switch_modes_is_warned_of(tmp_path, monkeypatch, capsys):
    """A base whose chat template ignores enable_thinking (plain ChatML): its rollouts' prompts are ended in each mode
    by axk1 (text/think_prompt.py), but a server rendering that template will not; said at the start and in
    rl_report.json. Before, nothing was said and both modes were prompted alike."""
    import json
    import shutil

    from axk1.text.think_prompt import no_switch_warning

    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    own = make_model_folder(tmp_path / "base")
    folder = tmp_path / "chatml"
    shutil.copytree(own, folder)
    template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
                "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    (folder / "chat_template.jinja").write_text(template)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=1,
                                           updates_per_batch=1, export=False), tmp_path)
    rl.run_rl(recipe)
    warning = no_switch_warning(str(folder / "chat_template.jinja"))
    assert f"WARNING: {warning}" in capsys.readouterr().err
    assert json.loads((tmp_path / "a" / "rl_report.json").read_text())["warnings"] == [warning]


def test_a_run_by_hand_prints_every_iteration_and_draws_its_curves(tmp_path, monkeypatch, capsys):
    """`axk1 rl` piped to a file printed nothing for ten iterations (a line per [logging] every_steps, 10, and an
    iteration takes a minute), and drew no rl_curves.png: only the demo's report drew it."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    folder = make_model_folder(tmp_path / "base")
    raw = rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=2, export=False)
    raw["logging"]["progress"] = True  # stderr is pytest's capture, not a terminal: plain lines
    rl.run_rl(parse_rl_recipe(raw, tmp_path))
    err = capsys.readouterr().err
    assert "rl: step 1/2" in err and "rl: step 2/2" in err
    assert (tmp_path / "a" / "rl_curves.png").stat().st_size > 0


def test_an_iteration_whose_every_completion_is_truncated_is_skipped_under_overlong_filter(tmp_path, monkeypatch):
    """overlong = "filter" leaves truncated completions out of the loss. Rewards that differed only on truncated
    completions counted as signal: dynamic sampling kept the groups, and the iteration ran optimizer steps on an empty
    loss (AdamW's momentum and weight decay moved the weights) and was reported trained. Now such groups are dropped
    and the iteration is skipped: no optimizer step, counted, the weights unchanged."""
    from axk1.checkpoint.hf import load_model

    def all_truncated(model, prompts, **kw):  # completions of differing lengths (rewards differ), none stopped
        tokens = [[5 + i % 3] * (1 + i % 2) for i in range(len(prompts))]
        return GenerationResult(tokens, ["length"] * len(prompts))

    monkeypatch.setattr(rl_rollout, "generate", all_truncated)
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    folder = make_model_folder(tmp_path / "base")
    tasks = rl_tasks(tmp_path / "t.jsonl")
    for dynamic in (True, False):
        recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, f"run_{dynamic}", iterations=1,
                                               overlong="filter", dynamic_sampling=dynamic, max_sampling_rounds=1),
                                 tmp_path)
        recipe.optimizer.weight_decay = 0.1
        result = rl.run_rl(recipe)
        (row,) = result["rows"]
        assert row["reward_mean"] == 0.0  # half the rewards +1, half -1: without the filter every group had signal
        assert "truncated" in row["skipped"] and "entropy" not in row
        assert row["groups_dropped"] == (2 if dynamic else 0) and row["samples_kept"] == (0 if dynamic else 8)
        assert (result["skipped_iterations"], result["model_changed"]) == (1, False)
        start, end = load_model(folder).state_dict(), load_model(result["model_dir"]).state_dict()
        assert all(torch.equal(start[k], end[k]) for k in start)


def test_entropy_is_nan_not_zero_for_a_micro_batch_with_no_token_in_the_loss(tmp_path, monkeypatch):
    """A micro-batch whose completions are all truncated under overlong = "filter" has no token in the loss: its
    entropy and clip fractions were 0.0, pulling the row's means down (or logged as 0.0 where no token was kept); now
    NaN, left out."""
    seen = []
    real_loss = rl_update.policy_loss

    def spy(*args, **kwargs):
        loss, st = real_loss(*args, **kwargs)
        seen.append(st)
        return loss, st

    def half_truncated(model, prompts, **kw):  # group 1 stops (rewards differ), group 2 is all truncated
        n = len(prompts)
        tokens = [[5] * (1 + i % 2) for i in range(n)]
        return GenerationResult(tokens, ["stop"] * (n // 2) + ["length"] * (n - n // 2), stop_tokens=[2] * n)

    monkeypatch.setattr(rl_update, "policy_loss", spy)
    monkeypatch.setattr(rl_rollout, "generate", half_truncated)
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, rl_tasks(tmp_path / "t.jsonl"), "a", iterations=1,
                                           overlong="filter", dynamic_sampling=False, updates_per_batch=1, export=False),
                             tmp_path)
    (row,) = rl.run_rl(recipe)["rows"]
    assert "skipped" not in row
    entropies = [float(st["entropy"]) for st in seen]
    kept = [e for e in entropies if not math.isnan(e)]
    assert len(entropies) == 2 and len(kept) == 1 and kept[0] > 0  # micro_batch 4: a group each, in either order
    assert row["entropy"] == pytest.approx(kept[0])
    # so do its clip fractions (0.0 before, pulling the row's mean down)
    for key in ("clip_frac", "clip_frac_low", "clip_frac_high"):
        assert sum(math.isnan(float(st[key])) for st in seen) == 1, key
