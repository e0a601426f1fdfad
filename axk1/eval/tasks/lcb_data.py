"""LiveCodeBench `code_generation_lite` files: read, decode private tests safely, filter by release and date.

Every field of a row is a string. Private tests are plain JSON or base64 -> zlib -> pickle -> JSON string. The
pickle is read by an unpickler that refuses every global, so only plain data (str, bytes, numbers, lists, dicts,
tuples) can come out of it: no object can be constructed and no code can run. Decoded rows are re-stored as
plain JSON in a cache, so a file is decoded once.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from axk1.atomic_file import write_text_atomic
from axk1.json_text import json_lines
from axk1.user_file import not_utf8

RELEASE_FILES = {f"release_v{i}": i for i in range(1, 7)}  # release_vN = test.jsonl .. testN.jsonl
MAX_DECODED_BYTES = 1 << 30


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"private tests may hold plain data only; refused global {module}.{name}")


def decode_private_tests(field: str) -> list[dict]:
    """Plain JSON first; otherwise base64 -> zlib -> restricted pickle -> JSON string -> list of test dicts."""
    if not field:
        return []
    try:
        value = json.loads(field)
    except json.JSONDecodeError:
        raw = zlib.decompressobj().decompress(base64.b64decode(field), MAX_DECODED_BYTES)
        value = _PlainDataUnpickler(io.BytesIO(raw)).load()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, str):
            value = json.loads(value)
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ValueError(f"private tests decode to {type(value).__name__}, expected a list of test objects")
    return value


@dataclass
class LCBProblem:
    question_id: str
    title: str
    content: str
    platform: str
    contest_date: datetime
    difficulty: str
    starter_code: str
    fn_name: str | None
    tests: dict  # {"inputs": [...], "outputs": [...], "fn_name": ...}
    n_public: int

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["contest_date"] = self.contest_date.isoformat()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "LCBProblem":
        return cls(**{**d, "contest_date": datetime.fromisoformat(d["contest_date"])})


def parse_row(row: dict) -> LCBProblem:
    qid = row.get("question_id", "?")
    for key in ("question_content", "platform", "contest_date", "difficulty", "public_test_cases"):
        if key not in row:
            raise ValueError(f"LCB row {qid}: missing field {key!r}; is this a code_generation_lite file?")
    public = json.loads(row["public_test_cases"]) if row["public_test_cases"] else []
    private = decode_private_tests(row.get("private_test_cases") or "")
    metadata = json.loads(row.get("metadata") or "{}")
    if not isinstance(metadata, dict):  # `"[]"` raised AttributeError, out of the bad-row accounting
        raise ValueError(f"LCB row {qid}: metadata is {type(metadata).__name__}, not a JSON object")
    fn_name = metadata.get("func_name") or None
    tests = public + private
    return LCBProblem(
        question_id=str(qid), title=row.get("question_title", ""), content=row["question_content"],
        platform=row["platform"], contest_date=datetime.fromisoformat(row["contest_date"]),
        difficulty=row["difficulty"], starter_code=row.get("starter_code") or "", fn_name=fn_name,
        tests={"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests], "fn_name": fn_name},
        n_public=len(public))


def _read_rows(path: Path):
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as e:
            raise ValueError(f"{path} is Parquet; reading it needs `pip install pyarrow` (or use the JSONL files)"
                             ) from e
        yield from pq.read_table(path).to_pylist()
        return
    what = "LiveCodeBench data is code_generation_lite's JSONL, one problem per line"
    try:
        with open(path, encoding="utf-8") as f:  # read as it goes: a release's files are hundreds of MB
            for number, row in json_lines(f, path, what):
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: a JSON {type(row).__name__}, not a problem object")
                yield row
    except UnicodeDecodeError:  # the decoder's own words named neither the file nor the line
        raise not_utf8(path, what + ", in UTF-8") from None


def source_files(source: str | Path, release: str | None) -> list[Path]:
    """A file, or a folder of test*.jsonl / *.parquet (for a folder, `release` picks test.jsonl..testN.jsonl)."""
    path = Path(source)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"LiveCodeBench data {source} not found: give a code_generation_lite JSONL/Parquet "
                                "file or the folder holding test.jsonl ... test6.jsonl")
    files = sorted(path.glob("test*.jsonl"))
    if release and files:
        if release not in RELEASE_FILES:
            raise ValueError(f"unknown LCB release {release!r}; one of {sorted(RELEASE_FILES)}")
        keep = {"test.jsonl"} | {f"test{i}.jsonl" for i in range(2, RELEASE_FILES[release] + 1)}
        files = [f for f in files if f.name in keep]
    files = files or sorted(path.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{path} holds no test*.jsonl or *.parquet files")
    return files


def _cache_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def load_problems(source: str | Path, release: str | None = None, cache_dir: str | Path | None = None
                  ) -> tuple[list[LCBProblem], list[dict]]:
    """All problems of the source files, and the rows that failed to parse ({"question_id", "reason"})."""
    problems, failed = [], []
    for path in source_files(source, release):
        cached = Path(cache_dir) / f"{path.stem}-{_cache_key(path)}.jsonl" if cache_dir else None
        if cached and cached.exists():
            with open(cached, encoding="utf-8") as f:
                for line in f:
                    item = json.loads(line)
                    (failed if "reason" in item else problems).append(
                        item if "reason" in item else LCBProblem.from_json(item))
            continue
        decoded = []
        for row in _read_rows(path):
            try:
                problem = parse_row(row)
                problems.append(problem)
                decoded.append(problem.to_json())
            except (ValueError, KeyError, TypeError, pickle.UnpicklingError, zlib.error) as e:
                item = {"question_id": str(row.get("question_id", "?")), "reason": f"{type(e).__name__}: {e}"}
                failed.append(item)
                decoded.append(item)
        if cached:  # a temporary name of this process's: evals sharing --lcb-cache raced on one `.tmp`
            write_text_atomic(cached, "".join(json.dumps(d) + "\n" for d in decoded))
    return problems, failed


def in_window(problem: LCBProblem, start: str | None, end: str | None) -> bool:
    """Inclusive window on contest_date, compared with midnight datetimes as upstream does."""
    date = problem.contest_date.replace(tzinfo=None)
    if start and date < datetime.fromisoformat(start):
        return False
    if end and date > datetime.fromisoformat(end):
        return False
    return True
