"""The mode-overlap dataset (A.X K1's Think-Fusion stage 2): the same prompt answered in both modes.

For each conversation with a think response, two rows are written side by side: the think row as given, and a
non-think row for the same prompt — taken from the non-think set when it has that prompt, otherwise made by
deleting the think span (reasoning_content, or an inline <think>…</think>) from the answer. SFT on the pairs
(`axk1 sft` with [sft] mode = "keep") teaches the merged model to honour the template's switch: the prompt alone
decides whether a trace comes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from axk1.posttrain.chat_data import BadRow, ChatReport, check_messages, read_jsonl_rows, split_think


def _prompt_key(messages: list[dict]) -> str:
    """Everything before the last assistant turn, which is what both modes must share."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return json.dumps([{"role": m["role"], "content": m.get("content")} for m in messages[:last]],
                      ensure_ascii=False, sort_keys=True)


def _without_reasoning(messages: list[dict]) -> list[dict]:
    out = []
    for m in messages:
        if m["role"] == "assistant":
            m = {"role": "assistant", "content": split_think(m)[1]}
        out.append(m)
    return out


def build_overlap(think_paths: list[str | Path], out_path: str | Path,
                  non_think_paths: list[str | Path] = ()) -> dict:
    """Writes the paired rows to `out_path`; returns counts (pairs, where each non-think half came from, and the
    rows excluded with their reasons)."""
    report = ChatReport()
    answers: dict[str, list[dict]] = {}
    for place, row in read_jsonl_rows(non_think_paths, report):
        try:
            messages = check_messages(row.get("messages") if isinstance(row, dict) else None)
        except BadRow as e:
            report.exclude(e.reason, place)
            continue
        answers.setdefault(_prompt_key(messages), _without_reasoning(messages))
    source: Counter = Counter()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as out:
        for place, row in read_jsonl_rows(think_paths, report):
            try:
                messages = check_messages(row.get("messages") if isinstance(row, dict) else None)
                last = [m for m in messages if m["role"] == "assistant"][-1]
                reasoning, _ = split_think(last)
                if not reasoning:
                    raise BadRow("no reasoning for think mode", "a think row needs a trace to pair")
            except BadRow as e:
                report.exclude(e.reason, place)
                continue
            key = _prompt_key(messages)
            plain = answers.get(key)
            source["non-think set" if plain else "think span deleted"] += 1
            for mode, msgs in (("think", messages), ("non-think", plain or _without_reasoning(messages))):
                out.write(json.dumps({"messages": msgs, "pair": place, "mode": mode}, ensure_ascii=False) + "\n")
    pairs = sum(source.values())
    return {"pairs": pairs, "rows_written": 2 * pairs, "non_think_from": dict(source), "input": report.to_dict()}
