"""SFT data as users bring it (axk1/posttrain/chat_formats.py): ShareGPT, Alpaca and TRL prompt/completion rows, JSON
arrays, gzip, Parquet, Hugging Face folders, a BOM, `developer`, R1's `trace</think>answer`; think mode keeping a
row's trainable turns; duplicates counted; the report's detail; refusals that say how to convert."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples, render_examples
from tests.serve_helpers import make_model_folder
from tests.posttrain_helpers import joined_with_cat

SYSTEM = "You are a careful math tutor."
Q1, A1 = "What is 17 * 3?", "17 * 3 = 51."
Q2, T2, A2 = "그럼 51을 3으로 나누면?", "51 / 3 = 17", "17입니다."
# the conversation every shape below holds, as OpenAI messages
EXPECTED = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": Q1},
            {"role": "assistant", "content": A1}, {"role": "user", "content": Q2},
            {"role": "assistant", "content": A2, "reasoning_content": T2}]
SHAREGPT = {"id": "sg-1", "conversations": [
    {"from": "system", "value": SYSTEM}, {"from": "human", "value": Q1}, {"from": "gpt", "value": A1},
    {"from": "human", "value": Q2}, {"from": "gpt", "value": f"<think>{T2}</think>{A2}"}]}
ALPACA = {"instruction": "Translate to Korean.", "input": "Good morning", "output": "좋은 아침입니다."}
ALPACA_MESSAGES = [{"role": "user", "content": "Translate to Korean.\nGood morning"},
                   {"role": "assistant", "content": "좋은 아침입니다."}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("formats") / "base")


@pytest.fixture(scope="module")
def codec(folder) -> ChatCodec:
    return ChatCodec.from_folder(folder)


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _ids(examples) -> list[list[int]]:
    return [e.ids.tolist() for e in examples]


def test_files_joined_with_cat_keep_every_row_behind_their_byte_order_marks(codec, tmp_path):
    """Only the first line's mark was dropped: each later file's first row was "invalid json". An empty file saved
    with a mark leaves two on the next line, one with a mark and a newline a line of nothing."""
    rows = [SHAREGPT, ALPACA, {"messages": EXPECTED[1:3]}]
    lines = [(json.dumps(r, ensure_ascii=False) + "\n").encode() for r in rows]
    path = tmp_path / "all.jsonl"
    path.write_bytes(joined_with_cat(lines[0], b"", lines[1], b"\n", lines[2]))
    assert path.read_bytes().count(b"\xef\xbb\xbf") == 5
    reference, _ = load_chat_examples([_jsonl(tmp_path / "plain.jsonl", rows)], codec, "keep", 512)
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert report.rows == 3 and not report.excluded, report.summary()
    assert _ids(examples) == _ids(reference)


def test_sharegpt_alpaca_and_trl_rows_train_the_conversation_they_hold(folder, codec, tmp_path):
    """They were all "no messages". Each now trains what its OpenAI form trains, and what transformers' rendering of
    that form (the path TRL's SFTTrainer takes) marks as the assistant's tokens."""
    from transformers import AutoTokenizer
    from trl.data_utils import maybe_convert_to_chatml

    prompt_completion = {"prompt": [{"role": "user", "content": "Hi"}],
                         "completion": [{"role": "assistant", "content": "Hello!"}]}
    path = _jsonl(tmp_path / "mixed.jsonl", [SHAREGPT, ALPACA, prompt_completion, {"messages": EXPECTED}])
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert not report.excluded and report.examples == 2 + 1 + 1 + 2
    assert dict(report.formats) == {"sharegpt": 1, "alpaca": 1, "prompt-completion": 1, "messages": 1}
    assert report.duplicates == 0  # an inline trace and reasoning_content: one conversation, not an exact repeat
    expected = [EXPECTED, ALPACA_MESSAGES, [*prompt_completion["prompt"], *prompt_completion["completion"]]]
    assert _ids(examples[:4]) == [x for m in expected for x in _ids(render_examples(codec, m, "keep", 512))]
    tok = AutoTokenizer.from_pretrained(folder)
    for messages, last in zip(expected, (examples[1], examples[2], examples[3])):
        out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = out["input_ids"], out["assistant_masks"]
        assert [t for t, m in zip(ids, mask) if m] == last.ids[last.n_prompt:].tolist()
        assert ids[:mask.index(1)] == last.ids[:last.n_prompt].tolist()
    # TRL's own ShareGPT conversion (from/value -> role/content, names kept) agrees where the names are roles
    named = {"conversations": [{"from": "user", "value": Q1}, {"from": "assistant", "value": A1}]}
    trl_row = maybe_convert_to_chatml(json.loads(json.dumps(named)))
    assert _ids(load_chat_examples([_jsonl(tmp_path / "n.jsonl", [named])], codec, "keep", 512)[0]) == \
        _ids(render_examples(codec, trl_row["messages"], "keep", 512))


def test_a_trl_prompts_assistant_turns_are_context_as_trl_trains_them(folder, codec, tmp_path):
    """A conversational `prompt` holding an earlier assistant turn: `axk1 sft` trained that turn as an example of
    its own, while TRL's SFTTrainer (completion_only_loss, its default) trains the completion alone. Compared with
    TRL itself: the same context, the same trained tokens (TRL's last is the template's newline after the turn)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    row = {"prompt": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "PROMPT-CONTEXT-TURN"},
                      {"role": "user", "content": "q2"}],
           "completion": [{"role": "assistant", "content": "a2"}]}
    examples, report = load_chat_examples([_jsonl(tmp_path / "pc.jsonl", [row])], codec, "non-think", 512)
    assert len(examples) == 1 and report.turns_excluded == {"weight 0": 1} and not report.excluded
    ours = examples[0]
    decode = codec.tokenizer.decode
    assert decode(ours.ids[ours.n_prompt:].tolist(), skip_special_tokens=False) == "a2<|im_end|>"
    assert "PROMPT-CONTEXT-TURN" in decode(ours.ids[:ours.n_prompt].tolist(), skip_special_tokens=False)

    tok = AutoTokenizer.from_pretrained(folder)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(folder), processing_class=tok,
                         args=SFTConfig(output_dir=str(tmp_path / "trl"), max_steps=1, report_to=[], use_cpu=True),
                         train_dataset=Dataset.from_list([{**row, "chat_template_kwargs": {"enable_thinking": False}}]))
    done = trainer.train_dataset[0]
    ids, mask = done["input_ids"], [label != -100 for label in done["labels"]]  # (TRL folds its mask into labels)
    trained = [t for t, m in zip(ids, mask) if m]
    assert ids[:mask.index(True)] == ours.ids[:ours.n_prompt].tolist()
    assert trained[:-1] == ours.ids[ours.n_prompt:].tolist() and tok.decode(trained[-1:]) == "\n"


