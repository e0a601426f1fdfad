"""Chat rows → token ids with a trained-token mask, rendered by the model folder's own chat template.

Input: rows `{"messages": [{"role": ..., "content": ...}, ...]}` (OpenAI style; the other shapes and file kinds
users bring, ShareGPT, Alpaca, JSON arrays, Parquet, ..., become these in chat_formats.py). An assistant turn's
reasoning is its `reasoning_content`, an inline `<think>…</think>` span at the start of its content, R1's
`trace</think>answer`, or OpenThoughts' `<|begin_of_thought|>…<|end_of_thought|>` (trace_markers.py). Tool use
as OpenAI's fine-tuning rows write it: a row-level `tools` list, assistant turns with `tool_calls` (arguments a JSON
string or an object), `tool` messages with the results. The template lists the
tools in the system turn; a turn's calls are trained as the `<tool_call>` blocks it must write after its answer
(axk1/text/tool_format.py); tool results, like system and user turns, are context only. A trained turn whose own
text holds a tool tag is excluded ("tool tag in text"): the literal tag would train as the call token.

Every assistant turn becomes one example: the conversation before it, rendered by the template with the generation
prompt (the prompt `axk1 serve` builds for that request, ended in the turn's mode where the template does not end
it so: axk1/text/think_prompt.py), then the turn itself as the model must produce it:
- think mode: the prompt ends inside `<think>`; the completion is `trace\\n</think>\\n\\nanswer<|im_end|>`;
- non-think mode: the prompt carries the empty think block; the completion is `answer<|im_end|>`.
Only completion tokens are trained (prompt, system and template tokens are context). One example per turn, not one
sequence per conversation, because templates drop earlier turns' reasoning from the history: the text the model
saw before turn 2 is not a prefix of the text it sees before turn 3, so one sequence could not condition both right.

Bad rows are never dropped silently: each is counted under a reason, with the first few line numbers and what to
fix (chat_report.py); so is a turn left out of a row whose other turns train (TURN_REASONS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from axk1.infer.chat import ChatCodec, message_text
from axk1.json_text import JsonError, find_surrogate, json_strings, parse_json
from axk1.posttrain.chat_formats import read_chat_rows, row_messages
from axk1.posttrain.chat_prompts import TurnPrompts, history_chars, history_message
from axk1.posttrain.chat_report import BadRow, ChatReport
from axk1.posttrain.chat_tool_rows import row_tools
from axk1.posttrain.rewards import format_ok
from axk1.posttrain.trace_markers import THOUGHT, other_marker, split_thought
from axk1.text.think_prompt import no_switch_warning
from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN
from axk1.text.tool_format import (TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOL_RESPONSE_CLOSE, TOOL_RESPONSE_OPEN,
                                    answer_with_calls, check_tools, normalise_tool_calls, openai_tools)

MODES = ("think", "non-think", "keep")  # keep: a turn with reasoning is trained in think mode, one without in non-think
ROLES = ("system", "user", "assistant", "tool")
# what fails one assistant turn and leaves the conversation's other turns trainable: each turn is its own example,
# and the history of later turns holds an earlier turn's answer only. A distilled row with a trace on its last turn
# alone is the usual case in think mode. Reasons about the text itself (a think tag in an answer, an empty turn, a
# special token) stay whole-row: the answer would be in the later turns' history.
TURN_REASONS = ("no reasoning for think mode", "over-long")
UNTRAINED = "weight 0"  # a turn the row marks untrained (OpenAI's "weight": 0): counted with the turns left out


@dataclass
class ChatExample:
    ids: np.ndarray  # int32, prompt then completion (4 bytes a token: a list of ints took 36, ~290 GB a rank for
                     # an SFT set of 8B tokens, which every rank holds)
    n_prompt: int    # the first n_prompt tokens are context; the rest are trained
    mode: str        # "think" | "non-think"


def split_think(message: dict) -> tuple[str | None, str]:
    """(reasoning or None, answer) of an assistant message: `reasoning_content`, a leading <think>…</think>, or
    R1's `trace</think>answer` (one closing tag, no opening one)."""
    content = message_text(message.get("content"))
    reasoning = message.get("reasoning_content")
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise BadRow("bad content", "reasoning_content must be a string")
        return reasoning.strip(), content.strip()
    thought = split_thought(content)  # OpenThoughts' <|begin_of_thought|> markers
    if thought is not None:
        return thought
    stripped = content.lstrip()
    if stripped.startswith(THINK_OPEN):
        end = stripped.find(THINK_CLOSE)
        if end < 0:
            raise BadRow("unclosed think", "the assistant content opens <think> but never closes it")
        return stripped[len(THINK_OPEN):end].strip(), stripped[end + len(THINK_CLOSE):].strip()
    if THINK_OPEN not in content and content.count(THINK_CLOSE) == 1:
        # DeepSeek-R1 distilled data: `trace</think>answer`, the opening tag having been in the generation prompt
        trace, answer = content.split(THINK_CLOSE)
        return trace.strip(), answer.strip()
    return None, content.strip()


