"""SFT: chat rendering with the folder's template, assistant-only labels, bad rows by reason, the run itself
(loss falls, exact resume, export), the mode-overlap pairs."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from axk1.checkpoint.hf import load_model
from axk1.checkpoint.run_lock import FolderInUse
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples, render_examples
from axk1.posttrain.overlap import build_overlap
import axk1.posttrain.sft as sft
from axk1.posttrain.sft import ChatSampler, parse_sft_recipe, run_sft
from axk1.train.loss import IGNORE_INDEX, training_loss
from tests.serve_helpers import make_model_folder
from tests.train_helpers import lock_held_elsewhere, try_lock_from_another_process


def _rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": f"What is {i} plus 2?"},
                          {"role": "assistant", "content": f"The answer is {i + 2}.", "reasoning_content": f"{i}+2={i + 2}"}]}
            for i in range(n)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("sft") / "base")


def _write(path: Path, rows: list, extra: str = "") -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + extra)
    return path


def _recipe(tmp: Path, folder: Path, data: Path, mode: str = "think", **run) -> dict:
    return {"model": {"init_from": str(folder), "mtp_depth": 0},
            "sft": {"data": [str(data)], "mode": mode, "seq_len": 96, "epochs": 2},
            "optimizer": {"lr": 3e-3}, "schedule": {"kind": "constant"},
            "batch": {"global_sequences": 4, "micro_batch": 2},
            "checkpointing": {"interval_steps": 3}, "logging": {"every_steps": 1, "progress": False},
            "run": {"out_dir": str(tmp / "run"), "threads": 1, **run}}


def test_rendering_matches_the_serving_prompt(folder):
    codec = ChatCodec.from_folder(folder)
    msgs = _rows(1)[0]["messages"]
    (think,) = render_examples(codec, msgs, "think", 512)
    (plain,) = render_examples(codec, msgs, "non-think", 512)
    assert think.ids.dtype == np.int32  # 4 bytes a token in memory (every rank holds the whole set)
    # the context is exactly what `axk1 serve` renders for the request, in each mode
    served = codec.render(msgs[:2], add_generation_prompt=True, enable_thinking=True)
    assert think.ids[:think.n_prompt].tolist() == codec.encode(served, add_special_tokens=False)
    assert codec.decode(think.ids[think.n_prompt:].tolist()).startswith("0+2=2\n</think>")
    served = codec.render(msgs[:2], add_generation_prompt=True, enable_thinking=False)
    assert plain.ids[:plain.n_prompt].tolist() == codec.encode(served, add_special_tokens=False)
    assert "</think>" not in codec.tokenizer.decode(plain.ids[plain.n_prompt:].tolist(), skip_special_tokens=False)
    # both end with the eos token, which is trained: the model must learn to stop
    assert think.ids[-1] == plain.ids[-1] == codec.token_id("<|im_end|>")
    # an inline <think> span is the same as reasoning_content
    inline = [*msgs[:2], {"role": "assistant", "content": "<think>0+2=2</think>The answer is 2."}]
    assert render_examples(codec, inline, "think", 512)[0].ids.tolist() == think.ids.tolist()


def test_an_assistant_that_speaks_first_is_trained_after_the_bare_generation_prompt(folder, tmp_path):
    """A conversation the assistant opens (a greeting) was an error that stopped the whole run ("messages is
    empty"); its first turn is trained after the generation prompt alone, its later turns as any."""
    codec = ChatCodec.from_folder(folder)
    greeting = {"messages": [{"role": "assistant", "content": "무엇을 도와드릴까요?"},
                             {"role": "user", "content": "안녕"}, {"role": "assistant", "content": "안녕하세요"}]}
    path = _write(tmp_path / "chat.jsonl", _rows(2) + [greeting])
    examples, report = load_chat_examples([path], codec, "non-think", 256)
    assert len(examples) == 4 and not report.excluded
    first = next(e for e in examples if e.n_prompt == min(x.n_prompt for x in examples))
    prompt = codec.tokenizer.decode(first.ids[:first.n_prompt].tolist(), skip_special_tokens=False)
    assert prompt.startswith("<|im_start|>assistant") and "user" not in prompt
    assert codec.decode(first.ids[first.n_prompt:].tolist()).startswith("무엇을 도와드릴까요?")
    with pytest.raises(ValueError, match="messages is empty"):  # a request to the server still needs a message
        codec.render([], add_generation_prompt=True)


def test_bad_rows_are_counted_by_reason(folder, tmp_path):
    bad = [{"messages": [{"role": "user", "content": "hi"}]},
           {"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]},
           {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "no trace"}]},
           {"messages": [{"role": "user", "content": "q " * 400}, {"role": "assistant", "content": "a",
                                                                       "reasoning_content": "r"}]},
           {"text": "no messages"}]
    path = _write(tmp_path / "chat.jsonl", _rows(3) + bad, "{not json\n")
    examples, report = load_chat_examples([path], ChatCodec.from_folder(folder), "think", 256)
    assert len(examples) == 3
    assert dict(report.excluded) == {"no assistant turn": 1, "unknown role": 1, "no reasoning for think mode": 1,
                                     "over-long": 1, "no messages": 1, "invalid json": 1}
    assert report.rows == 9 and report.to_dict()["kept_rows"] == 3
    assert report.where["unknown role"] == [f"{path}:5"]  # the path as given: two train.jsonl stay apart


