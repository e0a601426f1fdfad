"""Chat data as users bring it → the OpenAI-style `messages` rows that chat_data renders.

Containers (`read_chat_rows`), told apart by their first bytes, not their names (a `.json` file is as often JSON Lines
as an array):
- JSON Lines, one row a line; a UTF-8 byte-order mark at the start of a line is dropped (Windows editors write one
  at the start of a file, and files concatenated with `cat` carry it on to later lines: json_text.without_bom);
- a JSON array of rows (`json.dump(rows, f, indent=2)`, pandas' `orient="records"`), or one pretty-printed row;
- either compressed with gzip, zstd, bzip2 or xz (read as a stream);
- Parquet, an Arrow file or stream, and a Hugging Face `save_to_disk` folder of one split (Arrow streams listed in
  its state.json): pyarrow is already a dependency, so these are read, not refused.
What no reader takes (a DatasetDict folder, another folder, CSV, a zip/xlsx, UTF-16/32 or other binary) is refused
with one error naming the file and a command that converts it.

Row shapes (`row_messages`): OpenAI `messages`; ShareGPT `conversations` of {from, value}; Alpaca instruction
[+ input] / output; TRL's prompt / completion (the prompt's assistant turns are context only, as TRL trains
them). Role `developer` (OpenAI's name for system instructions since o1) is `system`; an assistant turn's
`reasoning` or `thinking` string (vLLM's and gpt-oss' field names) is its `reasoning_content`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

from axk1.compressed_file import STREAM_ERRORS, codec_by_head, damaged, open_codec
from axk1.json_text import (BOM, JsonError, find_surrogate, json_type, parse_json, read_json_file, wide_encoding,
                             wide_text, without_bom)
from axk1.posttrain.chat_report import BadRow, ChatReport
from axk1.posttrain.chat_tool_rows import drop_columnar_nulls, legacy_function_turn, sharegpt_tool_turn
from axk1.text.reasoning import REASONING_FIELDS
from axk1.user_file import regular_file

TO_JSONL = ("python -c \"import pandas as pd; pd.read_{kind}('{path}').to_json('{out}', orient='records', "
            "lines=True, force_ascii=False)\"")
ACCEPTED = ("JSON Lines or a JSON array of rows (optionally .gz/.zst/.bz2/.xz), Parquet, Arrow, or a Hugging Face "
            "save_to_disk folder of one split")

# ShareGPT speaker names (FastChat's and LLaMA-Factory's conventions) -> roles; LLaMA-Factory's tool speakers,
# function_call (a call, not text) and observation, are converted by chat_tool_rows.sharegpt_tool_turn
TOOL_SPEAKERS = ("function_call", "observation")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "model": "assistant",
                  "system": "system", "tool": "tool"}
ROLE_ALIASES = {"developer": "system"}
REASONING_ALIASES = REASONING_FIELDS[1:]  # a trace's names besides reasoning_content (axk1/text/reasoning.py)
SHAPES = ("'messages' (OpenAI: role/content), 'conversations' (ShareGPT: from/value), 'instruction' + 'output' "
          "(Alpaca) or 'prompt' + 'completion' (TRL)")


# ---- containers ----

def read_chat_rows(paths: Iterable[str | Path], report: ChatReport) -> Iterator[tuple[str, Any]]:
    """(place, parsed row) for every row of every file; a row that is not UTF-8, not JSON, or carries a lone
    surrogate is counted under its reason. A place is "path:line" (JSON Lines) or "path[i]" (the i-th record of an
    array, Parquet or Arrow file), the path as given (two train.jsonl stay apart)."""
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"chat data {path} not found")
        if path.is_dir():
            yield from _dataset_folder(path, report)
            continue
        with regular_file(path).open("rb") as f:  # a FIFO would block the open for ever
            head = f.read(HEAD)
        if head.startswith(b"PAR1"):
            import pyarrow.parquet as pq
            report.files[str(path)] = "parquet"
            yield from _records(path, pq.ParquetFile(path).iter_batches(batch_size=1024), report)
        elif head.startswith((b"ARROW1", b"\xff\xff\xff\xff")):
            report.files[str(path)] = "arrow"
            yield from _records(path, _arrow_batches(path), report)
        else:
            opener, kind = decompressor(head)
            _refuse_table(path, head)
            try:
                # what is inside a compressed file is looked at too: a .tar.gz of JSON Lines is a tar inside
                refuse_not_text(path, text_head(opener, path) if kind else head, "chat data")
                with opener(path) as stream:
                    yield from _text_rows(path, stream, report, kind)
            except STREAM_ERRORS as e:
                if not kind:  # a plain file's read error is the disk's, not the data's
                    raise
                raise damaged(path, kind.strip(), e, "compress it again", what="chat data") from None


HEAD = 512  # the bytes looked at before a file is read as text: a tar header's "ustar" is at 257


def decompressor(head: bytes):
    """(open(path) -> binary stream, "gzip " / "zstd " / "bzip2 " / "xz " or "") for a file starting with `head`:
    told by its first bytes, not its name (compressed_file.codec_by_head). Task files (tasks.read_tasks) are read
    so too."""
    codec = codec_by_head(head)
    return (lambda p: open_codec(p, codec)), f"{codec} " if codec else ""


def text_head(opener, path: Path) -> bytes:
    """The first HEAD bytes of a compressed file's content (a stream cut before them raises, as reading it does)."""
    with opener(path) as stream:
        return stream.read(HEAD)