def test_every_container_gives_the_same_examples(codec, tmp_path):
    """A pretty-printed .json array was "66 invalid json" (one per line), .jsonl.gz and .parquet were "invalid
    utf-8", a save_to_disk folder "Is a directory", and a BOM lost the first row."""
    rows = [SHAREGPT, ALPACA, {"messages": EXPECTED[1:3]}]
    reference, _ = load_chat_examples([_jsonl(tmp_path / "plain.jsonl", rows)], codec, "keep", 512)
    pretty = tmp_path / "rows.json"
    pretty.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "plain.jsonl").read_bytes())
    zipped = tmp_path / "rows.jsonl.gz"
    zipped.write_bytes(gzip.compress((tmp_path / "plain.jsonl").read_bytes()))
    import pyarrow as pa
    import pyarrow.parquet as pq
    parquet = tmp_path / "rows.parquet"  # as pandas/datasets write it: structs get every field, None where absent
    pq.write_table(pa.Table.from_pylist([{"messages": EXPECTED}, {"messages": EXPECTED[1:3]}]), parquet)
    import zstandard
    zst = tmp_path / "rows.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress((tmp_path / "plain.jsonl").read_bytes()))
    for path, kind in ((pretty, "json array"), (bom, "jsonl"), (zipped, "gzip jsonl"), (zst, "zstd jsonl")):
        examples, report = load_chat_examples([path], codec, "keep", 512)
        assert report.files == {str(path): kind} and report.rows == 3 and not report.excluded, path
        assert _ids(examples) == _ids(reference), path
    examples, report = load_chat_examples([parquet], codec, "keep", 512)
    assert report.files == {str(parquet): "parquet"} and report.rows == 2 and not report.excluded
    assert _ids(examples) == _ids(reference[:2]) + _ids(reference[3:])
    import datasets  # (TRL, a test dependency, needs it)
    hf = tmp_path / "hf"
    datasets.Dataset.from_list([{"messages": EXPECTED}]).save_to_disk(str(hf))
    examples, report = load_chat_examples([hf], codec, "keep", 512)
    assert report.files == {str(hf): "hf dataset folder"} and _ids(examples) == _ids(reference[:2])
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[2:]), "test": datasets.Dataset.from_list(rows[2:])}
                         ).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(ValueError, match=r"DatasetDict \(splits: train, test\).*dd/train"):
        load_chat_examples([tmp_path / "dd"], codec, "keep", 512)