def test_prompt_tokens_get_no_gradient(folder, tmp_path):
    recipe = parse_sft_recipe(_recipe(tmp_path, folder, _write(tmp_path / "c.jsonl", _rows(8))), tmp_path)
    sampler = ChatSampler(recipe, ChatCodec.from_folder(folder), recipe.model.build_config().vocab_size)
    ids_BT, docs_BT, labels_BT, _, _ = sampler.batch(0)
    labelled = labels_BT != IGNORE_INDEX
    assert labelled.any() and (~labelled).any()
    # every label is the next token of the same packed conversation
    assert torch.equal(labels_BT[:, :-1][labelled[:, :-1]], ids_BT[:, 1:][labelled[:, :-1]])
    model = load_model(folder)
    seen = {}

    def keep(module, inputs, out):  # the normalised hidden state feeds only the head
        out.retain_grad()
        seen["h"] = out

    hook = model.model.norm.register_forward_hook(keep)
    training_loss(model, ids_BT, docs_BT, 0.0, labels_BT).total.backward()
    hook.remove()
    grad_norm_BT = seen["h"].grad.norm(dim=-1)
    assert (grad_norm_BT[~labelled] == 0).all()  # prompt, system, template and padding positions: exactly zero
    assert (grad_norm_BT[labelled] > 0).all()


def test_sft_trains_resumes_exactly_and_exports(folder, tmp_path):
    data = _write(tmp_path / "c.jsonl", _rows(24))
    full = run_sft(parse_sft_recipe(_recipe(tmp_path / "a", folder, data), tmp_path))
    losses = [r["loss"] for r in full["rows"]]
    assert len(losses) >= 5 and losses[-1] < losses[0]
    # stop at step 3 (a checkpoint), resume, and get the same losses as the uninterrupted run
    part = parse_sft_recipe(_recipe(tmp_path / "b", folder, data, max_steps=3), tmp_path)
    run_sft(part)
    resumed = run_sft(parse_sft_recipe(_recipe(tmp_path / "b", folder, data), tmp_path), resume=True)
    assert [r["loss"] for r in resumed["rows"]] == losses[3:]
    model_dir = Path(full["model_dir"])
    assert (model_dir / "chat_template.jinja").exists() and (model_dir / "tokenizer.json").exists()
    assert load_model(model_dir).config.vocab_size == load_model(folder).config.vocab_size
    report = json.loads((tmp_path / "a" / "run" / "sft_data_report.json").read_text())
    assert report["kept_rows"] == 24