def check_messages(messages: Any) -> list[dict]:
    """The messages, each assistant turn's `tool_calls` with their arguments as objects; BadRow naming the first
    problem."""
    if not isinstance(messages, list) or not messages:
        raise BadRow("no messages", "the row needs a non-empty 'messages' list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise BadRow("bad message", f"messages[{i}] must be an object with 'role' and 'content'")
        if m["role"] not in ROLES:
            raise BadRow("unknown role", f"messages[{i}] has role {m['role']!r}; use one of {', '.join(ROLES)}")
        if m.get("content") is None and m["role"] != "assistant":  # (an assistant's may be null beside its calls)
            raise BadRow("bad message", f"messages[{i}] ({m['role']}) has no content: give it a string (\"\" if it is "
                         "meant to be empty)")  # it was trained on as an empty turn, where ShareGPT's was refused
        try:
            message_text(m.get("content"), m["role"])
        except ValueError as e:
            raise BadRow("bad content", f"messages[{i}]: {e}") from None
        if m["role"] == "assistant" and m.get("weight") is not None and m["weight"] not in (0, 1):
            raise BadRow("bad weight", f"messages[{i}] has weight {m['weight']!r}: OpenAI's fine-tuning format takes 0 "
                         "(the turn stays as context, untrained) or 1 (trained); other loss weights are not supported")
        if m["role"] == "assistant" and m.get("tool_calls") is not None:
            try:  # a call the template cannot write as the model must (no name, arguments not an object)
                m = {**m, "tool_calls": normalise_tool_calls(m["tool_calls"], f"messages[{i}].tool_calls")}
            except ValueError as e:
                raise BadRow("bad tool call", str(e)) from None
            # an arguments string's `\ud800` escape is decoded only now: the reader's surrogate check saw six
            # characters, and the tokenizer would stop the whole run on it (TypeError)
            if (where := find_surrogate(m["tool_calls"], f"messages[{i}].tool_calls")) is not None:
                raise BadRow("invalid unicode", f"{where} holds a lone surrogate once its arguments' JSON is decoded")
        out.append(m)
    if not any(m["role"] == "assistant" for m in out):
        raise BadRow("no assistant turn", "nothing to train on")
    return out


def check_row_tools(tools: Any) -> list[dict] | None:
    """A row's `tools` (None: the row has none) in OpenAI's form, bare functions wrapped as `axk1 serve` lists them
    (tool_format.openai_tools); BadRow when the template could not list them. A JSON string of them is read too:
    LLaMA-Factory's ShareGPT rows keep their tools so (as bare functions)."""
    if tools is None:
        return None
    try:
        if isinstance(tools, str):
            try:
                tools = parse_json(tools)
            except JsonError as e:
                raise ValueError(f"tools is a string that is not JSON ({e})") from None
            if (where := find_surrogate(tools, "tools")) is not None:  # decoded only now (as a call's arguments)
                raise BadRow("invalid unicode", f"{where} holds a lone surrogate once the tools' JSON is decoded")
        return openai_tools(check_tools(tools))
    except BadRow:
        raise
    except ValueError as e:
        raise BadRow("bad tools", str(e)) from None


def prompt_text(codec: ChatCodec, messages: list[dict], thinking: bool, tools: list[dict] | None = None) -> str:
    """The generation prompt for `messages` in one mode (what the server renders for enable_thinking, and for
    `tools` when given), ended as axk1's format ends it (the one rule of axk1/text/think_prompt.py)."""
    # earlier assistant turns go in as the template renders history: their answers (and calls)
    history = [history_message(m, split_think(m)[1] if m["role"] == "assistant" else "") for m in messages]
    extra = {"tools": tools} if tools else {}  # only when some: a folder's template may test `tools is defined`
    return codec.mode_prompt(history, thinking, **extra)


def completion_text(reasoning: str | None, answer: str, eos: str) -> str:
    """What the model must write after the turn's prompt, which ends in its mode (prompt_text): inside the think
    block with reasoning, so the trace and `</think>` come first; after the closed empty block without."""
    if reasoning is not None:
        return f"{reasoning}\n{THINK_CLOSE}\n\n{answer}{eos}"
    return f"{answer}{eos}"


def max_token_chars(codec: ChatCodec) -> int:
    """Twice the longest vocabulary entry in characters: no token covers more text, so a text longer than n times
    this needs more than n tokens (a byte-level entry's length is its byte count, at least its character count)."""
    vocab = codec.tokenizer.get_vocab()
    # x2: a normaliser that drops characters (accents, controls) could make the text shorter than it looks
    return 2 * (max((len(t) for t in vocab), default=1) or 1)


def max_chars_for(codec: ChatCodec, tokens: int) -> int:
    """The most characters a text of `tokens` tokens can have (max_token_chars each): a longer one is over any budget
    of `tokens`, known from its length alone, before a render or an encoding (minutes and gigabytes for a 50 MB
    text). SFT's turns and RL's task prompts (task_length.PromptBudget) are bounded so."""
    return max(tokens, 0) * max_token_chars(codec)


def untrained(message: dict) -> bool:
    """Whether the row marks this assistant turn untrained: OpenAI's (and axolotl's) "weight": 0 or false, which a
    TRL row's prompt turns get too (chat_formats.row_messages): history for later turns, never an example."""
    return message.get("weight") is not None and message["weight"] == 0


def check_turn(i: int, reasoning: str | None, answer: str, thinking: bool, calls: list | tuple = ()) -> None:
    """The rules a trained turn must meet so that training teaches what serving and RL expect. `answer`: the text
    the turn itself gives after its think block; `calls`: its tool_calls (normalise_tool_calls), which the template
    writes after it."""
    _check_tool_tags(i, answer)
    answer = answer_with_calls(answer, calls)
    if not answer:
        raise BadRow("empty answer", f"messages[{i}] has reasoning but no answer; a turn must end with an answer")
    # RL's format reward (rewards.format_ok) on the completion this turn trains: a tag inside the answer or the
    # trace would teach outputs that RL then penalises.
    if not (format_ok(f"{reasoning}{THINK_CLOSE}{answer}", True) if thinking else format_ok(answer, False)):
        raise BadRow("think tag in answer", f"messages[{i}] has <think> or </think> inside its answer or trace")


def _check_tool_tags(i: int, answer: str) -> None:
    """Only the template writes the hermes layout's tags (axk1/text/tool_format.py): a call's from the turn's
    tool_calls, a result's from a tool message. `<tool_call>` is one token of the vocabulary, and a tokenizer reads
    the literal text as that token (transformers does, unless split_special_tokens), so an answer holding a block
    trained the tokens of a real call, which `axk1 serve` then parses, or returns as broken text when it is no call;
    a `<tool_response>` taught the model to write a tool's result itself. TRL trains both as written. A trace may
    hold them: `axk1 serve` keeps what the model writes inside <think> as reasoning, calls included
    (tests/test_serve_tools.py trains and serves such a trace)."""
    tag = next((t for t in (TOOL_CALL_OPEN, TOOL_CALL_CLOSE) if t in answer), None)
    if tag is not None:
        raise BadRow("tool tag in text", f"messages[{i}] holds a literal {tag} in its content: give the turn's tool "
                     "calls as its tool_calls (OpenAI's {\"type\": \"function\", \"function\": {\"name\": ..., "
                     "\"arguments\": ...}}), which the template writes as the model must")
    tag = next((t for t in (TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE) if t in answer), None)
    if tag is not None:
        raise BadRow("tool tag in text", f"messages[{i}] holds a literal {tag} in its content: a tool's result "
                     "comes as a tool message after the calling turn, which the template wraps so")


def check_special_tokens(codec: ChatCodec, messages: list[dict], tools: list[dict] | None = None) -> None:
    """`axk1 serve` refuses a request whose text holds a control token (it would forge a turn); training on one would
    teach the model turns no request can produce. `codec`: anything with find_special_token (posttrain overlap
    checks without a model's tokenizer)."""
    for path, text in [*json_strings(messages, "messages"), *json_strings(tools or [], "tools")]:
        token = codec.find_special_token(text)
        if token is not None:
            raise BadRow("special token in text", f"{path} holds {token!r}, which only the chat template may place")


def render_examples(codec: ChatCodec, messages: Any, mode: str, max_tokens: int, max_chars: int | None = None,
                    dropped: list | None = None, tools: Any = None) -> list[ChatExample]:
    """One example per assistant turn of one conversation; BadRow with the reason when it cannot be trained.
    `max_chars` (default: max_tokens x the longest token) excludes a turn as over-long before tokenising it, so a
    huge row costs a string length, not a tokenisation. With `dropped`, a turn that fails alone (TURN_REASONS) is
    appended there as (index, BadRow) and the row's other turns are kept; BadRow only when none is left. `tools`:
    the row's tools, listed in every prompt."""
    if mode not in MODES:
        raise ValueError(f"chat mode {mode!r} unknown; use one of {', '.join(MODES)}")
    messages = check_messages(messages)
    tools = check_row_tools(tools)
    check_special_tokens(codec, messages, tools)
    if max_chars is None:
        max_chars = max_chars_for(codec, max_tokens)
    eos = codec.eos_token or "<|im_end|>"
    history = _History(codec, messages, max_chars, tools)
    out, left_out = [], []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        if untrained(m):
            left_out.append((i, BadRow(UNTRAINED, f"messages[{i}] has weight 0 (or is in a TRL row's prompt): "
                                               "context for the later turns only")))
            continue
        try:
            out.append(_render_turn(codec, history, i, mode, max_tokens, max_chars, eos))
        except BadRow as e:
            if dropped is None or e.reason not in TURN_REASONS:
                raise
            left_out.append((i, e))
    if dropped is not None:
        dropped += left_out
    if not out and left_out:  # nothing left to train: the row is excluded under its first turn's reason, one that is
        # not "weight 0" when some turn failed otherwise (that turn's fix is the one that makes the row train)
        raise next((e for _, e in left_out if e.reason != UNTRAINED), left_out[0][1])
    return out


class _History:
    """What every turn of one row needs of the turns before it, worked out once (a row of n turns re-worked it n
    times, in time quadratic in n): each message's text in the history (an assistant's answer; the first that cannot
    be read, `broken`, raised by the first turn after it, as when each turn read its history), the characters before
    each turn, and the turns' prompts (chat_prompts.TurnPrompts)."""

    def __init__(self, codec: ChatCodec, messages: list[dict], max_chars: int, tools: list[dict] | None) -> None:
        self.messages, self.broken = messages, None
        answers = []
        for j, m in enumerate(messages):
            try:
                answers.append(split_think(m)[1] if m["role"] == "assistant" else "")
            except BadRow as e:
                answers.append("")
                self.broken = self.broken or (j, e)
        self.chars = history_chars(messages, answers)
        end = len(messages) if self.broken is None else self.broken[0]
        turns = [i for i, m in enumerate(messages) if m["role"] == "assistant" and not untrained(m) and i <= end
                 and self.chars[i] <= max_chars]  # the turns that get as far as rendering their prompts
        self.prompts = TurnPrompts(codec, messages, answers, turns, tools)

    def least(self, i: int) -> int:
        """The characters of the history before turn i as the template writes them at least."""
        if self.broken is not None and self.broken[0] < i:
            raise self.broken[1]
        return self.chars[i]


def _render_turn(codec: ChatCodec, history: _History, i: int, mode: str, max_tokens: int, max_chars: int,
                 eos: str) -> ChatExample:
    m = history.messages[i]
    reasoning, said = split_think(m)
    calls = m.get("tool_calls") or []
    answer = answer_with_calls(said, calls)  # the calls are written, so trained, too
    if not answer and not reasoning:
        raise BadRow("empty assistant turn", f"messages[{i}] has no content")
    if mode == "think" and not reasoning:
        raise BadRow("no reasoning for think mode", f"messages[{i}] has no reasoning_content or <think> span")
    thinking = mode == "think" or (mode == "keep" and bool(reasoning))
    if not thinking:
        reasoning = None
    check_turn(i, reasoning, said, thinking, calls)
    completion = completion_text(reasoning, answer, eos)
    # the texts the template will write, counted before rendering it: a huge row then costs string lengths, not a
    # render (seconds for 30M characters), and one past the render's size bound (64M) is over-long, not blamed on
    # the template. History turns count as the template writes them: an assistant's answer, its reasoning dropped.
    least = len(completion) + history.least(i)
    if least > max_chars:
        raise BadRow("over-long", f"turn {i} has at least {least} characters, more than {max_tokens} tokens can hold")
    try:
        prompt = history.prompts.prompt(i, thinking)  # what prompt_text(codec, messages[:i], ...) renders
    except (ValueError, TypeError) as e:  # the folder's template raising on this row: the row, not the run
        raise BadRow("chat template refused it", f"turn {i}: {e}") from None
    if len(prompt) + len(completion) > max_chars:
        raise BadRow("over-long", f"turn {i} has {len(prompt) + len(completion)} characters, more than "
                     f"{max_tokens} tokens can hold")
    prompt_ids = codec.encode_text(prompt)  # (the history's pieces encoded once a row, not once a turn)
    completion_ids = codec.encode_text(completion)
    if len(prompt_ids) + len(completion_ids) > max_tokens:
        raise BadRow("over-long", f"turn {i} needs {len(prompt_ids) + len(completion_ids)} tokens > {max_tokens}")
    return ChatExample(np.asarray(prompt_ids + completion_ids, dtype=np.int32), len(prompt_ids),
                       "think" if thinking else "non-think")


def load_chat_examples(paths: Iterable[str | Path], codec: ChatCodec, mode: str, max_tokens: int,
                       progress: bool = False) -> tuple[list[ChatExample], ChatReport]:
    """Every row of the files rendered (render_examples), and the report of what was kept and why not. `progress`:
    a bar of rows read (tqdm; the caller's main rank at a terminal), since a large set takes minutes."""
    from tqdm import tqdm

    report = ChatReport()
    if not codec.ends_prompts_itself():  # said, not refused: prompts are built to switch all the same
        report.warnings.append(no_switch_warning(codec.template_file))
    examples: list[ChatExample] = []
    max_chars = max_chars_for(codec, max_tokens)  # once: the vocabulary is large
    # exact repeats are kept, as TRL's SFTTrainer and datasets keep them (repeating rows is how a mix upweights a
    # source), but counted: an accidental copy is then visible. A 64-bit hash a row, ~70 bytes of set (0.5 GB
    # for A.X K1's 7.5M SFT rows; the rows' token ids are tens of GB).
    seen: set[int] = set()
    for place, row in tqdm(read_chat_rows(paths, report), desc="chat rows", unit="row", disable=not progress):
        dropped: list = []
        try:
            _, messages = row_messages(row, report.formats)
            tools = row_tools(row)  # OpenAI's fine-tuning rows: beside messages (or its deprecated `functions`)
            new = render_examples(codec, messages, mode, max_tokens, max_chars, dropped, tools)
        except BadRow as e:
            report.exclude(e.reason, place, e.detail)
            continue
        for _, e in dropped:
            report.exclude_turn(e.reason, place, e.detail)
        key = repeat_key(messages, tools)
        if key in seen:
            report.duplicate(place)
        seen.add(key)
        _count_traces(report, messages, place)
        if new:
            report.repeated_history(place, max(len(e.ids) for e in new), sum(len(e.ids) for e in new))
        examples += new
        report.examples += len(new)
        report.modes.update(e.mode for e in new)
    return examples, report


def repeat_key(messages: list[dict], tools: list | None) -> int:
    """The key two rows are exact repeats by, for SFT's count of them and `axk1 sft-overlap`'s: the conversation and
    its tools (the same conversation offered other tools renders another prompt, not a copy), key order ignored. A
    64-bit hash, so that millions of rows fit in a set."""
    return hash(json.dumps([messages, tools], sort_keys=True, ensure_ascii=False, default=str))


def _count_traces(report, messages: list[dict], place: str) -> None:
    """A kept row's traces in other conventions: read ones counted, unread ones warned about (trace_markers.py)."""
    turns = [m for m in messages if m["role"] == "assistant"]
    if any(m.get("reasoning_content") is None and message_text(m.get("content")).lstrip().startswith(THOUGHT[0])
           for m in turns):
        report.thought_rows += 1
    tag = next((t for m in turns if (t := other_marker(split_think(m)[1]))), None)
    if tag:
        report.other_marker(tag, place)
