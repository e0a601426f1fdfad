"""The hermes tool-call parser of `axk1 serve` (axk1/infer/tool_calls.py): calls with text around them, several
calls, blocks that are not calls left as text, an unclosed block, `</tool_call>` and braces inside arguments, and
the same result whether the reply comes whole or one character at a time."""

from __future__ import annotations

import json

import pytest

from axk1.infer.tool_calls import ToolCallParser

SEOUL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Seoul"}}\n</tool_call>'


def assemble(deltas):
    """The calls a client rebuilds from streamed call deltas, as OpenAI's docs show: by index, the first delta of
    each giving its id, type and name, the arguments' fragments joined."""
    calls = {}
    for d in deltas:
        call = calls.setdefault(d["index"], {"id": None, "type": None, "function": {"name": None, "arguments": ""}})
        for key in ("id", "type"):
            if d.get(key):
                call[key] = d[key]
        if d["function"].get("name"):
            call["function"]["name"] = d["function"]["name"]
        call["function"]["arguments"] += d["function"].get("arguments") or ""
    assert sorted(calls) == list(range(len(calls)))  # indices from 0, none skipped
    return [calls[i] for i in sorted(calls)]


def _streamed(text: str, step: int = 1):
    """(content, calls) of `text` fed `step` characters at a time, and the content pieces as sent. The calls the
    deltas build are the parser's calls, plus any block that streamed its name and then proved to be text."""
    parser, pieces, deltas = ToolCallParser(), [], []
    for at in range(0, len(text), step):
        content, new = parser.feed(text[at:at + step])
        pieces.append(content)
        deltas += new
    content, new = parser.feed("", final=True)
    pieces.append(content)
    deltas += new
    ids, streamed = {c["id"] for c in parser.calls}, assemble(deltas)
    assert [c for c in streamed if c["id"] in ids] == parser.calls and "".join(pieces) == parser.content
    assert len(streamed) == len(parser.calls) or "<tool_call>" in parser.content  # only a failed block adds one
    return parser.content or None, parser.calls, pieces


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
    # a whole call the reply ends before its closing tag (a stop "</tool_call>"): a call, as vLLM's hermes parser
    # reads `<tool_call>(.*)`; with text after the object it is not one
    "object never closed by its tag": ('Hi <tool_call>{"name": "f"}\n ', "Hi", [("f", {})]),
    "unclosed object with text after": ('<tool_call>{"name": "f"} x', '<tool_call>{"name": "f"} x', []),
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