def test_a_folder_without_a_template_exports_the_default_template_it_was_trained_on(folder, tmp_path):
    """From a folder with tokenizer.json alone, SFT renders its rows with axk1's default template but exported a
    folder with no template and no tokenizer_config.json: `axk1 generate --chat` refused it, transformers'
    apply_chat_template failed and its eos_token was None. The export now carries the template the rows were
    rendered with, and the special tokens config.json names."""
    from transformers import AutoTokenizer

    from axk1.infer.local_chat import chat_codec
    from axk1.text.chat_template import CHAT_TEMPLATE

    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    for name in ("chat_template.jinja", "tokenizer_config.json"):
        (bare / name).unlink()
    data = _write(tmp_path / "c.jsonl", _rows(4))
    model_dir = Path(run_sft(parse_sft_recipe(_recipe(tmp_path, bare, data, max_steps=1), tmp_path))["model_dir"])
    assert (model_dir / "chat_template.jinja").read_text() == CHAT_TEMPLATE
    codec = chat_codec(ChatCodec.from_folder(model_dir), model_dir)  # --chat takes it: the folder's own template
    assert codec.eos_token == "<|im_end|>"
    hf = AutoTokenizer.from_pretrained(model_dir)
    assert hf.eos_token == "<|im_end|>" and hf.pad_token == "<|pad|>"
    messages = [{"role": "user", "content": "hi"}]
    assert hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
        codec.render(messages, add_generation_prompt=True)


def test_the_run_folder_stays_locked_until_the_export_is_written(folder, tmp_path, monkeypatch):
    """The lock was given up when training ended, before the export: a second run could start in the folder
    while the model folder was being written. Now a run started during the export is refused; after it, it is not."""
    data = _write(tmp_path / "c.jsonl", _rows(4))
    recipe = parse_sft_recipe(_recipe(tmp_path, folder, data, max_steps=1), tmp_path)
    run = Path(recipe.run.out_dir)
    seen, real_export = [], sft.export_after_training

    def export(*args, **kwargs):
        seen.append(try_lock_from_another_process(run))
        return real_export(*args, **kwargs)

    monkeypatch.setattr(sft, "export_after_training", export)
    assert Path(run_sft(recipe)["model_dir"]).is_dir()
    assert len(seen) == 1 and seen[0].startswith(f"{run} is in use by another training run (process {os.getpid()} ")
    assert try_lock_from_another_process(run) == "taken"


def test_the_model_folder_is_locked_as_axk1_export_locks_it(folder, tmp_path, monkeypatch):
    """`axk1 sft` exported into [run] out_dir/model without the lock `axk1 export` takes on a model folder: an export
    into it at the same time (or one started during training, which the run's export then replaced) lost one of the
    two models, each saying it was done. The run takes that lock before it trains and holds it through its export:
    refused in one line naming the holder and what to change, and an export started during its own is refused."""
    data = _write(tmp_path / "c.jsonl", _rows(4))
    model = tmp_path / "run" / "model"
    with lock_held_elsewhere(model, model_folder=True) as export:
        with pytest.raises(FolderInUse) as refused:
            run_sft(parse_sft_recipe(_recipe(tmp_path, folder, data, max_steps=1), tmp_path))
    error = str(refused.value)
    assert "\n" not in error and error.startswith(f"{model} is in use by another model export or merge (`axk1 "
                                                 f"export`, `axk1 merge`, ") and f"(process {export.pid} " in error
    assert error.endswith("give this run another [run] out_dir (the model is exported to its model/ folder), or "
                          "set [sft] export = false")
    assert not (tmp_path / "run" / "checkpoints").exists() and not model.exists()  # refused before it trained
    seen, real_export = [], sft.export_after_training

    def export_now(*args, **kwargs):
        seen.append(try_lock_from_another_process(model, model_folder=True))
        return real_export(*args, **kwargs)

    monkeypatch.setattr(sft, "export_after_training", export_now)
    # the holder gone (killed: its lock file stays behind, taken over), the run goes ahead
    assert Path(run_sft(parse_sft_recipe(_recipe(tmp_path, folder, data, max_steps=1), tmp_path))["model_dir"]) == model
    assert len(seen) == 1 and seen[0].startswith(f"{model} is in use by another model export or merge ")
    assert f"(process {os.getpid()} " in seen[0]
    assert try_lock_from_another_process(model, model_folder=True) == "taken"


