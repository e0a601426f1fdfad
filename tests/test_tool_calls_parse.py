"""The hermes tool-call parser of `axk1 serve` (axk1/infer/tool_calls.py): calls with text around them, several
calls, blocks that are not calls left as text, an unclosed block, `</tool_call>` and braces inside arguments, and
the same result whether the reply comes whole or one character at a time."""

from __future__ import annotations

import json

import pytest

from axk1.infer.tool_calls import ToolCallParser

SEOUL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Seoul"}}\n</tool_call>'


def _streamed(text: str, step: int = 1):
    """(content, calls) of `text` fed `step` characters at a time, and the content pieces as sent."""
    parser, pieces, calls = ToolCallParser(), [], []
    for at in range(0, len(text), step):
        content, new = parser.feed(text[at:at + step])
        pieces.append(content)
        calls += new
    content, new = parser.feed("", final=True)
    pieces.append(content)
    calls += new
    assert calls == parser.calls and "".join(pieces) == parser.content
    return parser.content or None, calls, pieces


def _whole(text: str):
    """(content, calls) of `text` fed at once, as the last piece."""
    parser = ToolCallParser()
    parser.feed(text, final=True)
    return parser.content or None, parser.calls


def _named(calls):
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


CASES = {
    "one call, text before": (f"Let me check.\n{SEOUL}", "Let me check.", [("get_weather", {"city": "Seoul"})]),
    "only a call": (SEOUL, None, [("get_weather", {"city": "Seoul"})]),
    "two calls and text after": (
        f"{SEOUL}\n<tool_call>{{\"name\": \"now\"}}</tool_call>\n  Done.  ", "Done.",
        [("get_weather", {"city": "Seoul"}), ("now", {})]),
    "arguments as a JSON string": (
        '<tool_call>\n{"name": "f", "arguments": "{\\"a\\": [1, {\\"b\\": 2}]}"}\n</tool_call>', None,
        [("f", {"a": [1, {"b": 2}]})]),
    "closing tag and braces inside strings": (
        '<tool_call>\n{"name": "echo", "arguments": {"text": "a </tool_call> b }}", '
        '"n": {"x": [1, 2.5e3, true, null]}}}\n</tool_call>tail', "tail",
        [("echo", {"text": "a </tool_call> b }}", "n": {"x": [1, 2500.0, True, None]}})]),
    "invalid JSON stays text": ("A <tool_call>{\"name\": oops}</tool_call> B " + SEOUL,
                                "A <tool_call>{\"name\": oops}</tool_call> B", [("get_weather", {"city": "Seoul"})]),
    "no name stays text": ('<tool_call>{"arguments": {}}</tool_call>', '<tool_call>{"arguments": {}}</tool_call>', []),
    "arguments not an object stay text": ('<tool_call>{"name": "f", "arguments": [1]}</tool_call>',
                                          '<tool_call>{"name": "f", "arguments": [1]}</tool_call>', []),
    "not an object stays text": ("<tool_call>get_weather(city='Seoul')</tool_call> ok " + SEOUL,
                                 "<tool_call>get_weather(city='Seoul')</tool_call> ok",
                                 [("get_weather", {"city": "Seoul"})]),
    "text after the object stays text": ('<tool_call>{"name": "f"} extra</tool_call>',
                                         '<tool_call>{"name": "f"} extra</tool_call>', []),
    "unclosed block stays text": ('Hi\n<tool_call>\n{"name": "f", "arguments": {"q": "</tool_call>',
                                  'Hi\n<tool_call>\n{"name": "f", "arguments": {"q": "</tool_call>', []),
    "object never closed by its tag": ('<tool_call>{"name": "f"}', '<tool_call>{"name": "f"}', []),
    "a tag's beginning at the end": ("Use <tool_", "Use <tool_", []),
    "no calls": ("  Plain answer.\n", "Plain answer.", []),
    "empty": ("", None, []),
}


@pytest.mark.parametrize("name", CASES)
def test_whole_and_streamed_replies_parse_the_same(name):
    text, content, calls = CASES[name]
    whole_content, whole_calls = _whole(text)
    assert (whole_content, _named(whole_calls)) == (content, calls)
    for step in (1, 3, 7):
        got_content, got_calls, _ = _streamed(text, step)
        assert (got_content, _named(got_calls)) == (content, calls), step