def _refuse_table(path: Path, head: bytes) -> None:
    """A CSV table or a zip (a spreadsheet) read as text would be one "invalid json" row a line: refused whole,
    with the command that converts it. `head`: the file's first bytes."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        cmd = TO_JSONL.format(kind="csv", path=path, out=path.with_suffix(".jsonl"))
        if suffix == ".tsv":
            cmd = cmd.replace(f"'{path}')", f"'{path}', sep='\\t')")
        raise ValueError(f"chat data {path}: CSV is not read (a message list has no CSV form); an Alpaca-style "
                         f"table (instruction, input, output columns) converts to JSON Lines with: {cmd}")
    if head.startswith(b"PK\x03\x04"):
        cmd = TO_JSONL.format(kind="excel", path=path, out=path.with_suffix(".jsonl"))
        raise ValueError(f"chat data {path} is a zip archive (or a spreadsheet): unpack it, or convert a sheet "
                         f"with: {cmd}")


def refuse_not_text(path: Path, head: bytes, what: str, accepted: str = ACCEPTED) -> None:
    """A file whose text (`head`: its first HEAD bytes, decompressed) is not UTF-8 JSON would be one "invalid utf-8"
    or "invalid json" row a line, or worse some rows read and the rest lost: refused whole, naming the file (`what`
    it is: "chat data", "the task file") and the fix. The chat and the task readers call it."""
    # a tar's rows would be read between its headers, the headers' lines lost; its whole magic: "ustar" alone is Spanish
    if head[257:263] in (b"ustar\x00", b"ustar "):
        raise ValueError(f"{what} {path} is a tar archive: extract it (`tar -xf {path}`) and give the JSON Lines "
                         "files inside")
    if wide := wide_encoding(head):  # UTF-16 with its mark: Windows PowerShell's default
        raise ValueError(f"{what} {path} is {wide_text(wide, path)}")
    if b"\x00" in head:  # JSON text never holds a NUL byte; these would be 'invalid utf-8' or 'invalid json' rows
        raise ValueError(f"{what} {path} is not text: give {accepted}")


def _text_rows(path: Path, stream, report: ChatReport, kind: str) -> Iterator[tuple[str, Any]]:
    start = stream.peek(4096).removeprefix(BOM).lstrip()
    first_line = start.split(b"\n", 1)[0].strip()
    # an array, or one pretty-printed object: a line of "{" alone is never a JSON Lines row, whatever the file's name
    if start[:1] == b"[" or first_line == b"{":
        report.files[str(path)] = f"{kind}json " + ("array" if start[:1] == b"[" else "object")
        try:
            value = parse_json(stream.read().removeprefix(BOM))
        except JsonError as e:
            if str(e).startswith("Extra data") and first_line == b"{":  # jq's default output: objects, each indented
                raise ValueError(f"chat data {path} holds several pretty-printed JSON values one after another, as "
                                 f"jq prints them ({e}): write one row a line with `jq -c . {path} > "
                                 f"{path.with_suffix('.lines.jsonl')}` (or one array with `jq -s`)") from None
            pretty = ", and its first line is '{' alone: it looks pretty-printed" if first_line == b"{" else ""
            raise ValueError(f"chat data {path} is not valid JSON ({e}){pretty}: a JSON file is read whole, so one "
                             "error loses every row; fix it, or write one row a line (JSON Lines)") from None
        yield from _records(path, [value if isinstance(value, list) else [value]], report, whole=True)
        return
    report.files[str(path)] = f"{kind}jsonl"
    for n, raw in enumerate(stream, 1):  # bytes: one undecodable line is excluded, not the whole file
        raw = without_bom(raw)
        if not raw.strip():
            continue
        report.rows += 1
        place = f"{path}:{n}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            report.exclude("invalid utf-8", f"{place} (byte {e.start})", "the line is not UTF-8 text; a file saved "
                           f"in a legacy encoding (Korean Windows: cp949) converts whole with `iconv -f cp949 -t "
                           f"utf-8 {path} > {path.with_suffix('.utf8' + path.suffix)}` (a few such lines among UTF-8 "
                           "ones: fix those lines)")
            continue
        try:
            row = parse_json(line)
        except JsonError as e:
            report.exclude("invalid json", f"{place} ({e})")
            continue
        if "\\u" in line and (where := find_surrogate(row)) is not None:
            report.exclude("invalid unicode", f"{place} ({where} holds a lone surrogate)")
            continue
        yield place, row


def _records(path: Path, batches, report: ChatReport, whole: bool = False) -> Iterator[tuple[str, Any]]:
    """Rows of record containers: Arrow record batches, or (whole) one parsed JSON value."""
    i = 0
    for batch in batches:
        rows = batch if whole else batch.to_pylist()
        for row in rows:
            report.rows += 1
            place = f"{path}[{i}]"
            i += 1
            if whole and (where := find_surrogate(row)) is not None:  # Arrow strings are valid UTF-8 already
                report.exclude("invalid unicode", f"{place} ({where} holds a lone surrogate)")
                continue
            if not whole and drop_columnar_nulls(row):  # keys Arrow filled in, not the writer's (chat_tool_rows.py)
                report.columnar_null(place)
            yield place, row


def _arrow_batches(path: Path):
    import pyarrow as pa
    with pa.memory_map(str(path)) as source:
        try:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:  # the stream format (what datasets' save_to_disk writes)
            source.seek(0)
            batches = pa.ipc.open_stream(source)
        yield from batches


def _folder_json(file: Path, key: str) -> list:
    """`key`'s list in a dataset folder's JSON file (dataset_dict.json's splits, state.json's data files), checked:
    the folder may come from anyone, and a wrong shape was a traceback."""
    fix = "re-save the dataset with datasets' save_to_disk, or give its rows as JSONL"
    value = read_json_file(file, fix, what="Hugging Face dataset file", need_object=True).get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{file} is not a Hugging Face dataset file (no list {key!r}): {fix}")
    return value


def _dataset_folder(path: Path, report: ChatReport) -> Iterator[tuple[str, Any]]:
    if (path / "dataset_dict.json").exists():
        splits = [str(s) for s in _folder_json(path / "dataset_dict.json", "splits")]
        raise ValueError(f"chat data {path} is a Hugging Face DatasetDict (splits: {', '.join(splits)}): name the "
                         f"split to train on, e.g. {path / (splits[0] if splits else 'train')}")
    if not (path / "state.json").exists():
        raise ValueError(f"chat data {path} is a folder: list its files instead (e.g. {path}/*.jsonl); a folder is "
                         "read only when it is a Hugging Face save_to_disk folder (with state.json)")
    names = [f.get("filename") if isinstance(f, dict) else None
             for f in _folder_json(path / "state.json", "_data_files")]
    bad = [n for n in names if not isinstance(n, str) or Path(n).name != n or n in ("", ".", "..")]
    if bad:  # a data file is named inside the folder, never a path out of it
        raise ValueError(f"{path / 'state.json'} names data files that are not plain file names in the folder "
                         f"({bad[0]!r}): re-save the dataset with datasets' save_to_disk")
    files = [path / n for n in names]
    report.files[str(path)] = "hf dataset folder"
    for f in files:
        yield from _records(f, _arrow_batches(f), report)


# ---- row shapes ----

def row_messages(row: Any, formats: Counter | None = None) -> tuple[str, list]:
    """(shape, messages) of a row in any accepted shape; BadRow("no messages") naming the shapes otherwise. The
    messages still go through chat_data.check_messages. `formats` counts the row's shape once it is recognised, a
    row that then fails (a ShareGPT row with an unknown speaker) included."""
    if not isinstance(row, dict):
        raise BadRow("no messages", f"a row must be a JSON object with {SHAPES}; got a {json_type(row)}")
    lists = [k for k in ("messages", "conversations", "conversation") if k in row]
    if lists:
        key = lists[0]
        items = row[key]
        if any(row[k] != items for k in lists[1:]):  # which one the writer meant to train cannot be told
            raise BadRow("two lists of turns", f"the row has {' and '.join(repr(k) for k in lists)}, which differ: "
                         "keep the one to train")
        if not isinstance(items, list) or not items:
            raise BadRow("no messages", f"the row's '{key}' must be a non-empty list of turns")
        sharegpt = any(isinstance(m, dict) and "from" in m and "role" not in m for m in items)
        _count(formats, "sharegpt" if sharegpt else "messages")
        _refuse_media(row)
        messages = [_sharegpt_turn(key, i, m) if sharegpt else _openai_turn(key, i, m) for i, m in enumerate(items)]
        system = row.get("system")
        if sharegpt and system is not None and not isinstance(system, str):  # it was ignored without a word
            raise BadRow("bad content", f"the row's 'system' must be a string (LLaMA-Factory's system prompt), got "
                         f"{type(system).__name__}")
        if sharegpt and system:  # LLaMA-Factory's system column
            messages.insert(0, {"role": "system", "content": system})
        return ("sharegpt" if sharegpt else "messages"), messages
    if "instruction" in row and "output" in row:
        _count(formats, "alpaca")
        return "alpaca", _alpaca(row)
    if "prompt" in row and "completion" in row:
        _count(formats, "prompt-completion")
        # TRL's SFTTrainer trains the completion only (completion_only_loss, its default): an assistant turn in the
        # prompt is the conversation so far, so it is history here too (OpenAI's "weight": 0), never an example
        prompt = [{**m, "weight": 0} if isinstance(m, dict) and m.get("role") == "assistant" else m
                  for m in _side(row["prompt"], "user", "prompt")]
        return "prompt-completion", prompt + _side(row["completion"], "assistant", "completion")
    hint = " ('text' rows are pretraining documents: `axk1 train`)" if "text" in row else ""
    keys = ", ".join(repr(k) for k in list(row)[:8]) or "none"
    raise BadRow("no messages", f"the row has keys {keys}; a chat row needs {SHAPES}{hint}")


def _refuse_media(row: dict) -> None:
    """A LLaVA / LLaMA-Factory multimodal row (`images`, `image`, `videos`, `audios` beside its turns) trained as
    its text alone, `<image>` placeholders and all; OpenAI image parts are refused (message_text), so these are
    too. A null or empty list (Arrow fills one into a text row of a mixed set) is no media."""
    media = next((k for k in ("images", "image", "videos", "audios") if row.get(k) not in (None, "", [])), None)
    if media is not None:
        raise BadRow("bad content", f"the row has '{media}' (a multimodal row, LLaVA's or LLaMA-Factory's): this "
                     "model reads text only, so it would train on the text without what it refers to; drop the row, "
                     "or drop the key and its placeholders to train the text")


def _count(formats: Counter | None, shape: str) -> None:
    if formats is not None:
        formats[shape] += 1


def _openai_turn(key: str, i: int, m: Any) -> Any:
    if not isinstance(m, dict):
        return m  # check_messages names it
    m = dict(m)
    if isinstance(m.get("role"), str):  # (a list or an object as the role: check_messages names it)
        m["role"] = ROLE_ALIASES.get(m["role"], m["role"])
    m = legacy_function_turn(key, i, m)  # OpenAI's deprecated function_call / function turns
    if m.get("role") == "assistant":
        # a trace under several names (an export that kept vLLM's field beside OpenAI's) is one trace when the texts
        # agree; when they differ, training either would drop the other without a word
        names = [k for k in REASONING_FIELDS if m.get(k) is not None]
        if any(m[k] != m[names[0]] for k in names[1:]):
            raise BadRow("bad message", f"{key}[{i}] has {' and '.join(names)} with different texts: keep the "
                         "trace to train under one of them")
        wrong = next((k for k in names if k in REASONING_ALIASES and not isinstance(m[k], str)), None)
        if wrong is not None:  # a trace that is not text was ignored and the turn trained as non-think
            # (a reasoning_content that is not text: chat_data.split_think says so)
            raise BadRow("bad message", f"{key}[{i}].{wrong} must be a string (the turn's reasoning), got "
                         f"{type(m[wrong]).__name__}")
        if names and names[0] != "reasoning_content":
            m["reasoning_content"] = m.pop(names[0])
        if m.get("refusal") is not None:
            m = _refusal_content(key, i, m)
    return m


def _refusal_content(key: str, i: int, m: dict) -> dict:
    """An assistant message's `refusal` (OpenAI's field for a turn that declines: the text the assistant said, with
    null content) as its content; it was ignored, and the turn trained as empty or excluded as such."""
    refusal = m.pop("refusal")
    if not isinstance(refusal, str):
        raise BadRow("bad message", f"{key}[{i}].refusal must be a string (the assistant's refusal text), got "
                     f"{type(refusal).__name__}")
    if m.get("content") not in (None, "", []):
        if refusal:  # OpenAI writes one or the other: which one to train cannot be told
            raise BadRow("bad message", f"{key}[{i}] has both content and refusal: keep the text to train in one")
        return m
    return {**m, "content": refusal}


def _sharegpt_turn(key: str, i: int, m: Any) -> dict:
    if not isinstance(m, dict) or "from" not in m or "value" not in m:
        raise BadRow("bad message", f"{key}[{i}] must be an object with 'from' and 'value' (ShareGPT)")
    speaker = str(m["from"]).lower()
    if m["value"] is None:  # named as the row has it (check_messages would say messages[i] ... content)
        raise BadRow("bad message", f"{key}[{i}].value is null: give the turn's text as a string (\"\" if it is "
                     "meant to be empty)")
    extra = {k: v for k, v in m.items() if k not in ("from", "value")}
    turn = sharegpt_tool_turn(key, i, speaker, m["value"])
    if turn is not None:
        return _openai_turn(key, i, {**extra, **turn})
    role = SHAREGPT_ROLES.get(speaker, ROLE_ALIASES.get(speaker))
    if role is None:
        raise BadRow("unknown role", f"{key}[{i}] has from {m['from']!r}; ShareGPT speakers taken: "
                     f"{', '.join(SHAREGPT_ROLES)}, developer, {', '.join(TOOL_SPEAKERS)}")
    return _openai_turn(key, i, {"role": role, "content": m["value"], **extra})


def _alpaca(row: dict) -> list[dict]:
    """instruction [+ input] -> user, output -> assistant; `system` and `history` ([[question, answer], ...]) as
    LLaMA-Factory reads them, the input joined to the instruction by a newline as there."""
    fields = {k: row.get(k) for k in ("instruction", "input", "output", "system")}
    for k, v in fields.items():
        if v is not None and not isinstance(v, str):
            raise BadRow("bad content", f"Alpaca field '{k}' must be a string, got {type(v).__name__}")
    messages = [{"role": "system", "content": fields["system"]}] if fields["system"] else []
    for j, pair in enumerate(row.get("history") or []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise BadRow("bad message", f"Alpaca history[{j}] must be [question, answer]")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    user = "\n".join(x for x in (fields["instruction"], fields["input"]) if x)
    if not user.strip():  # "" is how exports write a missing value: an answer to nothing teaches nothing
        raise BadRow("bad message", "the Alpaca row's 'instruction' and 'input' are empty: the user turn would be "
                     "empty; fill in the instruction or drop the row")
    return messages + [{"role": "user", "content": user}, {"role": "assistant", "content": fields["output"] or ""}]


def _side(value: Any, role: str, key: str) -> list:
    """One side of a TRL prompt/completion row: a string (standard) or a list of messages (conversational)."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list):
        return [_openai_turn(key, i, m) for i, m in enumerate(value)]
    raise BadRow("bad content", f"'{key}' must be a string or a list of messages")