def test_overlap_pairs_each_prompt_in_both_modes(tmp_path):
    think = _write(tmp_path / "think.jsonl", _rows(3) + [{"messages": [{"role": "user", "content": "x"},
                                                                      {"role": "assistant", "content": "plain"}]}])
    plain_row = {"messages": [*_rows(1)[0]["messages"][:2], {"role": "assistant", "content": "Two."}]}
    non_think = _write(tmp_path / "plain.jsonl", [plain_row])
    out = tmp_path / "overlap.jsonl"
    result = build_overlap([think], out, [non_think])
    assert result["pairs"] == 3 and result["non_think_from"] == {"non-think set": 1, "think span deleted": 2}
    assert result["input"]["excluded"] == {"no reasoning for think mode": 1}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["mode"] for r in rows] == ["think", "non-think"] * 3
    assert rows[1]["messages"][-1] == {"role": "assistant", "content": "Two."}
    assert rows[3]["messages"][-1] == {"role": "assistant", "content": "The answer is 3."}
    for a, b in zip(rows[::2], rows[1::2]):
        assert a["messages"][:-1] == b["messages"][:-1]  # the same prompt


def test_a_recipe_without_a_schedule_table_takes_the_default(folder, tmp_path):
    """The default schedule (wsd, decay from stage 2) was checked against pretraining's stages, none in SFT: a
    minimal recipe was refused with "decay_starts_at_stage=2 must name a stage 1..0". SFT has one stage: no decay."""
    raw = _recipe(tmp_path, folder, _write(tmp_path / "c.jsonl", _rows(4)))
    del raw["schedule"]
    recipe = parse_sft_recipe(raw, tmp_path)
    assert recipe.schedule.kind == "wsd"
    raw["schedule"] = {"decay_starts_at_stage": 3}
    with pytest.raises(ValueError, match=r"must name a stage 1\.\.1 \(or 2 for no decay\)"):
        parse_sft_recipe(raw, tmp_path)


def test_an_output_model_folder_that_cannot_be_written_is_refused_before_training(folder, tmp_path):
    """`OUT/model` holding a file of the user's: the run trained, saved its checkpoints, then refused to export."""
    raw = _recipe(tmp_path, folder, _write(tmp_path / "c.jsonl", _rows(4)))
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"model holds notes.txt, which is not part of a model folder"):
        run_sft(parse_sft_recipe(raw, tmp_path))
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("change, says", [
    ({"sft": {"seq_len": 4096}}, r"\[sft\] seq_len 4096 is past the model's context of "),
    ({"parallelism": {"cp": 5}, "sft": {"seq_len": 96}}, r"cp = 5 must divide \[sft\] seq_len 96"),
    ({"parallelism": {"dp_shard": 3, "ep": 2}}, r"ep=2 must divide dp_shard=3"),
])
def test_an_sft_layout_that_cannot_run_is_refused_when_read(tmp_path, folder, change, says):
    """A seq_len past the model's positions, one cp does not divide, or ep not dividing dp_shard were accepted by
    the recipe and found at launch: after every rank rendered the chat set and loaded the weights."""
    raw = _recipe(tmp_path, folder, _write(tmp_path / "c.jsonl", _rows(4)))
    for section, values in change.items():
        raw.setdefault(section, {}).update(values)
    if raw.get("parallelism", {}).get("cp"):
        raw["moe"] = {"seq_aux_loss_alpha": 0}
    with pytest.raises(ValueError, match=says):
        parse_sft_recipe(raw, tmp_path)