@pytest.mark.parametrize("name, content, says", [
    ("rows.csv", b"instruction,input,output\nHi,,Hello\n", r"rows\.csv: CSV is not read.*read_csv\('.*rows\.csv'\)"
     r"\.to_json\('.*rows\.jsonl', orient='records', lines=True"),
    ("rows.xlsx", b"PK\x03\x04rest", r"rows\.xlsx is a zip archive.*read_excel"),
    ("ps.jsonl", "\ufeff{}\n".encode("utf-16-le"), r"ps\.jsonl is UTF-16 text.*iconv -f UTF-16 -t UTF-8"),
    ("rows.bin", b"\x80\x04\x95\x00\x00\x00", r"rows\.bin is not text"),
    ("broken.json", b'[{"messages": []},\n  {"messages": ', r"broken\.json is not valid JSON"),
    ("folder", None, r"folder is a folder: list its files"),
])
def test_what_cannot_be_read_is_refused_with_a_fix(codec, tmp_path, name, content, says):
    path = tmp_path / name
    path.mkdir() if content is None else path.write_bytes(content)
    with pytest.raises(ValueError, match=says):
        load_chat_examples([path], codec, "keep", 512)


@pytest.mark.parametrize("name", ["jq.json", "jq.jsonl"])
def test_jqs_default_output_is_refused_naming_jq_c_and_one_pretty_row_is_read(codec, tmp_path, name):
    """`jq '.[]'` prints each object indented, one after another: as .json the error was only "Extra data at line
    13"; as .jsonl every line was counted as an invalid row."""
    rows = [SHAREGPT, ALPACA]
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, indent=2, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ValueError, match=r"several pretty-printed JSON values one after another, as jq prints "
                                         r"them.*jq -c \. .*jq\.json"):
        load_chat_examples([path], codec, "keep", 512)
    path.write_text(json.dumps(ALPACA, indent=2, ensure_ascii=False), encoding="utf-8")  # one row, pretty
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert report.rows == 1 and not report.excluded and len(examples) == 1


def test_developer_role_and_other_reasoning_field_names(codec, tmp_path):
    """`developer` was "unknown role"; a `reasoning` or `thinking` field was ignored (keep mode trained the
    answer alone, as non-think)."""
    rows = [{"messages": [{"role": "developer", "content": SYSTEM}, *EXPECTED[1:3]]},
            {"messages": [*EXPECTED[1:2], {"role": "assistant", "content": A1, "reasoning": "17*3=51"}]},
            {"messages": [*EXPECTED[1:2], {"role": "assistant", "content": A1, "thinking": "17*3=51"}]}]
    examples, report = load_chat_examples([_jsonl(tmp_path / "d.jsonl", rows)], codec, "keep", 512)
    assert not report.excluded and len(examples) == 3
    assert examples[0].ids.tolist() == render_examples(codec, EXPECTED[:3], "keep", 512)[0].ids.tolist()
    traced = [*EXPECTED[1:2], {"role": "assistant", "content": A1, "reasoning_content": "17*3=51"}]
    assert _ids(examples[1:]) == 2 * _ids(render_examples(codec, traced, "keep", 512))
    assert [e.mode for e in examples] == ["non-think", "think", "think"]


