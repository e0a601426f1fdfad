"""AIME 2025 in English and Korean: DeepSeek's step-by-step instruction, graded on the last \\boxed{} integer."""

from __future__ import annotations

import io
import os
import socket
import urllib.request
from collections import Counter
from pathlib import Path
from dataclasses import dataclass
from urllib.parse import urlsplit

from axk1.eval.backends import Completion
from axk1.eval.math_grader import grade_integer_answer
from axk1.eval.metrics import readable
from axk1.eval.provenance import digest
from axk1.eval.tasks.aime_check import copy_caveats, copy_check
from axk1.eval.tasks.base import (Problem, Task, TaskData, TaskOptions, apply_limit, failed_record, flag,
                                  no_answer_reason, register)
from axk1.json_text import json_lines
from axk1.text.contamination import benchmark_row_id
from axk1.user_file import not_utf8, read_bytes

INSTRUCTIONS = {
    "en": "Please reason step by step, and put your final answer within \\boxed{}.",
    "ko": "단계별로 추론하고 최종 답을 \\boxed{} 안에 넣으세요.",
}
# Where each set comes from when no local file is given (docs/evaluation.md, "AIME 2025"). The English set has
# public Hugging Face copies; the Korean one has none that we can vouch for, so it always needs a file.
HUB_DEFAULTS = {"en": "math-ai/aime25"}
DATA_FLAGS = {"en": "--aime-data", "ko": "--aime-ko-data"}
HF_FIELDS = (("problem", "question"), ("answer",), ("id", "idx", "ID"))
PROBE_TIMEOUT_S = 5.0
AIME_PROBLEMS = 30  # AIME 2025 I and II: the set the published scores are on


def _field(row: dict, names: tuple[str, ...], what: str, where: str):
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    raise ValueError(f"{where}: a row has no {what} field (looked for {', '.join(names)})")


def _hub_rows(source: str, flag: str) -> list[dict]:
    """Rows of a Hugging Face dataset. `datasets` is imported here only: it is heavy and only this path needs it."""
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise ValueError(f"{source!r} is a Hugging Face dataset id and loading it needs `pip install datasets` (in axk1's [hf] extra); "
                         f"or pass a local JSONL file with {flag}") from e
    import datasets.config

    config_key = flag.lstrip("-").replace("-", "_")
    unreachable = None if datasets.config.HF_HUB_OFFLINE else _hub_unreachable()
    if unreachable:  # fail now: `datasets` retries an unreachable hub with back-off for a minute or more
        raise ValueError(f"the Hugging Face hub is not reachable ({unreachable}), so {source!r} cannot be "
                         f"downloaded: pass a local JSONL file of problem/answer rows with {flag} (or {config_key} = "
                         "\"FILE\" in a --config file), or set HF_HUB_OFFLINE=1 to use a copy `datasets` has cached")
    try:
        if source == "opencompass/AIME2025":  # two configs, one per paper (I and II)
            return [dict(r) for cfg in ("AIME2025-I", "AIME2025-II") for r in load_dataset(source, cfg, split="test")]
        split = "train" if source == "yentinglin/aime_2025" else "test"
        return [dict(r) for r in load_dataset(source, split=split)]
    except Exception as e:  # offline, unknown id, hub error: the user's remedy is the same
        raise ValueError(f"could not load the Hugging Face dataset {source!r} ({type(e).__name__}: {e}). Without "
                         f"network, pass a local JSONL file of problem/answer rows with {flag} (or "
                         f"{config_key} = \"FILE\" in a --config file)") from e


