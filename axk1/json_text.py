"""JSON from outside the process (a user's file, a line of their data, a flag's value), and JSON written for other
readers: one place for everything a broken text can raise, and for what a strict reader needs.

`json.loads` fails in four ways, not one: JSONDecodeError (bad syntax), UnicodeDecodeError (bytes that are not
UTF-8), a plain ValueError (an integer of more than 4,300 digits) and RecursionError (arrays nested past the
interpreter's stack, a few hundred bytes of `[`). A reader that catches only the first turns the others into a
traceback. `parse_json` turns all four into one `JsonError` whose text is the short reason; `read_json_file` and
`json_lines` put it after the file's (and line's) name and what to do, so every JSON file the project reads from disk
fails as one line.

Written JSON is strict (`strict_json`: no bare NaN or Infinity, which jq and JSON.parse refuse) and read back as it
was (`from_strict`, `read_metrics_rows`). `has_surrogate` tests a string, and `json_strings` and `find_surrogate`
walk a decoded value, for the lone surrogates ("\\ud800") that JSON allows and no tokenizer or UTF-8 writer can encode;
`reply_text` is the one reading of an OpenAI-style reply's content as text (synth's teacher, eval's openai backend).
`json_digest` is the one sha256 of a JSON value (cache keys, content ids, provenance and resume digests).
`without_bom` is the one removal of UTF-8 byte-order marks from a JSON Lines line (the data, chat and task readers);
`wide_encoding` names a text in UTF-16 or UTF-32 by its first bytes, mark or none, and `wide_text` says how to convert
it, for every reader of JSON (parse_json, the chat and task files' check of their first bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from axk1.user_file import read_bytes

_SURROGATE = re.compile("[\ud800-\udfff]")
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark


class JsonError(ValueError):
    """The text is not JSON; str() is the reason (`Expecting value at column 3`, `nested too deep`, ...)."""


def without_bom(line: bytes) -> bytes:
    """A JSON Lines line without the UTF-8 byte-order marks at its start. Files that each start with one and are
    then joined (`cat a.jsonl b.jsonl > all.jsonl`) carry it at the start of later lines, where it was an "invalid
    json" row; a file of a mark alone (an empty file saved with one) leaves two marks on the next file's first line.
    The data package's jsonl source, the chat reader and the RL task reader take their lines through here."""
    while line.startswith(BOM):
        line = line[len(BOM):]
    return line


# JSON text begins with an ASCII character (whitespace included) and holds no NUL byte in UTF-8, so the NULs in its
# first four bytes tell UTF-16 and UTF-32 without a byte-order mark apart, and their byte order (RFC 4627, section 3):
# iconv needs that said (`iconv -f UTF-16` without a mark takes the machine's own order; glibc: little-endian).
_MARKS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"), (b"\xfe\xff", "UTF-16"),
          (b"\xff\xfe", "UTF-16"))
_NULS = {(1, 1, 1, 0): "UTF-32BE", (0, 1, 1, 1): "UTF-32LE", (1, 0): "UTF-16BE", (0, 1): "UTF-16LE"}