def test_transformers_and_trl_train_the_tokens_axk1_sft_trains(folder):
    """Our exported template, rendered by transformers for a whole conversation (what TRL's SFTTrainer does with
    assistant_only_loss), marks for training exactly the tokens `axk1 sft` trains for the conversation's last turn,
    in think and non-think mode, multi-turn history included; TRL takes the template as it is (it refused it: no
    `{% generation %}` block, and every turn's reasoning was dropped, so nothing could train the think block)."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import get_training_chat_template

    codec = ChatCodec.from_folder(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    assert get_training_chat_template(tok) is None  # no patching needed: TRL trains with the template as shipped
    two_turns = [{"role": "user", "content": "1 plus 1?"},
                 {"role": "assistant", "content": "<think>1+1=2</think>\n2."},
                 {"role": "user", "content": "그럼 2 더하기 3은?"},
                 {"role": "assistant", "content": "5입니다.", "reasoning_content": " 2+3=5 "}]
    rows = {"think": _rows(1)[0]["messages"], "multi-turn": two_turns,
            "non-think": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
            # an empty reasoning_content is non-think in `axk1 sft` (the template trained `<think>\n</think>\n\n`)
            "empty reasoning": [{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello!", "reasoning_content": ""}],
            # content as OpenAI's list of text parts (`axk1 sft` reads it; the template raised a TypeError)
            "parts": [{"role": "user", "content": [{"type": "text", "text": "1 plus "}, {"type": "text", "text": "1?"}]},
                      {"role": "assistant", "content": [{"type": "text", "text": "<think>1+1=2</think>\n2."}]}],
            # DeepSeek-R1's `trace</think>answer` (the opening tag was in the generation prompt)
            "r1": [{"role": "user", "content": "1 plus 1?"}, {"role": "assistant", "content": "1+1=2\n</think>\n\n2."}]}
    for name, messages in rows.items():
        mode = "non-think" if name in ("non-think", "empty reasoning") else "think"
        last = render_examples(codec, messages, mode, 512)[-1]
        out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = out["input_ids"], out["assistant_masks"]
        trained = [t for t, m in zip(ids, mask) if m]
        assert trained == last.ids[last.n_prompt:].tolist(), name
        # the context before the trained tokens is the prompt SFT (and `axk1 serve`) builds for that turn
        assert ids[:mask.index(1)] == last.ids[:last.n_prompt].tolist(), name
    # a prompt for generation renders as before: history answers only, the generation prompt last
    prompt = tok.apply_chat_template(two_turns[:3], tokenize=False, add_generation_prompt=True)
    assert "1+1=2" not in prompt and prompt.endswith("<|im_start|>assistant\n<think>")


def test_a_resume_with_other_sft_settings_is_refused_naming_the_key(folder, tmp_path):
    """Another [sft] epochs was accepted on --resume: the cosine schedule stretched mid-run and the learning rate
    jumped back up; another seq_len or mode was refused as "other chat data or another seed". Each is now named,
    while the data's and template's paths may change (the rows are compared by their fingerprint)."""
    data = _write(tmp_path / "c.jsonl", _rows(24))

    def recipe(**sft_keys) -> dict:
        raw = _recipe(tmp_path, folder, data, max_steps=3)
        raw["sft"] |= sft_keys
        raw["schedule"] = {"kind": "cosine"}
        return raw

    run_sft(parse_sft_recipe(recipe(), tmp_path))
    for keys, said in [({"epochs": 3}, "sft.epochs: 2.0 -> 3.0"), ({"seq_len": 128}, "sft.seq_len: 96 -> 128"),
                       ({"mode": "non-think"}, "sft.mode: 'think' -> 'non-think'")]:
        with pytest.raises(ValueError, match=rf"^--resume: the recipe differs .*step-000003 .*: {re.escape(said)}\. "):
            run_sft(parse_sft_recipe(recipe(**keys), tmp_path), resume=True)
    moved = tmp_path / "moved"
    moved.mkdir()
    copy = Path(shutil.copy(data, moved / "c.jsonl"))
    assert run_sft(parse_sft_recipe(recipe(data=[str(copy)], export=False), tmp_path), resume=True)["step"] == 3
    # a checkpoint written before [sft] was part of the definition resumes, compared on the rest
    state = Path(tmp_path / "run" / "checkpoints" / "step-000003" / "train_state.json")
    saved = json.loads(state.read_text())
    saved["run"] = {k: v for k, v in saved["run"].items() if not k.startswith("sft.")}
    state.write_text(json.dumps(saved))
    assert run_sft(parse_sft_recipe(recipe(), tmp_path), resume=True)["step"] == 3
    with pytest.raises(ValueError, match=r"optimizer.lr: 0.003 -> 0.002"):
        raw = recipe()
        raw["optimizer"]["lr"] = 2e-3
        run_sft(parse_sft_recipe(raw, tmp_path), resume=True)


def test_sft_says_once_that_global_sequences_is_ignored_beside_global_tokens(folder, tmp_path, capsys):
    """Only `--dry-run` said it; the run trained by global_tokens without a word."""
    data = _write(tmp_path / "c.jsonl", _rows(8))
    raw = _recipe(tmp_path, folder, data, max_steps=1)
    raw["sft"]["export"] = False
    raw["batch"]["global_tokens"] = 4 * 96
    run_sft(parse_sft_recipe(raw, tmp_path))
    assert capsys.readouterr().out.count("note: [batch] global_sequences = 4 is ignored: global_tokens = 384") == 1


def test_hybrid_sft_logs_a_loss_per_mode_every_step_that_adds_up_to_the_loss(folder, tmp_path):
    """Mode "keep" on think and non-think rows: packed rows hold both, and a row was labelled by its members' modes,
    so nearly every row was "mixed" and loss/think, loss/non-think showed at few steps (loss_by_domain.png drew one
    "mixed" curve). Each target now carries its own mode."""
    plain = [{"messages": [{"role": "user", "content": f"Say {i}."}, {"role": "assistant", "content": f"{i}."}]}
             for i in range(12)]
    data = _write(tmp_path / "c.jsonl", _rows(12) + plain)
    raw = _recipe(tmp_path, folder, data, mode="keep")
    raw["sft"]["export"] = False
    recipe = parse_sft_recipe(raw, tmp_path)
    rows = run_sft(recipe)["rows"]
    assert len(rows) >= 4 and all("loss/think" in r and "loss/non-think" in r for r in rows)
    assert not any("loss/mixed" in r for r in rows)  # a row's count, not a target's mode
    sampler = ChatSampler(recipe, ChatCodec.from_folder(folder), load_model(folder).config.vocab_size)
    think, non_think = sampler.domains.index("think"), sampler.domains.index("non-think")
    for r in rows:  # logged every step: each row's per-mode losses are that step's, weighted by its targets
        _, _, labels_BT, _, modes_BT = sampler.batch(r["step"] - 1)
        n = {m: int(((labels_BT != IGNORE_INDEX) & (modes_BT == i)).sum()) for m, i in
             (("think", think), ("non-think", non_think))}
        weighted = (r["loss/think"] * n["think"] + r["loss/non-think"] * n["non-think"]) / sum(n.values())
        assert weighted == pytest.approx(r["loss"], rel=1e-5)
    assert rows[0]["loss/think"] != pytest.approx(rows[0]["loss/non-think"], rel=1e-3)