def test_a_call_streams_its_name_then_its_arguments_as_they_come():
    """OpenAI's and vLLM's streaming: the first delta names the call (index, id, type, name), later ones carry the
    arguments' text as it is written; the tag's and the head's pieces split anywhere. The whole call came out in
    one delta once its block closed."""
    parser = ToolCallParser()
    assert parser.feed("Let me ") == ("Let me", [])  # the space waits: content is trimmed
    assert parser.feed("check.\n<tool") == (" check.", [])  # a possible tag's beginning is held
    assert parser.feed('_call>\n{"name": "get_wea') == ("", [])  # the name is not whole yet
    assert parser.feed('ther", "arguments": ') == ("", [])  # nor are the arguments begun
    content, (head,) = parser.feed('{"ci')
    assert content == "" and head["index"] == 0 and head["id"].startswith("call_") and head["type"] == "function"
    assert head["function"] == {"name": "get_weather", "arguments": '{"ci'}
    assert parser.feed('ty": "Seo') == ("", [{"index": 0, "function": {"arguments": 'ty": "Seo'}}])
    # the arguments stop at their object's end: the block's own `}` and tag are not arguments
    assert parser.feed('ul"}}\n</tool_ca') == ("", [{"index": 0, "function": {"arguments": 'ul"}'}}])
    assert parser.feed("ll>\n") == ("", [])
    assert parser.feed("", final=True) == ("", [])
    assert parser.content == "Let me check."
    assert parser.calls == [{"id": head["id"], "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'}}]


def test_the_arguments_are_the_text_the_model_wrote_streamed_or_whole():
    """A call's arguments are the model's own JSON text (spacing, escapes, number forms as written), so the
    fragments a client joins equal the non-streamed reply's arguments; a block whose head is in another layout
    goes out whole, its arguments written by json.dumps."""
    raw = '{ "q":"caf\\u00e9 }</tool_call>",\n  "n": 2.5e3 }'
    text = f'<tool_call>{{"name":"f","arguments":{raw}}}</tool_call>'
    assert _whole(text)[1][0]["function"]["arguments"] == raw
    for step in (1, 2, 5, len(text)):
        parser, deltas = ToolCallParser(), []
        for at in range(0, len(text), step):
            deltas += parser.feed(text[at:at + step])[1]
        deltas += parser.feed("", final=True)[1]
        assert assemble(deltas) == parser.calls and parser.calls[0]["function"]["arguments"] == raw, step
        assert step >= 5 or len(deltas) > 10  # one delta per piece, not one per call
    far = "<tool_call>" + " " * 600 + '{"name": "f", "arguments": {"a":1}}</tool_call>'  # the head past HEAD_REACH
    for block in ('<tool_call>{"arguments": {"a":1}, "name": "f"}</tool_call>', far):
        parser, deltas = ToolCallParser(), []
        for ch in block:
            deltas += parser.feed(ch)[1]
        assert len(deltas) == 1 and assemble(deltas) == parser.calls
        assert parser.calls[0]["function"] == {"name": "f", "arguments": '{"a": 1}'}


def test_a_streamed_block_that_proves_not_a_call_stays_in_the_stream_and_is_content():
    """Once a call's name went out it cannot be taken back: a block that then proves not to be a call leaves that
    call in the stream (its arguments as far as they went), is content as in the whole reply, and the next call
    takes the next index."""
    bad = '<tool_call>{"name": "f", "arguments": {"a": 1} extra}</tool_call>'
    text = bad + ' <tool_call>{"name": "g", "arguments": {}}</tool_call>'
    parser, deltas = ToolCallParser(), []
    for ch in text:
        deltas += parser.feed(ch)[1]
    deltas += parser.feed("", final=True)[1]
    streamed = assemble(deltas)
    assert [c["function"] for c in streamed] == [{"name": "f", "arguments": '{"a": 1}'},
                                                 {"name": "g", "arguments": "{}"}]
    assert parser.content == bad and parser.calls == streamed[1:] == [streamed[1]]
    content, calls = _whole(text)  # the whole reply: the same content and calls
    assert (content, [c["function"] for c in calls]) == (bad, [streamed[1]["function"]])
    # the name or arguments given twice: the block says other than what streamed, so it is text
    twice = '<tool_call>{"name": "f", "arguments": {"a": 1}, "arguments": {"a": 2}}</tool_call>'
    assert _whole(twice) == (twice, [])


def test_a_long_argument_is_scanned_once(monkeypatch):
    """The scans resume where they stopped: 20,000 one-character pieces of one argument read each character of the
    string once per scan (counted), not the whole string again at every piece (200 million reads)."""
    import axk1.infer.json_scan as json_scan

    real, read = json_scan._IN_STRING, []

    class Counting:  # the string scanner, counting the characters it reads
        def match(self, text, pos):
            m = real.match(text, pos)
            read.append(m.end() - pos)
            return m

    monkeypatch.setattr(json_scan, "_IN_STRING", Counting())
    text = '<tool_call>{"name": "f", "arguments": {"q": "' + "x" * 20000 + '"}}</tool_call>'
    _, calls, _ = _streamed(text)
    # twice: the block's scan and the streamed arguments' (each once)
    assert len(calls) == 1 and 2 * 20000 <= sum(read) <= 2 * len(text)


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
        assert parser.full and _named(assemble(calls)) == [("get_weather", {"city": "Seoul"})], step
        assert parser.feed(f" more {busan}", final=True) == ("", [])  # after the call: nothing more
        assert parser.content == "Checking both." and parser.calls == assemble(calls)
    unlimited = ToolCallParser()
    unlimited.feed(SEOUL + busan, final=True)
    assert not unlimited.full and len(unlimited.calls) == 2


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_a_reply_cut_by_max_tokens_keeps_its_complete_calls_and_drops_the_unfinished_block(step):
    """A reply cut inside a `<tool_call>` block (or inside the tag itself) by max_tokens: the block is the cut,
    not text the model meant, so it is not content; the calls completed before it stand (and so does a whole call
    cut before its closing tag). Without `cut` an unclosed block that is not a whole call is content, as vLLM
    leaves a model's malformed block. It put `<tool_c` in the content of a
    forced call cut short."""
    text = f"Let me check.\n{SEOUL}\n"
    for tail in ('<tool_call>\n{"name": "get_weather", "argu', "<tool_c", "<tool_call>"):
        parser, pieces, deltas = ToolCallParser(), [], []
        for at in range(0, len(text + tail), step):
            content, new = parser.feed((text + tail)[at:at + step])
            pieces.append(content)
            deltas += new
        content, new = parser.feed("", final=True, cut=True)
        pieces.append(content)
        deltas += new
        assert parser.content == "".join(pieces) == "Let me check.", tail
        assert assemble(deltas) == parser.calls and _named(parser.calls) == [("get_weather", {"city": "Seoul"})]
    parser = ToolCallParser()
    assert parser.feed('Hi <tool_call>{"name": "x"', final=True) == ('Hi <tool_call>{"name": "x"', [])
    # cut after a whole call, before its closing tag: the call is complete, so it stands (streamed or not)
    for step in (1, 1000):
        parser, deltas = ToolCallParser(), []
        whole = SEOUL[:SEOUL.rindex("</tool_call>")]
        for at in range(0, len(whole), step):
            deltas += parser.feed(whole[at:at + step])[1]
        deltas += parser.feed("", final=True, cut=True)[1]
        assert _named(parser.calls) == [("get_weather", {"city": "Seoul"})] and assemble(deltas) == parser.calls
        assert parser.content == ""
    parser = ToolCallParser()  # a block that is text by what was seen (its closing tag came) stays text when cut
    assert parser.feed('<tool_call>{"a": 1}</tool_call> then <tool_call>{"na', final=True, cut=True) == \
        ('<tool_call>{"a": 1}</tool_call> then', [])


UNDECIDED = {  # blocks that stay undecided while they grow: each piece used to re-read the whole block
    "literal": "<tool_call>{x " + "a" * 20000,  # the object's scan re-read the letters' run from its start
    "spaces": "<tool_call>" + " " * 20000,  # the whitespace after `<tool_call>`
    "not an object": "<tool_call>hello " + "a" * 20000,  # the search for `</tool_call>`
    "after the object": '<tool_call>{"name": "f", "arguments": {}}' + " " * 20000,  # the whitespace after it
    "a long number": '<tool_call>{"name": "f", "arguments": {"a": ' + "1" * 20000,
}


@pytest.mark.parametrize("name", UNDECIDED)
def test_an_undecided_block_is_read_once_not_at_every_piece(monkeypatch, name):
    """The parser runs at every token on the server's event loop: a block left undecided for 100,000 characters
    took 17 s in 4-character pieces (each piece read the block again). Counted: the characters its scans read stay
    a few times the text's length (5,000 pieces re-reading 20,000 characters: ~50 million), and the reply is the
    same as parsed whole."""
    import axk1.infer.json_scan as json_scan
    import axk1.infer.tool_calls as tool_calls

    read = [0]

    class Counting:  # a compiled pattern, counting the characters its calls read
        def __init__(self, real):
            self.real = real

        def match(self, text, pos=0, *rest):
            m = self.real.match(text, pos, *rest)
            read[0] += (m.end() if m else pos) - pos + 1
            return m

        def search(self, text, pos=0):
            m = self.real.search(text, pos)
            read[0] += (m.end() if m else len(text)) - pos
            return m

    for module, names in ((tool_calls, ("_SPACE", "_CLOSE")),
                          (json_scan, ("_OUTSIDE", "_IN_STRING", "_SPACE_RUN", "_WORD_RUN"))):
        for attr in names:
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, Counting(getattr(module, attr)))
    text = UNDECIDED[name]
    content, calls, _ = _streamed(text, step=4)
    assert read[0] <= 4 * len(text), read[0]
    whole, calls = _whole(text), _named(calls)
    assert (content, calls) == (whole[0], _named(whole[1]))
    # a whole call left unclosed at the reply's end is a call (CASES); any other undecided block stays text
    assert (content, calls) == ((None, [("f", {})]) if name == "after the object" else (text.strip(), []))
