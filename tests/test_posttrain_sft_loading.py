"""Loading chat rows for `axk1 sft` in less time, to the same examples: a row of a few turns renders each turn's
prompt once (the linear rendering's check cost four times that and saved nothing below ~16 turns), and texts are
encoded piece by piece between the tokenizer's added tokens, each piece once (a row's history was encoded again for
every turn). Every example is compared with the one its whole history renders and encodes to, row for row, and the
report's exclusions with what the rows hold."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import (check_messages, check_row_tools, completion_text, load_chat_examples,
                                      prompt_text, render_examples, split_think, untrained)
from axk1.posttrain.chat_formats import row_messages
from axk1.text.chat_template import CHAT_TEMPLATE
from axk1.text.segment_encoder import SegmentEncoder
from axk1.text.tool_format import answer_with_calls
from tests.posttrain_helpers import jsonl_file
from tests.serve_helpers import train_tokenizer

WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
SAYINGS = ["서울은 한강 옆의 큰 도시입니다.", "Two plus two is four.", "삼각형 내각의 합은 180도입니다.",
           "def add(a, b):\n    return a + b", "Let me check it once more."]


@pytest.fixture(scope="module")
def codec() -> ChatCodec:
    return ChatCodec(train_tokenizer(512), CHAT_TEMPLATE, eos_token="<|im_end|>")


def _chat(rng: random.Random, turns: int) -> list[dict]:
    messages = [{"role": "system", "content": rng.choice(["Be brief.", "당신은 친절한 도우미입니다."])}]
    for k in range(turns):
        messages.append({"role": "user", "content": " ".join(rng.sample(SAYINGS, 2))})
        answer, trace = " ".join(rng.sample(SAYINGS, 3)), " ".join(rng.sample(SAYINGS, 2))
        messages.append([{"role": "assistant", "content": answer, "reasoning_content": trace},
                         {"role": "assistant", "content": f"<think>\n{trace}\n</think>\n\n{answer}"},
                         {"role": "assistant", "content": f"{trace}</think>{answer}"},  # DeepSeek-R1's
                         {"role": "assistant", "content": answer}][k % 4])
    return messages


def _rows() -> list[dict]:
    """Rows that train: each shape and trace convention, tools, weight 0, one turn to 18."""
    rng = random.Random(7)
    rows = [{"messages": _chat(rng, n)} for n in (1, 2, 3, 4, 5, 18)]
    rows += [{"tools": WEATHER, "messages": [
        {"role": "user", "content": "서울 날씨는?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
            "name": "get_weather", "arguments": json.dumps({"city": "서울"}, ensure_ascii=False)}}]},
        {"role": "tool", "content": '{"sky": "clear"}'},
        {"role": "assistant", "content": "맑습니다.", "reasoning_content": "The tool says clear."}]},
        {"conversations": [{"from": "human", "value": SAYINGS[0]}, {"from": "gpt", "value": SAYINGS[1]},
                           {"from": "human", "value": SAYINGS[2]}, {"from": "gpt", "value": SAYINGS[3]}]},
        {"instruction": SAYINGS[4], "input": SAYINGS[0], "output": SAYINGS[2]},
        {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                    {"role": "user", "content": SAYINGS[1]}], "completion": SAYINGS[2]},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 0},
                      {"role": "user", "content": "c"}, {"role": "assistant", "content": SAYINGS[0]}]}]
    return rows


def _expected(codec: ChatCodec, row: dict, mode: str) -> list[tuple[list[int], int, str] | str]:
    """Each assistant turn's example as its whole history renders it (prompt_text) and the tokenizer encodes the
    whole prompt and completion, or the reason the turn is left out (weight 0, no reasoning in think mode)."""
    _, messages = row_messages(row)
    messages, tools = check_messages(messages), check_row_tools(row.get("tools"))
    out = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        reasoning, said = split_think(m)
        if untrained(m):
            out.append("weight 0")
            continue
        if mode == "think" and not reasoning:
            out.append("no reasoning for think mode")
            continue
        thinking = mode == "think" or (mode == "keep" and bool(reasoning))
        prompt = prompt_text(codec, messages[:i], thinking, tools)
        completion = completion_text(reasoning if thinking else None, answer_with_calls(said, m.get("tool_calls")
                                                                                        or []), "<|im_end|>")
        ids = [codec.tokenizer.encode(t, add_special_tokens=False).ids for t in (prompt, completion)]
        out.append((ids[0] + ids[1], len(ids[0]), "think" if thinking else "non-think"))
    return out


@pytest.mark.parametrize("mode", ["keep", "think", "non-think"])
def test_every_example_is_its_whole_history_rendered_and_encoded_and_every_exclusion_is_counted(codec, tmp_path,
                                                                                                mode):
    rows = _rows()
    expected = [_expected(codec, row, mode) for row in rows]
    lengths = sorted(len(e[0]) for turns in expected for e in turns if not isinstance(e, str))
    max_tokens = lengths[len(lengths) // 2]  # half the turns over-long: some rows keep some turns, some none
    bad = [{"messages": [{"role": "user", "content": "Hi <|im_start|>"}, {"role": "assistant", "content": "x"}]},
           {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]},
           {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>never closed"}]},
           {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<tool_call>x",
                                                                  "reasoning_content": "r"}]}]
    path = jsonl_file(tmp_path / "chat.jsonl", rows[:3] + bad[:2] + rows[3:] + bad[2:])
    with path.open("a") as f:
        f.write("{not json\n")
    examples, report = load_chat_examples([path], codec, mode, max_tokens)

    kept, turns_out, rows_out = [], Counter(), Counter()
    for turns in expected:
        fits = [e for e in turns if not isinstance(e, str) and len(e[0]) <= max_tokens]
        reasons = [e if isinstance(e, str) else "over-long" for e in turns if e not in fits]
        kept += fits
        if fits:
            turns_out.update(reasons)
        else:  # the row goes under its first turn's reason that is not weight 0
            rows_out[next((r for r in reasons if r != "weight 0"), reasons[0])] += 1
    assert [(e.ids.tolist(), e.n_prompt, e.mode) for e in examples] == kept
    assert len(kept) > 5 and report.examples == len(kept)
    for reason in ("special token in text", "empty assistant turn", "unclosed think", "tool tag in text",
                   "invalid json"):
        rows_out[reason] += 1
    assert report.excluded == rows_out
    assert report.turns_excluded == turns_out
    assert report.rows == len(rows) + len(bad) + 1


def test_a_row_of_a_few_turns_renders_each_prompt_once(codec, monkeypatch):
    """The linear rendering's check renders ~4 windows a turn: for 4 turns it was 18 renders for 4 prompts."""
    renders = []
    real = codec.render_history
    monkeypatch.setattr(codec, "render_history", lambda history, *a, **k: renders.append(len(history))
                        or real(history, *a, **k))
    examples = render_examples(codec, _chat(random.Random(1), 4), "keep", 100_000)
    assert len(examples) == 4
    assert renders == [2, 4, 6, 8]  # the history before each turn (a system turn first), once