def _hub_unreachable(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub (HF_ENDPOINT) cannot be reached, or None: one TCP connection, to the proxy where one applies."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(endpoint.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        parsed = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parsed.hostname or "", parsed.port or 80
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"{host}:{port}: {e}"
    return None


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank line of a local AIME JSONL file, the one reader of one (this task's,
    and post-training's decontamination: posttrain/decontam.py); errors name the file and the line. A UTF-8
    byte-order mark at the start of a line is dropped, as json_text.without_bom does (a Windows editor's mark, or
    files joined with `cat`). A FIFO or a folder is refused (user_file.read_bytes), never waited on."""
    try:
        text = read_bytes(path).decode("utf-8")  # whole: the byte a decode error names is the file's
    except UnicodeDecodeError:
        raise not_utf8(path, "AIME data is a UTF-8 JSONL file") from None
    rows = []
    # lines end at newlines only, as a file reads (str.splitlines also split at U+2028 inside a problem's text)
    lines = (line.lstrip("\ufeff") for line in io.StringIO(text, newline=None))
    for number, row in json_lines(lines, path, "each line holds one problem as {\"problem\": ..., \"answer\": ...}"):
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: a JSON {type(row).__name__}, not an object with problem/answer "
                             "fields")
        rows.append((number, row))
    if not rows:
        raise ValueError(f"{path} is empty: give a JSONL file with one problem/answer row per line")
    return rows


def _looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or "\\" in source or source.endswith((".jsonl", ".json", ".parquet")) \
        or source.count("/") > 1


def _rows_from(source: str, flag: str) -> tuple[list[tuple[int | None, dict]], str]:
    """Local JSONL file or a Hugging Face dataset id (needs network and `datasets`): (line number or None, row)."""
    path = Path(source).expanduser()
    if path.is_file():
        return read_jsonl(path), str(path)
    if path.exists():
        raise ValueError(f"AIME data {source!r} is not a regular file; give a JSONL file with problem/answer rows")
    if _looks_like_path(source):
        raise FileNotFoundError(f"AIME data file {source!r} does not exist (relative paths are from "
                                f"{Path.cwd()}); give a JSONL file with problem/answer fields")
    if "/" in source:
        return [(None, row) for row in _hub_rows(source, flag)], f"hf:{source}"
    raise FileNotFoundError(f"AIME data {source!r} not found: give a JSONL file with problem/answer fields, "
                            "or a dataset id such as math-ai/aime25")


@dataclass
class AIMEConfig:
    aime_data: str | None = flag(None, "AIME25 JSONL file or Hugging Face dataset id (default: math-ai/aime25, "
                                       "downloaded; give a file to run offline)", metavar="FILE_OR_ID")
    aime_ko_data: str | None = flag(None, "AIME25-ko JSONL file (required for aime25-ko: no public copy is "
                                          "downloaded)", metavar="FILE")
    path_keys = ("aime_ko_data",)  # (ClassVars: no annotation) resolved by a --config file against its folder
    path_or_id_keys = ("aime_data",)


@register("aime25-ko", lang="ko")
@register("aime25", lang="en")  # the decorator nearest the class runs first: aime25 is listed first
class AIMETask(Task):
    group_by = ()
    Config = AIMEConfig

    def __init__(self, lang: str):
        self.lang = lang
        self.name = "aime25" if lang == "en" else "aime25-ko"
        self.published = self.name
        self.counterpart = "aime25" if lang == "ko" else None  # the Korean file's ids are the English one's

    @classmethod
    def configure(cls, cfg, options: TaskOptions, out: Path, backend) -> None:
        for name, source in (("aime25", cfg.aime_data), ("aime25-ko", cfg.aime_ko_data)):
            if source:
                options.data[name] = source

    def comparison_caveats(self, options: dict, result: dict) -> list[str]:
        n = result["metrics"]["n_problems"]
        why = [] if n == AIME_PROBLEMS else [f"{n} problems, not AIME 2025's {AIME_PROBLEMS}"]
        return why + copy_caveats(result.get("info", {}), self.lang)

    def extra_scores(self, problems: list[Problem], records: list[dict], n: int) -> dict:
        # How answers were read (a \boxed{} integer or math-verify's parse): a shift there can explain a score.
        methods = Counter(r["method"] for r in records if r.get("method"))
        return {"extraction_methods": dict(methods)} if methods else {}

    def report_lines(self, result: dict, out: Path) -> list[str]:
        methods = result.get("extraction_methods")
        return [f"- extraction methods: {readable(methods)}"] if methods else []

    def default_source(self) -> str:
        if self.lang not in HUB_DEFAULTS:
            raise ValueError(f"{self.name} has no public copy to download: pass a JSONL file of problem/answer rows "
                             f"with {DATA_FLAGS[self.lang]} (see docs/evaluation.md, \"AIME 2025\")")
        return HUB_DEFAULTS[self.lang]

    def load(self, options: TaskOptions) -> TaskData:
        source = options.data.get(self.name) or self.default_source()
        rows, origin = _rows_from(source, DATA_FLAGS[self.lang])
        problems, lines, statements = [], {}, {}
        for i, (number, row) in enumerate(rows):
            where = f"{origin}:{number}" if number is not None else f"{origin}: row {i}"
            text = str(_field(row, HF_FIELDS[0], "problem", where)).strip()
            if not text:  # refused as a missing one is: sent as it stood, the model was graded on nothing
                raise ValueError(f"{where}: the problem is blank; give every row its problem's statement")
            answer = str(_field(row, HF_FIELDS[1], "answer", where)).strip()
            # ASCII digits only: "²".isdigit() is true and int("²") fails
            if not (answer.isascii() and answer.isdigit()) or int(answer) > 999:
                raise ValueError(f"{where}: answer {answer!r} is not an integer 0-999 (AIME answers are)")
            pid = benchmark_row_id(row, number, i)  # the corpus audit's id for the same row (--contamination)
            if pid in lines:
                raise ValueError(f"{origin}: id {pid!r} appears twice ({lines[pid]} and {where}); ids must be unique")
            lines[pid] = where
            content = f"{text}\n\n{INSTRUCTIONS[self.lang]}"
            statements[pid] = text
            problems.append(Problem(pid, [{"role": "user", "content": content}], str(int(answer))))
        if len(problems) == 0:
            raise ValueError(f"{origin} holds no problems")
        problems = apply_limit(problems, options.limit)
        info = {"source": origin, "n_problems": len(problems), "dataset_hash": digest([(p.id, p.messages[0]["content"],
                p.gold) for p in problems]), "instruction": INSTRUCTIONS[self.lang],
                "prompt_hash": digest(INSTRUCTIONS[self.lang]),
                **copy_check({pid: statements[pid] for pid in (p.id for p in problems)},
                             {p.id: int(p.gold) for p in problems}, self.lang)}
        return TaskData(problems, info)

    def grade(self, problem: Problem, completion: Completion, options: TaskOptions) -> dict:
        if completion.error:
            return failed_record(completion)
        verdict = grade_integer_answer(completion.text, problem.gold, completion.finish_reason, completion.think_open)
        record = verdict.to_dict()
        if record["status"] == "no_answer":
            record["detail"] = no_answer_reason(completion)
        return record