def wide_encoding(head: bytes) -> str | None:
    """The UTF-16 or UTF-32 that a JSON text starting with `head` (its first bytes; a line's, for JSON Lines) is in,
    as iconv names it: "UTF-16" or "UTF-32" with a byte-order mark (iconv reads the mark), "UTF-16LE", "UTF-16BE",
    "UTF-32LE" or "UTF-32BE" without one; None for anything else. A text that does not start as JSON does is UTF-16
    still where a NUL is at most bytes of one parity (the second of each pair: little-endian). Exact for a file's
    start; a later line of a little-endian file, cut at its newline, starts with that newline's NUL and looks
    big-endian, so line readers ask of the first line (json_lines and read_json_file fail there;
    chat_formats.refuse_not_text looks at the file's first bytes)."""
    for mark, name in _MARKS:
        if head.startswith(mark):
            return name
    nuls = tuple(int(b == 0) for b in head[:4])  # 1 where a NUL is
    if wide := _NULS.get(nuls) or _NULS.get(nuls[:2]):  # UTF-32's four, else UTF-16's first two
        return wide
    head = head[:4096]  # the first bytes are enough, and keep this cheap on a whole file's
    even, odd = head[::2].count(0), head[1::2].count(0)
    if max(even, odd) >= max(len(head) // 4, 2) and min(even, odd) * 8 <= max(even, odd):
        return "UTF-16LE" if odd > even else "UTF-16BE"
    return None


def wide_text(wide: str, path: str | Path | None = None) -> str:
    """Why a text in `wide` (wide_encoding's name) is not read, and the command that converts it (the file `path`
    into a .utf8 one beside it, where given): every reader of JSON says the same."""
    bare = " without a byte-order mark" if wide.endswith(("LE", "BE")) else ""
    convert = f"iconv -f {wide} -t UTF-8"
    if path is not None:
        path = Path(path)
        convert += f" {path} > {path.with_suffix('.utf8' + path.suffix)}"
    return f"{wide} text{bare}, not UTF-8: convert it with `{convert}`"


def parse_json(text: str | bytes, parse_float=None) -> Any:
    """The value of a JSON text (bytes are read as UTF-8, a byte-order mark at the start dropped); JsonError when it
    is not one. `parse_float`: json.loads' hook for a number with a fraction or exponent (called with its text),
    float when None."""
    try:
        # decoded here: json.loads guesses UTF-16 or UTF-32 from bytes, and then parsed some lines of a UTF-16 file
        return json.loads(text.decode("utf-8-sig") if isinstance(text, bytes) else text, parse_float=parse_float)
    except RecursionError:
        raise JsonError("nested too deep") from None
    except json.JSONDecodeError as e:
        # UTF-16 or UTF-32 without a byte-order mark decodes as UTF-8 where it is ASCII (each character beside NULs):
        # it was a syntax error at column 1 ("Expecting property name"), not a word of the encoding
        if wide := wide_encoding(text if isinstance(text, bytes) else bytes(c != "\x00" for c in text[:4])):
            raise JsonError(wide_text(wide)) from None
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno}, column {e.colno}"
        at = "" if e.msg.endswith(" at") else " at"  # "Unterminated string starting at" names its own place
        raise JsonError(f"{e.msg}{at} {where}") from None
    except UnicodeDecodeError as e:
        if wide := wide_encoding(text):  # a UTF-16/32 byte-order mark (UTF-16: Windows PowerShell's default), or
            # UTF-16 without one holding other than ASCII
            raise JsonError(wide_text(wide)) from None
        raise JsonError(f"not UTF-8 text (byte {e.start})") from None
    except ValueError as e:  # an integer past Python's int-from-string digit limit
        raise JsonError(str(e)) from None


JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
              type(None): "null"}


def json_type(value: Any) -> str:
    """A decoded value's type in JSON's words ("null", "array", ...), for messages to whoever wrote the file."""
    return next((name for kind, name in JSON_TYPES.items() if type(value) is kind), type(value).__name__)


def read_json_file(path: str | Path, advice: str, *, what: str = "", need_object: bool = False) -> Any:
    """The value of a JSON file (gzip-compressed when its name ends in .gz). A file that is not JSON (cut short,
    not UTF-8, nested too deep, ...), or with `need_object` not a JSON object, is a ValueError of one line:
    `[what ]path is not valid JSON (reason): advice` (or `... must be a JSON object, got list: advice`). OSError
    (FileNotFoundError, ...) as raised: a missing file usually means something else to the caller than a broken one.
    A path that is not a regular file (a FIFO, which would block the read for ever) is a ValueError (user_file)."""
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    data = read_bytes(path)  # a FIFO or device in its place is refused, never waited on
    try:
        value = parse_json(gzip.decompress(data) if path.suffix == ".gz" else data)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # a gzip stream cut short or damaged
        raise ValueError(f"{name} is not a whole gzip file ({str(e) or type(e).__name__}): {advice}") from None
    except JsonError as e:
        raise ValueError(f"{name} is not valid JSON ({e}): {advice}") from None
    if need_object and not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}: {advice}")
    return value


