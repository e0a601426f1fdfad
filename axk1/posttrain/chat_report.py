"""The account of a chat data set: every row read is kept or excluded under a reason, every assistant turn of a kept
row is trained or left out under a reason, and the report keeps, per reason, the first places and the first detail
(what to fix: the allowed roles, the format a row needs), not only the reason's name.

Printed by `axk1 sft` (`summary`) and written as `sft_data_report.json` (`to_dict`); `axk1 posttrain overlap`
reports its input the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

# A row whose examples hold this many times its own tokens is said (ChatReport.repeated_history): every assistant turn
# trains as its own example with the whole conversation before it, so a row of n turns costs ~n²/2 of them
HISTORY_FACTOR = 20
FIRST = 5  # places kept per reason: enough to find the pattern, bounded for a set of millions of rows
# what to do with a trace in tags the reader leaves as written (trace_markers.py)
CONVERT = ("move the trace to the turn's reasoning_content (or to a leading <think>…</think>) to train it in think "
           "mode; leave it to train the tags as part of the answer")


class BadRow(ValueError):
    """A row (or, where the caller allows it, one turn) that cannot be trained: `reason` is the category the report
    counts under, `detail` what is wrong with this row and what to do."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class ChatReport:
    rows: int = 0
    examples: int = 0  # assistant turns trained, each one example
    excluded: Counter = field(default_factory=Counter)  # reason -> rows excluded whole
    where: dict = field(default_factory=lambda: defaultdict(list))  # reason -> first "file:line"s
    detail: dict = field(default_factory=dict)  # reason -> the first excluded row's detail
    turns_excluded: Counter = field(default_factory=Counter)  # reason -> turns left out of rows that train others
    turn_where: dict = field(default_factory=lambda: defaultdict(list))  # reason -> first "file:line messages[i]"s
    formats: Counter = field(default_factory=Counter)  # row shape (messages, sharegpt, alpaca, ...) -> rows
    files: dict = field(default_factory=dict)  # path as given -> container (jsonl, json array, parquet, ...)
    duplicates: int = 0  # kept rows whose conversation an earlier kept row already had (trained again)
    duplicate_where: list = field(default_factory=list)
    modes: Counter = field(default_factory=Counter)  # "think" | "non-think" -> assistant turns trained so
    thought_rows: int = 0  # kept rows with an <|begin_of_thought|> trace, read as think (trace_markers.py)
    other_markers: Counter = field(default_factory=Counter)  # "<reasoning>", ... -> kept rows with answers so
    other_marker_where: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # about the set as a whole (a template that does not switch modes)
    columnar_nulls: int = 0  # Parquet/Arrow rows whose tools or call arguments lost null keys (chat_tool_rows.py)
    columnar_null_where: list = field(default_factory=list)
    history_rows: int = 0  # kept rows whose examples hold >= HISTORY_FACTOR x their own tokens
    history_where: list = field(default_factory=list)
    history_tokens: list = field(default_factory=lambda: [0, 0])  # those rows' own tokens, their examples' tokens

    def exclude(self, reason: str, place: str, detail: str = "") -> None:
        self.excluded[reason] += 1
        if len(self.where[reason]) < FIRST:
            self.where[reason].append(place)
        if detail and reason not in self.detail:
            self.detail[reason] = detail

    def exclude_turn(self, reason: str, place: str, detail: str = "") -> None:
        self.turns_excluded[reason] += 1
        if len(self.turn_where[reason]) < FIRST:
            self.turn_where[reason].append(f"{place} ({detail})" if detail else place)

    def duplicate(self, place: str) -> None:
        self.duplicates += 1
        if len(self.duplicate_where) < FIRST:
            self.duplicate_where.append(place)

    def other_marker(self, tag: str, place: str) -> None:
        self.other_markers[tag] += 1
        if len(self.other_marker_where) < FIRST:
            self.other_marker_where.append(place)

    def columnar_null(self, place: str) -> None:
        self.columnar_nulls += 1
        if len(self.columnar_null_where) < FIRST:
            self.columnar_null_where.append(place)

    def repeated_history(self, place: str, row_tokens: int, example_tokens: int) -> None:
        """A kept row's own tokens (its longest example's: the last turn with the conversation before it) against
        all its examples', counted when the examples repeat the history HISTORY_FACTOR times or more."""
        if example_tokens < HISTORY_FACTOR * row_tokens:
            return
        self.history_rows += 1
        self.history_tokens[0] += row_tokens
        self.history_tokens[1] += example_tokens
        if len(self.history_where) < FIRST:
            self.history_where.append(place)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "examples": self.examples, "kept_rows": self.rows - sum(self.excluded.values()),
                "excluded": dict(self.excluded), "first_excluded_at": {k: v for k, v in self.where.items()},
                "excluded_detail": dict(self.detail), "turns_excluded": dict(self.turns_excluded),
                "first_turns_excluded_at": {k: v for k, v in self.turn_where.items()},
                "formats": dict(self.formats), "files": dict(self.files),
                "duplicate_rows": self.duplicates, "first_duplicates_at": list(self.duplicate_where),
                "examples_by_mode": {m: self.modes[m] for m in ("think", "non-think")},
                "thought_marker_rows": self.thought_rows, "unread_trace_markers": dict(self.other_markers),
                "first_unread_trace_markers_at": list(self.other_marker_where), "warnings": list(self.warnings),
                "columnar_null_key_rows": self.columnar_nulls,
                "first_columnar_null_keys_at": list(self.columnar_null_where),
                "repeated_history_rows": self.history_rows, "first_repeated_history_at": list(self.history_where),
                "repeated_history_tokens": {"rows": self.history_tokens[0], "examples": self.history_tokens[1]}}

    def summary(self) -> str:
        kept = self.rows - sum(self.excluded.values())
        shapes = ", ".join(f"{n} {s}" for s, n in self.formats.most_common())
        out = f"{self.rows} chat rows" + (f" ({shapes})" if shapes else "")
        out += (f": {kept} kept ({self.examples} assistant turns to train: {self.modes['think']} think, "
                f"{self.modes['non-think']} non-think")
        if self.thought_rows:
            out += (f"; <|begin_of_thought|> traces read as think in {self.thought_rows} "
                    f"row{'s' if self.thought_rows > 1 else ''}")
        if self.turns_excluded:
            out += "; turns left out of kept rows: " + ", ".join(
                f"{n} {r} (e.g. {self.turn_where[r][0]})" for r, n in self.turns_excluded.most_common())
        out += ")"
        if self.duplicates:
            out += (f", {self.duplicates} of them repeat{'s' if self.duplicates == 1 else ''} an earlier row's "
                    f"conversation exactly and {'is' if self.duplicates == 1 else 'are'} trained again "
                    f"(e.g. {self.duplicate_where[0]})")
        if self.excluded:
            out += ", excluded: " + ", ".join(self._excluded_line(r, n) for r, n in self.excluded.most_common())
        if self.other_markers:
            tags = ", ".join(f"{n} {t}" for t, n in self.other_markers.most_common())
            out += (f"\nwarning: {sum(self.other_markers.values())} kept rows have answers that start with a trace "
                    f"in tags axk1 does not read as one ({tags}; e.g. {self.other_marker_where[0]}): they train as "
                    f"non-think answers with the tags and the trace inline; {CONVERT}")
        if self.columnar_nulls:  # said, since what trains is not what the file's columns hold
            out += (f"\nnote: null keys dropped from columnar tool schemas and call arguments: {self.columnar_nulls} "
                    f"rows (e.g. {self.columnar_null_where[0]}): Parquet and Arrow give every row the keys of all "
                    f"rows, null where it had none; to keep a null argument, write the arguments as a JSON string")
        if self.history_rows:  # said, since what trains costs many times what the file holds
            rows, examples = self.history_tokens
            some = f"{self.history_rows} kept rows train" if self.history_rows > 1 else "1 kept row trains"
            out += (f"\nnote: {some} {examples:,} tokens from {rows:,} of their own, {examples / rows:.0f}x (e.g. "
                    f"{self.history_where[0]}): each assistant turn is its own example with the whole conversation "
                    "before it, so a row of many turns costs time and tokens quadratic in them; to train only a "
                    "row's last turn, give its earlier assistant turns \"weight\": 0 (they stay as context)")
        for warning in self.warnings:
            out += f"\nwarning: {warning}"
        return out

    def _excluded_line(self, reason: str, n: int) -> str:
        detail = self.detail.get(reason)
        return f"{n} {reason} (e.g. {self.where[reason][0]}" + (f": {detail})" if detail else ")")