def test_calls_are_openai_tool_calls():
    _, calls = _whole(SEOUL + SEOUL)
    assert [c["type"] for c in calls] == ["function", "function"]
    assert all(c["id"].startswith("call_") and len(c["id"]) > 10 for c in calls) and calls[0]["id"] != calls[1]["id"]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city": "Seoul"}'}  # a JSON string


def test_content_streams_until_a_block_opens_and_a_call_comes_out_when_it_closes():
    parser = ToolCallParser()
    assert parser.feed("Let me ") == ("Let me", [])  # the space waits: content is trimmed
    assert parser.feed("check.\n<tool") == (" check.", [])  # a possible tag's beginning is held
    assert parser.feed('_call>\n{"name": "get_weather", "arguments": {"city": "Seo') == ("", [])
    assert parser.feed('ul"}}\n</tool_ca') == ("", [])
    content, calls = parser.feed("ll>\n")
    assert content == "" and _named(calls) == [("get_weather", {"city": "Seoul"})]
    assert parser.feed("", final=True) == ("", [])
    assert parser.content == "Let me check."


def test_a_long_argument_is_scanned_once(monkeypatch):
    """The scan resumes where it stopped: 20,000 one-character pieces of one argument read each character of the
    string once (counted), not the whole string again at every piece (200 million reads)."""
    import axk1.infer.tool_calls as tool_calls

    real, read = tool_calls._IN_STRING, []

    class Counting:  # the string scanner, counting the characters it reads
        def match(self, text, pos):
            m = real.match(text, pos)
            read.append(m.end() - pos)
            return m

    monkeypatch.setattr(tool_calls, "_IN_STRING", Counting())
    text = '<tool_call>{"name": "f", "arguments": {"q": "' + "x" * 20000 + '"}}</tool_call>'
    _, calls, _ = _streamed(text)
    assert len(calls) == 1 and 20000 <= sum(read) <= len(text)


def test_a_parser_with_max_calls_stops_at_the_last_and_drops_what_follows():
    """parallel_tool_calls false: the reply ends at its first call, whatever the model writes after it."""
    busan = SEOUL.replace("Seoul", "Busan")
    for step in (1, 5, 1000):
        parser, calls = ToolCallParser(max_calls=1), []
        text = f"Checking both. {SEOUL} and {busan} done."
        for at in range(0, len(text), step):
            content, new = parser.feed(text[at:at + step])
            calls += new
            if parser.full:
                break
        assert parser.full and _named(calls) == [("get_weather", {"city": "Seoul"})], step
        assert parser.feed(f" more {busan}", final=True) == ("", [])  # after the call: nothing more
        assert parser.content == "Checking both." and parser.calls == calls
    unlimited = ToolCallParser()
    unlimited.feed(SEOUL + busan, final=True)
    assert not unlimited.full and len(unlimited.calls) == 2


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_a_reply_cut_by_max_tokens_keeps_its_complete_calls_and_drops_the_unfinished_block(step):
    """A reply cut inside a `<tool_call>` block (or inside the tag itself) by max_tokens: the block is the cut,
    not text the model meant, so it is not content; the calls completed before it stand. Without `cut` an
    unclosed block is content, as vLLM leaves a model's malformed block. It put `<tool_c` in the content of a
    forced call cut short."""
    text = f"Let me check.\n{SEOUL}\n"
    for tail in ('<tool_call>\n{"name": "get_weather", "argu', "<tool_c", "<tool_call>"):
        parser, pieces, calls = ToolCallParser(), [], []
        for at in range(0, len(text + tail), step):
            content, new = parser.feed((text + tail)[at:at + step])
            pieces.append(content)
            calls += new
        content, new = parser.feed("", final=True, cut=True)
        pieces.append(content)
        calls += new
        assert parser.content == "".join(pieces) == "Let me check.", tail
        assert _named(calls) == _named(parser.calls) == [("get_weather", {"city": "Seoul"})]
    parser = ToolCallParser()
    assert parser.feed('Hi <tool_call>{"name": "x"', final=True) == ('Hi <tool_call>{"name": "x"', [])
    parser = ToolCallParser()  # a block that is text by what was seen (its closing tag came) stays text when cut
    assert parser.feed('<tool_call>{"a": 1}</tool_call> then <tool_call>{"na', final=True, cut=True) == \
        ('<tool_call>{"a": 1}</tool_call> then', [])
