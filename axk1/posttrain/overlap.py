"""The mode-overlap dataset (A.X K1's Think-Fusion stage 2): the same prompt answered in both modes.

For each conversation with a think response, two rows are written side by side: the think row as given, and a
non-think row for the same prompt — taken from the non-think set when it has that prompt, otherwise made by
deleting the think span (reasoning_content, or an inline <think>…</think>) from the answer. SFT on the pairs
(`axk1 sft` with [sft] mode = "keep") teaches the merged model to honour the template's switch: the prompt alone
decides whether a trace comes.

Every input row is accounted for (rows_written, or excluded with a reason and file:line): a non-think row whose
prompt no think row has is excluded ("no think row with this prompt": a pair needs both halves; train it with
`axk1 sft --sft.mode non-think` instead), as is a second non-think row for a prompt already answered, and a
non-think row with an empty answer or an untrained one ("weight 0"), or one SFT would exclude as a non-think row
(a literal `<think>`/`</think>` in an answer: "think tag in answer"; a `<tool_call>` or `<tool_response>`: "tool
tag in text"; its prompt falls back to deleting the think span). A think row is excluded when its last turn has
no trace, an empty answer or a think tag in its answer, or when a turn that either half trains breaks SFT's rules
(chat_data.check_turn: what SFT would exclude), or is marked untrained ("weight 0": OpenAI's "weight": 0, or a
turn of a TRL row's prompt), since a pair exists to train that turn in both modes; a pair's earlier turns keep
their weights in both halves.
A row whose text holds a chat control token (`<|im_end|>`, `<|im_start|>`, ...) is excluded as SFT excludes it
("special token in text"): the tokens of a given tokenizer folder, else those axk1's tokenizers reserve. A think
row repeating an earlier one exactly is paired again (SFT trains repeats, which is how a mix upweights a source) and
counted, as SFT's report counts it (duplicate_rows). The output is written to a temporary file and renamed at the
end, so a failure leaves no partial file, and it may not be one of the inputs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from axk1.atomic_file import atomic_writer
from axk1.infer.chat import message_text
from axk1.posttrain.chat_data import (UNTRAINED, check_messages, check_special_tokens, check_turn, repeat_key,
                                      split_think, untrained)
from axk1.posttrain.chat_formats import read_chat_rows
from axk1.posttrain.chat_report import BadRow, ChatReport
from axk1.posttrain.chat_tool_rows import row_tools
from axk1.posttrain.chat_formats import row_messages
from axk1.posttrain.tasks import refuse_overwriting_inputs
from axk1.text.tokenizer_file import SPECIAL_TOKENS, TEXT_TAGS, special_token_pattern


class ControlTokens:
    """The control tokens axk1's tokenizers reserve (turn markers, end of text, padding; not the think and tool
    tags, which are text), found as ChatCodec.find_special_token finds a folder's: for a check without a model."""

    def __init__(self, tokens: tuple[str, ...] = tuple(t for t in SPECIAL_TOKENS if t not in TEXT_TAGS)) -> None:
        self._re = special_token_pattern(tokens)

    def find_special_token(self, text: str) -> str | None:
        found = self._re.search(text)
        return found.group() if found else None


def _prompt_key(messages: list[dict], tools: list | None = None) -> str:
    """Everything before the last assistant turn, which is what both modes must share (tools and calls included:
    the same question with other tools is another prompt), as the template renders it: an earlier assistant turn
    by its answer alone, so a think row's inline `<think>` spans in earlier turns match the plain row's answers."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return json.dumps([tools or []] + [{"role": m["role"], "content": split_think(m)[1] if m["role"] == "assistant"
                                        else message_text(m.get("content")),
                                        "tool_calls": m.get("tool_calls") or []} for m in messages[:last]],
                      ensure_ascii=False, sort_keys=True)


def _without_reasoning(messages: list[dict]) -> list[dict]:
    out = []
    for m in messages:
        if m["role"] == "assistant":  # the weight too: a turn the row marks untrained stays so in this half
            m = {"role": "assistant", "content": split_think(m)[1],
                 **({"tool_calls": m["tool_calls"]} if m.get("tool_calls") else {}),
                 **({"weight": m["weight"]} if m.get("weight") is not None else {})}
        out.append(m)
    return out


def _last_turn(messages: list[dict]) -> tuple[int, dict]:
    """The assistant turn a pair is made of (its last), refused when the row marks it untrained: the pair would
    then train neither mode's answer to the prompt, whatever its earlier turns train."""
    i = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    if untrained(messages[i]):
        raise BadRow(UNTRAINED, f"messages[{i}], the last assistant turn, has weight 0 (or is in a TRL row's "
                     "prompt): a pair trains that turn in both modes, and the row says not to train it")
    return i, messages[i]


def _check_trained_turns(messages: list[dict]) -> None:
    """The rules SFT (`[sft] mode = "keep"`) applies to each turn of a half it trains (chat_data.check_turn): a
    turn with a trace as think mode, one without as non-think mode, so a literal `<think>`, `</think>` or
    `<tool_call>` in a non-think half's answer excludes it here, as SFT would exclude it ("think tag in answer",
    "tool tag in text"). A turn with no text at all is left to SFT's own count."""
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or untrained(m):
            continue
        reasoning, said = split_think(m)
        if reasoning or said or m.get("tool_calls"):
            check_turn(i, reasoning or None, said, bool(reasoning), m.get("tool_calls") or [])


