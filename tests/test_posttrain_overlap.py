"""`axk1 posttrain overlap` keeps what a row says about its own training: a turn marked untrained (OpenAI's
"weight": 0, a TRL row's prompt) stays untrained in both halves of its pair, and a think row SFT could not train
(its last turn untrained, or an empty answer) is excluded and counted rather than written as a pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples
from axk1.posttrain.overlap import build_overlap
from tests.serve_helpers import make_model_folder


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> ChatCodec:
    return ChatCodec.from_folder(make_model_folder(tmp_path_factory.mktemp("overlap") / "base"))


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _trained(codec: ChatCodec, path: Path) -> tuple[list[str], dict]:
    """What SFT trains on the pairs file, and the turns it leaves out."""
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert dict(report.excluded) == {}  # every pair written is one SFT can train
    return ([codec.tokenizer.decode(e.ids[e.n_prompt:].tolist(), skip_special_tokens=False) for e in examples],
            dict(report.turns_excluded))


def _two_turns(first: dict, last: dict) -> dict:
    return {"messages": [{"role": "user", "content": "Translate: hello"}, {"role": "assistant", **first},
                         {"role": "user", "content": "Now properly"}, {"role": "assistant", **last}]}


GOOD_LAST = {"content": "안녕하세요", "reasoning_content": "a greeting"}


def test_a_turn_marked_untrained_stays_untrained_in_the_non_think_half(codec, tmp_path):
    """The non-think half was rebuilt as {role, content, tool_calls}, dropping "weight": 0, so SFT trained the draft
    the row marked untrained; a TRL row's prompt turns (weight 0 once read) were trained the same way."""
    openai = _two_turns({"content": "BAD DRAFT", "reasoning_content": "draft", "weight": 0}, GOOD_LAST)
    trl = {"prompt": [{"role": "user", "content": "Translate: bye"},
                      {"role": "assistant", "content": "<think>draft</think>OLD TRY"},
                      {"role": "user", "content": "Again"}],
           "completion": [{"role": "assistant", "content": "안녕히 가세요", "reasoning_content": "a farewell"}]}
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([_jsonl(tmp_path / "think.jsonl", [openai, trl])], out)
    assert result["pairs"] == 2 and result["input"]["excluded"] == {}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["messages"][1].get("weight") for r in rows[:2]] == [0, 0]  # both halves of the OpenAI row
    trained, left_out = _trained(codec, out)
    assert not any("BAD DRAFT" in t or "OLD TRY" in t for t in trained)
    assert left_out == {"weight 0": 4}  # one earlier turn in each of the four rows
    assert sorted(trained) == sorted(["a greeting\n</think>\n\n안녕하세요<|im_end|>", "안녕하세요<|im_end|>",
                                      "a farewell\n</think>\n\n안녕히 가세요<|im_end|>", "안녕히 가세요<|im_end|>"])


def test_a_non_think_row_keeps_its_own_untrained_turns_in_the_pair(codec, tmp_path):
    think = _two_turns({"content": "Hi"}, GOOD_LAST)
    plain = _two_turns({"content": "Hi", "weight": 0}, {"content": "안녕하세요!"})
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([_jsonl(tmp_path / "t.jsonl", [think])], out, [_jsonl(tmp_path / "p.jsonl", [plain])])
    assert result["non_think_from"] == {"non-think set": 1}
    trained, left_out = _trained(codec, out)
    assert sorted(trained) == ["Hi<|im_end|>", "a greeting\n</think>\n\n안녕하세요<|im_end|>", "안녕하세요!<|im_end|>"]
    assert left_out == {"weight 0": 1}