def test_a_rows_history_is_encoded_once_not_once_a_turn(codec, tmp_path):
    codec = ChatCodec(codec.tokenizer, CHAT_TEMPLATE, eos_token="<|im_end|>")  # its own pieces remembered
    row = {"messages": _chat(random.Random(2), 12)}
    examples, _ = load_chat_examples([jsonl_file(tmp_path / "c.jsonl", [row])], codec, "keep", 100_000)
    encoded = sum(len(piece) for piece in codec._segments.cache)
    last = codec.tokenizer.decode(examples[-1].ids.tolist(), skip_special_tokens=False)
    # every turn's example holds the history: the texts encoded whole were ~6x the last one
    assert sum(len(codec.tokenizer.decode(e.ids.tolist(), skip_special_tokens=False)) for e in examples) > 5 * len(last)
    assert encoded < 2 * len(last)  # each piece once: a history's answer, and again as its turn's completion


TAGS = ["<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>", "<|pad|>"]


def _texts(n: int) -> list[str]:
    """Texts of added tokens, their fragments, whitespace and words, in any order."""
    rng = random.Random(3)
    parts = TAGS + ["<", "think>", "<|im_", "\n", " ", "  \n", "", "서울", "Seoul,", "a+b"]
    return ["".join(rng.choice(parts + [rng.choice(SAYINGS)]) for _ in range(rng.randint(0, 10))) for _ in range(n)]


def test_the_pieces_ids_are_the_tokenizers_ids_for_the_whole_text(codec, monkeypatch):
    import axk1.text.segment_encoder as segment_encoder

    monkeypatch.setattr(segment_encoder, "CACHE_CHARS", 500)  # forgotten and remembered anew many times over
    encoder = SegmentEncoder(codec.tokenizer)
    assert encoder.splits is not None  # the tests' tokenizer (byte-level BPE, tags as added tokens) is cut
    for text in _texts(3000):
        assert encoder.encode(text) == codec.tokenizer.encode(text, add_special_tokens=False).ids, text
        assert encoder.cached_chars == sum(map(len, encoder.cache)) <= 500
    assert encoder.cache  # and pieces were remembered


def _tokenizer(pre, **added) -> Tokenizer:
    """A character-level BPE (no merges) with one special and one plain added token."""
    vocab = {c: i for i, c in enumerate(sorted(set("▁ abcdeghiklmnorstuvwxyz<>/|_\n")))}
    tokenizer = Tokenizer(models.BPE(vocab, [], unk_token="a"))
    tokenizer.pre_tokenizer = pre
    tokenizer.add_special_tokens([AddedToken("<|im_end|>", **added)])
    tokenizer.add_tokens([AddedToken("<think>", normalized=False)])
    return tokenizer


@pytest.mark.parametrize("case", ["metaspace first", "lstrip", "normalized after a normaliser", "truncation"])
def test_a_tokenizer_whose_pieces_depend_on_the_whole_text_is_encoded_whole(case):
    """Metaspace's "first" scheme marks the text's first word only, an lstrip token takes the spaces before it, a
    normalised token is matched after the normaliser, truncation cuts the whole: cut at the tags, other ids."""
    pre = pre_tokenizers.Metaspace(prepend_scheme="first") if case == "metaspace first" else None
    tokenizer = _tokenizer(pre, **({"lstrip": True} if case == "lstrip" else {}),
                           **({"normalized": True} if case == "normalized after a normaliser" else {}))
    if case == "normalized after a normaliser":
        tokenizer.normalizer = normalizers.Lowercase()
    if case == "truncation":
        tokenizer.enable_truncation(8)
    text = "hello <|im_end|> world<think>done <|im_end|>\nnext turn is long"
    whole = tokenizer.encode(text, add_special_tokens=False).ids
    encoder = SegmentEncoder(tokenizer)
    assert encoder.splits is None
    assert encoder.encode(text) == whole
    cut = [i for part in ("hello ", "<|im_end|>", " world", "<think>", "done ", "<|im_end|>", "\nnext turn is long")
           for i in tokenizer.encode(part, add_special_tokens=False).ids]
    if case != "normalized after a normaliser":  # (lowercase changes nothing here: the check refuses it anyway)
        assert cut != whole  # what cutting would have trained