def _messages(row, report: ChatReport, codec) -> list[dict]:
    # any shape chat_formats reads (ShareGPT, Alpaca, ...), counted in the report's formats; a control token in the
    # text excludes the row, as SFT would exclude both halves of its pair
    messages = check_messages(row_messages(row, report.formats)[1])
    check_special_tokens(codec, messages, row_tools(row))
    return messages


def build_overlap(think_paths: list[str | Path], out_path: str | Path,
                  non_think_paths: list[str | Path] = (), codec=None) -> dict:
    """Writes the paired rows to `out_path`; returns counts (pairs, where each non-think half came from, and the
    rows excluded with their reasons, duplicate think rows). `codec`: the tokenizer whose control tokens SFT will
    refuse in text (a ChatCodec; default: ControlTokens, axk1's)."""
    refuse_overwriting_inputs(out_path, [*think_paths, *non_think_paths])
    codec = codec or ControlTokens()
    report = ChatReport()
    answers: dict[str, tuple[str, list[dict]]] = {}  # prompt key -> (place, non-think messages)
    for place, row in read_chat_rows(non_think_paths, report):
        try:
            messages = _messages(row, report, codec)
            _last_turn(messages)  # an untrained answer: this prompt's non-think half is the think row's instead
            plain = _without_reasoning(messages)
            last = [m for m in plain if m["role"] == "assistant"][-1]
            if not last["content"] and not last.get("tool_calls"):  # a turn that only calls tools is an answer
                raise BadRow("empty answer", "a non-think answer of \"\" teaches nothing; the think span is "
                             "deleted for this prompt instead")
            _check_trained_turns(plain)  # a half SFT would exclude: the think span is deleted for this prompt instead
            key = _prompt_key(messages, row_tools(row))
            if key in answers:
                raise BadRow("duplicate non-think prompt", f"the prompt already has a non-think row at "
                             f"{answers[key][0]}")
        except BadRow as e:
            report.exclude(e.reason, place, e.detail)
            continue
        answers[key] = (place, plain)
    used: set[str] = set()
    source: Counter = Counter()
    seen: set[int] = set()  # think rows already paired, by conversation and tools, as SFT keys its repeats
    with atomic_writer(out_path) as out:
        for place, row in read_chat_rows(think_paths, report):
            try:
                messages = _messages(row, report, codec)
                i, last = _last_turn(messages)
                reasoning, answer = split_think(last)
                if not reasoning:
                    raise BadRow("no reasoning for think mode", "a think row needs a trace to pair")
                # the rule SFT applies to the turn (an empty answer, a think tag inside it), so that no pair is
                # written whose halves SFT would then exclude
                check_turn(i, reasoning, answer, True, last.get("tool_calls") or [])
                _check_trained_turns(messages)  # its earlier turns too, which both halves train
                key = _prompt_key(messages, row_tools(row))
                plain = answers[key][1] if key in answers else _without_reasoning(messages)
                if key not in answers:
                    _check_trained_turns(plain)  # its earlier turns again, now as non-think answers
            except BadRow as e:
                report.exclude(e.reason, place, e.detail)
                continue
            used.add(key)
            repeat = repeat_key(messages, row_tools(row))
            if repeat in seen:
                report.duplicate(place)
            seen.add(repeat)
            source["non-think set" if key in answers else "think span deleted"] += 1
            tools = {"tools": row_tools(row)} if row_tools(row) else {}  # both halves list the row's tools
            for mode, msgs in (("think", messages), ("non-think", plain)):
                out.write(json.dumps({**tools, "messages": msgs, "pair": place, "mode": mode}, ensure_ascii=False)
                          + "\n")
    for key, (place, _) in answers.items():
        if key not in used:
            report.exclude("no think row with this prompt", place)
    pairs = sum(source.values())
    # SFT's report, less its counts of trained examples, which no overlap run has
    read = {k: v for k, v in report.to_dict().items() if k not in ("examples", "examples_by_mode")}
    return {"pairs": pairs, "rows_written": 2 * pairs, "non_think_from": dict(source), "input": read}


def summary_line(result: dict, out_path: str | Path) -> str:
    """The run in one line, as `posttrain chat` says it."""
    read = result["input"]
    line = f"{result['pairs']} pairs ({result['rows_written']} rows) from {read['rows']} rows -> {out_path}"
    if read["excluded"]:
        line += "; excluded: " + ", ".join(f"{n} {r}" for r, n in Counter(read["excluded"]).most_common())
    if read["duplicate_rows"]:
        one = read["duplicate_rows"] == 1
        line += (f"; {read['duplicate_rows']} think row{'' if one else 's'} repeat{'s' if one else ''} an earlier one "
                 f"exactly and {'is' if one else 'are'} paired again (e.g. {read['first_duplicates_at'][0]})")
    return line