def json_lines(lines: Iterable[str | bytes], where: str | Path, advice: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every line of a JSON Lines text that is not blank; a line that is not JSON is a
    ValueError saying `where:line: not a JSON line (reason); advice`."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, parse_json(line)
        except JsonError as e:
            raise ValueError(f"{where}:{number}: not a JSON line ({e}); {advice}") from None


# A skipped step's loss and gradient norm are NaN or infinite. Python's json writes them as the bare words NaN and
# Infinity, which JSON does not have: jq, JavaScript's JSON.parse and every strict reader refused the whole file.
# Such a value is written as null, and the row's "non_finite" field keeps what it was ("nan", "inf" or "-inf", at the
# same place in a nested field), so that read_metrics_rows gives the rows back as they were logged.
NON_FINITE = "non_finite"


def _strict(value: Any) -> tuple[Any, Any]:
    """(value with every non-finite float as None, where they were: a mirror of the nested dicts and lists, or None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, repr(value)
    if isinstance(value, dict):
        parts = [(key, *_strict(v)) for key, v in value.items()]
        out: Any = {key: v for key, v, _ in parts}
    elif isinstance(value, (list, tuple)):
        parts = [(str(i), *_strict(v)) for i, v in enumerate(value)]
        out = [v for _, v, _ in parts]
    else:
        return value, None
    found = {key: where for key, _, where in parts if where is not None}
    return out, found or None


def strict_json(obj: Any, **dumps_args: Any) -> str:
    """`obj` as strict JSON (json.dumps' keywords pass through): non-finite floats become null; in a dict, its
    NON_FINITE field says which and what they were. The metrics rows and the runs' reports are written with it."""
    clean, found = _strict(obj)
    if found is not None and isinstance(clean, dict):
        clean[NON_FINITE] = found
    return json.dumps(clean, allow_nan=False, **dumps_args)


def _restore(value: Any, found: Any) -> bool:
    """Puts the floats named in `found` back in place of the nulls; False if some did not fit `value`."""
    if not isinstance(found, dict) or not isinstance(value, (dict, list)):
        return False
    fits = True
    for key, where in found.items():
        if isinstance(value, list):
            index = int(key) if str(key).isdigit() and int(key) < len(value) else None
        else:
            index = key if key in value else None
        if index is None:
            fits = False
        elif isinstance(where, dict):
            fits = _restore(value[index], where) and fits
        elif value[index] is None and where in ("nan", "inf", "-inf"):
            value[index] = float(where)
        else:
            fits = False
    return fits


def from_strict(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back: the values strict_json wrote as null are floats again (NaN, inf), as the run logged them.
    A row of an older file, with bare NaN and Infinity in it, needs nothing (json.loads reads those)."""
    if NON_FINITE in row and _restore(row, row[NON_FINITE]):
        del row[NON_FINITE]  # a field that does not fit its row (not written by strict_json) is left in it
    return row


class TornLine(JsonError):
    """The last line, with no newline after it, is not JSON: the line a killed (or out-of-disk) writer was writing."""


def jsonl_values(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(line number, where the line starts in `data`, its value) for every line of a JSON Lines file's bytes that is
    not blank, split at newlines only. A line that is not JSON gives its JsonError as the value, the last line a
    TornLine: a line is written whole only when its newline is, so one without it that does not parse is torn (one
    that parses is a whole row whose writer left the newline off)."""
    lines = data.split(b"\n")  # bytes: a line that is not UTF-8 is named like any broken line
    offset = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                value = parse_json(line)
            except JsonError as e:
                value = TornLine(str(e)) if number == len(lines) else e
            yield number, offset, value
        offset += len(line) + 1


def read_metrics_rows(path: str | Path, torn_tail: bool = False) -> list[dict[str, Any]]:
    """The rows of a metrics file. A line that is not a JSON object is an error naming the file and line, but for
    `torn_tail`: a torn last line (`jsonl_values`) is the row a killed run was writing, and is dropped. Non-finite
    values come back as floats, from a strict file's nulls (`from_strict`) or an older file's bare NaN."""
    rows = []
    for i, _, row in jsonl_values(read_bytes(path)):
        if isinstance(row, TornLine) and torn_tail:
            break
        if isinstance(row, JsonError):
            raise ValueError(f"{path}, line {i}: not a metrics row ({row}); a run writes one JSON object a line: "
                             "delete that line (the rows are a log; the checkpoint holds the run) and run again")
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {i}: not a metrics row (a JSON {type(row).__name__}, not an object): "
                             "delete that line (the rows are a log; the checkpoint holds the run) and run again")
        rows.append(from_strict(row))
    return rows


def json_strings(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string in a decoded JSON value, keys included (a key at the path it names), in document
    order, e.g. ("messages[0].content", "hi"). Iterative: depth is bounded before this runs, but nothing here should
    rely on it."""
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path or "(body)", node
        elif isinstance(node, dict):
            children = []
            for k, v in node.items():
                child = f"{path}.{k}" if path else k
                children += [(child, k), (child, v)]
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(node))))


def has_surrogate(text: str) -> bool:
    """Whether a string holds a lone surrogate: valid JSON ("\\ud800") but not text, which no UTF-8 writer or
    tokenizer can encode. The one test every reader of outside text applies (the pipeline's sources, tokenizer
    training, find_surrogate)."""
    return _SURROGATE.search(text) is not None


def find_surrogate(data: Any, path: str = "") -> str | None:
    """The path (under `path`) of the first string (key or value) holding a lone surrogate, or None. A key's
    surrogate is shown escaped: the param must itself be encodable text."""
    for path, text in json_strings(data, path):
        if has_surrogate(text):
            return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", path)
    return None


def reply_text(value: Any, what: str, whose: str = "the reply", error: type[ValueError] = ValueError) -> str | None:
    """A field of an OpenAI-style chat reply as text: a string, null, or (as some servers send content) a list of
    {"type": "text", "text": ...} parts, joined. Anything else, or a lone surrogate, raises `error` ("`whose` `what`
    ..."). The one rule for synth's teacher and eval's openai backend: a part of another type (image_url) is not
    text, and a surrogate, valid JSON, would crash the first UTF-8 writer after it (eval's completions.jsonl)."""
    if value is None or isinstance(value, str):
        text = value
    elif isinstance(value, list) and what == "content":
        parts = []
        for n, part in enumerate(value):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            if kind != "text" or not isinstance(part.get("text"), str):
                raise error(f"{whose} content part {n} is {kind!r}, not a text part "
                            "({'type': 'text', 'text': ...}): only text can be read")
            parts.append(part["text"])
        text = "".join(parts)
    else:
        raise error(f"{whose} {what} is {type(value).__name__} ({str(value)[:60]!r}), not text")
    if text and has_surrogate(text):
        raise error(f"{whose} {what} holds a lone surrogate (\\ud800-\\udfff: valid JSON, not text)")
    return text


def json_digest(value: Any, *, ensure_ascii: bool = False, sort_keys: bool = True) -> str:
    """The sha256 (hex) of `value`'s JSON text: keys sorted, what JSON cannot hold written as its str(), and a lone
    surrogate hashed as its own bytes (surrogatepass: valid text hashes the same as strict UTF-8, and a value
    holding "\\ud800" still gets a digest instead of a codec error). The two flags exist only so that digests
    stored on disk before this one helper keep their bytes: the eval completion cache and the RL resume digest
    were taken over ASCII-escaped text, post-training task ids over unsorted keys. New callers take the defaults."""
    text = json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