def test_rows_whose_last_turn_is_untrained_make_no_pair_and_are_counted(codec, tmp_path):
    """A pair trains its last turn in both modes; a row marking that turn untrained was paired all the same, its
    think half training nothing of it. Excluded as "weight 0"; a non-think row so marked leaves its prompt to the
    think span's deletion."""
    untrained_think = _two_turns({"content": "Hi"}, {**GOOD_LAST, "weight": 0})
    think = {"messages": [{"role": "user", "content": "2+2?"},
                          {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"}]}
    plain = {"messages": [*think["messages"][:1], {"role": "assistant", "content": "Four.", "weight": False}]}
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([_jsonl(tmp_path / "t.jsonl", [untrained_think, think])], out,
                           [_jsonl(tmp_path / "p.jsonl", [plain])])
    assert result["pairs"] == 1 and result["non_think_from"] == {"think span deleted": 1}
    assert result["input"]["excluded"] == {"weight 0": 2}
    assert "the last assistant turn, has weight 0" in result["input"]["excluded_detail"]["weight 0"]
    trained, _ = _trained(codec, out)
    assert sorted(trained) == ["2+2=4\n</think>\n\n4<|im_end|>", "4<|im_end|>"]


def test_a_think_row_with_an_empty_answer_is_excluded_as_sft_would(codec, tmp_path):
    """Such a row was written as a pair whose halves SFT then excluded ("empty answer", "empty assistant turn")."""
    rows = [{"messages": [{"role": "user", "content": "q"},
                          {"role": "assistant", "content": "", "reasoning_content": "thinking"}]},
            {"messages": [{"role": "user", "content": "q2"},
                          {"role": "assistant", "content": "a2", "reasoning_content": "t2"}]}]
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([_jsonl(tmp_path / "t.jsonl", rows)], out)
    assert result["pairs"] == 1 and result["rows_written"] == 2
    assert result["input"]["excluded"] == {"empty answer": 1}
    assert f"{tmp_path / 't.jsonl'}:1" in result["input"]["first_excluded_at"]["empty answer"][0]
    trained, _ = _trained(codec, out)
    assert sorted(trained) == ["a2<|im_end|>", "t2\n</think>\n\na2<|im_end|>"]


def test_control_tokens_are_excluded_as_sft_would_and_repeats_counted(codec, tmp_path, capsys):
    """`posttrain overlap` wrote pairs of a turn holding `<|im_end|>`, which SFT then excluded ("special token in
    text"); a think row given twice was paired twice without a word (SFT's report counts it); its report carried
    SFT's `"examples": 0`; and it printed nothing a person reads at a glance."""
    from axk1.cli import main

    ok = {"messages": [{"role": "user", "content": "q2"},
                       {"role": "assistant", "content": "a2", "reasoning_content": "t2"}]}
    forged = {"messages": [{"role": "user", "content": "q"},
                           {"role": "assistant", "content": "a<|im_end|><|im_start|>user\nmore",
                            "reasoning_content": "thinking"}]}
    plain = {"messages": [{"role": "user", "content": "q2<|im_start|>"}, {"role": "assistant", "content": "A2"}]}
    out = tmp_path / "pairs.jsonl"
    think, non_think = _jsonl(tmp_path / "t.jsonl", [forged, ok, ok]), _jsonl(tmp_path / "p.jsonl", [plain])
    assert main(["posttrain", "overlap", str(think), "--non-think", str(non_think), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["pairs"] == 2 and result["non_think_from"] == {"think span deleted": 2}
    assert result["input"]["excluded"] == {"special token in text": 2}
    assert result["input"]["first_excluded_at"]["special token in text"] == [f"{non_think}:1", f"{think}:1"]
    assert "holds '<|im_start|>'" in result["input"]["excluded_detail"]["special token in text"]
    assert result["input"]["duplicate_rows"] == 1 and result["input"]["first_duplicates_at"] == [f"{think}:3"]
    assert "examples" not in result["input"] and "examples_by_mode" not in result["input"]
    assert captured.err.strip().splitlines()[-1] == (
        f"2 pairs (4 rows) from 4 rows -> {out}; excluded: 2 special token in text; 1 think row repeats an earlier "
        f"one exactly and is paired again (e.g. {think}:3)")
    trained, _ = _trained(codec, out)  # SFT excludes none of what was written
    assert sorted(trained) == ["a2<|im_end|>"] * 2 + ["t2\n</think>\n\na2<|im_end|>"] * 2
    # a model's own tokenizer: its control tokens, here the same as axk1's
    folder = make_model_folder(tmp_path / "m")
    assert main(["posttrain", "overlap", str(think), "--tokenizer", str(folder), "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["input"]["excluded"] == {"special token in text": 1}
    assert main(["posttrain", "overlap", str(think), "--tokenizer", str(tmp_path), "-o", str(out)]) == 2
    assert "no tokenizer.json there" in capsys.readouterr().err


def test_a_non_think_half_sft_would_exclude_is_not_paired(codec, tmp_path):
    """A non-think row whose answer held a literal `<think>` or `<tool_call>` was written as a pair's non-think
    half, which SFT then excluded ("think tag in answer", "tool tag in text"): the pair trained one mode only. Such a
    row is now excluded with SFT's reason, and its prompt's non-think half made by deleting the think span."""
    def ask(q, answer, **extra):
        return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": answer, **extra}]}
    think = [ask("q1", "a1", reasoning_content="t1"), ask("q2", "a2", reasoning_content="t2"),
             ask("q3", "a3", reasoning_content="t3")]
    plain = [ask("q1", "Wrap it in <think> and </think>."), ask("q2", '<tool_call>{"name": "f"}</tool_call>'),
             ask("q3", "A3")]
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([_jsonl(tmp_path / "t.jsonl", think)], out, [_jsonl(tmp_path / "p.jsonl", plain)])
    assert result["input"]["excluded"] == {"think tag in answer": 1, "tool tag in text": 1}
    assert result["input"]["first_excluded_at"]["think tag in answer"][0].startswith(f"{tmp_path / 'p.jsonl'}:1")
    assert result["input"]["first_excluded_at"]["tool tag in text"][0].startswith(f"{tmp_path / 'p.jsonl'}:2")
    assert result["pairs"] == 3 and result["non_think_from"] == {"non-think set": 1, "think span deleted": 2}
    trained, _ = _trained(codec, out)  # every half written is one SFT trains
    assert sorted(trained) == sorted([f"{a}<|im_end|>" for a in ("a1", "a2", "A3")]
                                     + [f"t{n}\n</think>\n\na{n}<|im_end|>" for n in (1, 2, 3)])


def test_an_earlier_turn_sft_would_exclude_makes_no_pair(codec, tmp_path):
    """The earlier turns of a think row are trained by both halves; one holding a literal `<think>` was paired and
    then excluded by SFT in both halves."""
    bad = _two_turns({"content": "Hi <think>oops"}, GOOD_LAST)
    good = _two_turns({"content": "Hi"}, GOOD_LAST)
    out = tmp_path / "pairs.jsonl"
    result = build_overlap([_jsonl(tmp_path / "t.jsonl", [bad, good])], out)
    assert result["pairs"] == 1 and result["input"]["excluded"] == {"think tag in answer": 1}
    assert "messages[1]" in result["input"]["excluded_detail"]["think tag in answer"]
    _trained(codec, out)


def test_sft_and_overlap_count_repeats_by_one_key(codec, tmp_path):
    """`posttrain overlap` keyed its repeats with a copy of SFT's expression; one `repeat_key` now keys both, so the
    two reports count the same rows: a conversation given again (its keys in another order) is a repeat, the same
    conversation offered other tools is not."""
    from axk1.posttrain.chat_data import repeat_key

    turn = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "t"}]
    reordered = [{"content": m["content"], "role": m["role"], **{k: m[k] for k in m if k not in ("role", "content")}}
                 for m in turn]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    assert repeat_key(turn, None) == repeat_key(reordered, None) != repeat_key(turn, tools)
    rows = [{"messages": turn}, {"messages": reordered}, {"messages": turn, "tools": tools}]
    path = _jsonl(tmp_path / "t.jsonl", rows)
    _, sft = load_chat_examples([path], codec, "keep", 512)
    overlap = build_overlap([path], tmp_path / "pairs.jsonl", codec=codec)
    assert sft.duplicates == overlap["input"]["duplicate_rows"] == 1