def test_a_row_that_says_one_thing_twice_differently_is_excluded_not_guessed(codec, tmp_path):
    """A row with both `messages` and `conversations` trained `messages` and dropped the other without a word; an
    assistant turn with `reasoning_content` and a different `reasoning` trained the first. Both are excluded now,
    naming the keys; the same text under two names (an export that kept both) is one trace and trains."""
    turn = {"role": "assistant", "content": A1, "reasoning_content": "17*3=51"}
    sharegpt = [{"from": "human", "value": EXPECTED[1]["content"]}, {"from": "gpt", "value": "other"}]
    rows = [{"messages": [EXPECTED[1], turn], "conversations": sharegpt},
            {"messages": [EXPECTED[1], {**turn, "reasoning": "17*3=50"}]},
            {"conversations": [sharegpt[0], {**sharegpt[1], "reasoning_content": "a", "thinking": "b"}]},
            {"prompt": [EXPECTED[1]], "completion": [{**turn, "thinking": "no"}]},
            {"messages": [EXPECTED[1], {**turn, "reasoning": "17*3=51"}]},
            {"messages": [EXPECTED[1], turn], "conversation": [EXPECTED[1], turn]}]
    examples, report = load_chat_examples([_jsonl(tmp_path / "d.jsonl", rows)], codec, "keep", 512)
    assert report.excluded == {"two lists of turns": 1, "bad message": 3}
    assert report.where["two lists of turns"] == [f"{tmp_path / 'd.jsonl'}:1"]
    assert "'messages' and 'conversations'" in report.detail["two lists of turns"]
    assert "messages[1] has reasoning_content and reasoning with different texts" in report.detail["bad message"]
    traced = render_examples(codec, [EXPECTED[1], turn], "keep", 512)
    assert _ids(examples) == 2 * _ids(traced)


def test_r1_style_trace_without_its_opening_tag_is_a_trace(codec, tmp_path):
    """DeepSeek-R1 distilled rows write `trace</think>answer` (the <think> was in the prompt): "think tag in
    answer" before; now the same example as `<think>trace</think>answer`."""
    r1 = [EXPECTED[1], {"role": "assistant", "content": f"17 times 3 is 51.\n</think>\n\n{A1}"}]
    tagged = [EXPECTED[1], {"role": "assistant", "content": f"<think>17 times 3 is 51.</think>{A1}"}]
    examples, report = load_chat_examples([_jsonl(tmp_path / "r1.jsonl", [{"messages": r1}])], codec, "think", 512)
    assert not report.excluded and _ids(examples) == _ids(render_examples(codec, tagged, "think", 512))


def test_think_mode_keeps_the_turns_it_can_train(codec, tmp_path):
    """A distilled multi-turn row with a trace on its last turn only was excluded whole ("no reasoning for think
    mode"); each turn is its own example, so only the untraced turn is left out, and counted."""
    no_trace = {"messages": [EXPECTED[1], EXPECTED[2]]}
    path = _jsonl(tmp_path / "t.jsonl", [{"messages": EXPECTED}, no_trace])
    examples, report = load_chat_examples([path], codec, "think", 512)
    assert _ids(examples) == _ids(render_examples(codec, EXPECTED, "think", 512, dropped=[]))
    assert len(examples) == 1 and report.examples == 1
    assert dict(report.turns_excluded) == {"no reasoning for think mode": 1}
    assert report.turn_where["no reasoning for think mode"] == [f"{path}:1 (messages[2] has no reasoning_content "
                                                                "or <think> span)"]
    assert dict(report.excluded) == {"no reasoning for think mode": 1}  # nothing of the second row trains
    assert report.to_dict()["kept_rows"] == 1
    assert "turns left out of kept rows: 1 no reasoning for think mode" in report.summary()
    with pytest.raises(Exception, match="no reasoning"):  # render_examples alone stays strict
        render_examples(codec, EXPECTED, "think", 512)


def test_duplicates_are_counted_and_kept(codec, tmp_path):
    """Repeats were kept silently; they are kept (TRL keeps them; repeating is how a mix upweights rows) and
    reported with their places."""
    row = {"messages": EXPECTED[1:3]}
    path = _jsonl(tmp_path / "dup.jsonl", [row, {"messages": EXPECTED}, dict(row, id="copy"), row])
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert len(examples) == 5 and report.duplicates == 2
    assert report.to_dict()["first_duplicates_at"] == [f"{path}:3", f"{path}:4"]
    assert "2 of them repeat an earlier row's conversation exactly and are trained again" in report.summary()


