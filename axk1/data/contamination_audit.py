"""`axk1 data contamination`: how much of an evaluation set a corpus already holds, without changing it. For a
corpus made elsewhere (a crawl, a dataset from a hub, synthetic or post-training data) or one made before the
pipeline's `[filters.decontamination]` was on: every document is checked against the sets with the filter's own
index (axk1/text/contamination.py), and the report says, per set, which rows the corpus holds and in which
documents. A score on a set the training data held is a recitation, not a measurement: this says which problems
to distrust, or which data to clean before training.

A row without the text field that is a chat row (OpenAI `messages`, ShareGPT `conversations`: SFT data) is checked
on the text of its user and assistant turns (with an assistant's reasoning under each name SFT reads it from,
text/reasoning.REASONING_FIELDS), so SFT data can be checked against AIME before training. The reader is a small one of its own: the SFT row reader (axk1/posttrain/
chat_formats.py) is in a capability of the same layer, which data/ may not import (tests/test_architecture.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from axk1.data.stats import input_files, read_jsonl_rows
from axk1.text.contamination import ContaminationIndex, read_benchmarks, texts_to_check
from axk1.text.reasoning import REASONING_FIELDS

EXAMPLES = 3  # documents named per benchmark row found
# The turns of a chat row whose text is checked: what the user asked and what the model is trained to answer
# (ShareGPT spells them human / gpt). A system prompt is a shared template, not benchmark content.
_CHAT_ROLES = {"user", "assistant", "human", "gpt"}


def _part_text(content: object) -> str:
    """A message's content as text: a string, or the texts of a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def chat_text(row: dict) -> str | None:
    """The text of a chat row's user and assistant turns, joined; None when the row is not a chat row (no
    `messages` or `conversations` list)."""
    turns = row.get("messages", row.get("conversations"))
    if not isinstance(turns, list):
        return None
    texts = []
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("role", turn.get("from")) not in _CHAT_ROLES:
            continue
        # the trace under each name SFT trains it from (gpt-oss' `thinking`, vLLM's `reasoning` were not checked);
        # one text given under two names is checked once
        traces = dict.fromkeys(_part_text(turn.get(k)) for k in REASONING_FIELDS)
        texts += [t for t in (*traces, _part_text(turn.get("content", turn.get("value")))) if t]
    return "\n\n".join(texts)


def audit(paths: list[str | Path], benchmarks: list[str], ngram: int = 13, text_field: str = "text",
          id_field: str = "id", progress: bool = True) -> dict:
    """The report: documents read, documents sharing an n-gram with a set, rows that could not be read (by reason,
    none lost silently), and per set its rows found with the documents holding each (first EXAMPLES, as the row's
    id, else file:line)."""
    from tqdm import tqdm

    if not benchmarks:
        raise ValueError("name the evaluation sets to look for: --benchmark humaneval, --benchmark aime25_en.jsonl")
    index = ContaminationIndex(read_benchmarks(benchmarks), ngram)
    files = input_files(paths, "corpus")
    documents = contaminated = chat_rows = 0
    bad: Counter = Counter()
    per_set: Counter = Counter()  # documents holding any row of the set
    rows: dict[str, dict[str, dict]] = {name: {} for name in index.sets}
    for where, row in tqdm(read_jsonl_rows(files), desc="documents checked", unit="doc", disable=not progress):
        text = row.get(text_field) if isinstance(row, dict) else None
        if not isinstance(text, str) and isinstance(row, dict):
            text = chat_text(row)
            chat_rows += text is not None
        if not isinstance(text, str):
            bad[f"no `{text_field}` string or chat messages" if isinstance(row, dict)
                else f"a JSON {type(row).__name__}"] += 1
            continue
        documents += 1
        hits: dict = {}
        for _, part in texts_to_check(text, row.get("fields")):
            hits = {**index.matches(part), **hits}
        contaminated += bool(hits)
        per_set.update({bench for bench, _ in hits})
        name = str(row.get(id_field) or where)
        for (bench, row_id), match in hits.items():
            entry = rows[bench].setdefault(row_id, {"documents": 0, "examples": [], "ngram": match.ngram})
            entry["documents"] += 1
            if len(entry["examples"]) < EXAMPLES:
                entry["examples"].append(name)
    report = {"files": len(files), "documents": documents, "chat_rows": chat_rows,
              "contaminated_documents": contaminated, "ngram": ngram,
              "benchmarks": {name: {"rows": index.sets[name], "rows_found": len(found),
                                    "documents": per_set[name],
                                    "found": dict(sorted(found.items()))} for name, found in rows.items()}}
    if bad:
        report["unreadable_rows"] = dict(bad)
    return report


def summary_lines(report: dict) -> list[str]:
    """The report as a person reads it: a line per set, then its rows found."""
    lines = [f"{report['contaminated_documents']} of {report['documents']} documents share a {report['ngram']}-gram "
             "with an evaluation set"]
    for name, s in report["benchmarks"].items():
        share = f"{s['rows_found'] / s['rows']:.0%}" if s["rows"] else "-"
        lines.append(f"  {name}: {s['rows_found']} of {s['rows']} rows found ({share}), in {s['documents']} documents")
        for row_id, e in s["found"].items():
            lines.append(f"    {row_id}: {e['documents']} documents, e.g. {', '.join(e['examples'])}: "
                         f"{e['ngram'][:60]!r}")
    for reason, count in report.get("unreadable_rows", {}).items():
        lines.append(f"  not checked: {count} rows ({reason})")
    return lines