def test_the_report_keeps_what_to_fix(codec, tmp_path):
    """Only the reason's name was printed and written ("no messages"); the detail (allowed roles, the shapes a row
    may have) is kept for the first row of each reason."""
    rows = [{"conversations": [{"from": "narrator", "value": "{}"}, {"from": "gpt", "value": "x"}]},
            {"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]},
            {"text": "a plain document"},
            {"messages": [{"role": ["user"], "content": "hi"}, {"role": "assistant", "content": "x"}]},
            {"conversations": [{"from": {"x": 1}, "value": "hi"}, {"from": "gpt", "value": "x"}]}]
    path = _jsonl(tmp_path / "bad.jsonl", rows)
    _, report = load_chat_examples([path], codec, "keep", 512)
    detail = report.to_dict()["excluded_detail"]
    assert "ShareGPT speakers taken: human, user, gpt" in detail["unknown role"]
    assert "'conversations' (ShareGPT: from/value)" in detail["no messages"] and "axk1 train" in detail["no messages"]
    assert report.excluded == {"unknown role": 4, "no messages": 1}  # a list or an object as the role too
    assert report.formats == {"sharegpt": 2, "messages": 2}  # the shape is counted though the row then fails
    summary = report.summary()
    assert f"1 no messages (e.g. {path}:3: the row has keys 'text'; a chat row needs 'messages'" in summary
    assert f"4 unknown role (e.g. {path}:1: conversations[0] has from 'narrator'" in summary


def test_the_sft_keys_table_and_help_say_what_the_code_does(capsys):
    """The [sft] keys were documented only in recipe comments (the default mode, keep, nowhere) and `sft --help`
    said "think / non-think" with no word on the data: the doc's table is checked against SFTConfig."""
    import dataclasses
    import re
    import tomllib

    from axk1.cli import main
    from axk1.posttrain.sft import SFTConfig

    doc = (Path(__file__).resolve().parents[1] / "docs" / "posttraining.md").read_text()
    table = doc.split("### [sft] keys", 1)[1].split("\n\n")[2]
    documented = {m[1]: tomllib.loads(f"v = {m[2]}")["v"] for m in re.finditer(r"^\| `(\w+)` \| `([^`]*)` \|",
                                                                                 table, re.M)}
    assert documented == {f.name: getattr(SFTConfig(), f.name) for f in dataclasses.fields(SFTConfig)}
    with pytest.raises(SystemExit):
        main(["sft", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for said in ("mode = keep (the default", "ShareGPT", "Alpaca", "Parquet", "sft_data_report.json",
                 '"Your own SFT data"'):
        assert said in text, said


@pytest.mark.parametrize("state, says", [
    ("[]", r"state\.json must be a JSON object, got list: re-save the dataset"),
    ('{"_data_files": {"filename": "x"}}', "no list '_data_files'"),
    ('{"_data_files": [{}]}', "not plain file names"),
    ('{"_data_files": [{"filename": "../rows.arrow"}]}', "not plain file names"),
    ("not json", r"state\.json is not valid JSON \(Expecting value at column 1\): re-save the dataset"),
])
def test_a_dataset_folder_whose_state_file_is_wrong_is_refused_by_name(codec, tmp_path, state, says):
    """state.json holding `[]`, or a data file named `../x`: an AttributeError traceback, or a read outside the
    folder."""
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "state.json").write_text(state)
    with pytest.raises(ValueError, match=says):
        load_chat_examples([folder], codec, "keep", 512)


def test_a_compressed_file_cut_short_is_refused_naming_it(codec, tmp_path):
    """A .jsonl.gz cut short ended SFT and `posttrain overlap` in a traceback (EOFError from gzip)."""
    plain = _jsonl(tmp_path / "plain.jsonl", [ALPACA] * 200).read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(plain)[:60])
    with pytest.raises(ValueError, match=rf"chat data {cut} is a gzip stream that is cut short or damaged"):
        load_chat_examples([cut], codec, "keep", 512)
