"""Completions kept as they arrive, so an evaluation cut short (a crash, Ctrl-C, a lost server) goes on where it
stopped: `axk1 eval` run again with the same settings into the same folder asks only for what is missing.

DIR/completions.jsonl gets one line per completion, each under a key of everything that decides it (the backend's
description, the sampling settings, the messages, the request's seed), written as it arrives.
A failed request is not kept (the next run asks again). A kill or a full disk can leave the last line cut short:
the next run cuts that fragment off before it appends (the old one appended its first new completion to the
fragment, so that completion was unreadable and asked for again by every later run), and every append starts on a
line of its own. An unreadable line in the middle is skipped and counted. Samples, scores and the report are written
from the whole set at the end, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from axk1.eval.backends import Completion, Request, Sampling

FILE = "completions.jsonl"


class CompletionStore:
    def __init__(self, folder: str | Path, backend: dict) -> None:
        self.path, self.backend = Path(folder) / FILE, backend
        self.kept: dict[str, Completion] = {}
        self.torn_bytes = 0  # the size of the cut-short last line dropped at load (0: none)
        self.skipped = 0  # unreadable lines in the middle, left where they are
        if self.path.exists():
            self._load()
        self.reused = 0

    def _load(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")  # split at newlines only (the rows escape theirs): b"" after a final newline
        last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
        offset = 0  # where line i starts in the file
        for i, line in enumerate(lines):
            if line.strip() and not self._read(line):
                if i == last:  # the line a kill or a full disk cut short: cut it off, so no append joins it
                    self.torn_bytes = len(data) - offset
                    os.truncate(self.path, offset)
                else:
                    self.skipped += 1
            offset += len(line) + 1

    def _read(self, line: bytes) -> bool:
        try:
            row = json.loads(line.decode("utf-8", errors="replace"))
            self.kept[row["key"]] = Completion(**row["completion"])
        except (ValueError, KeyError, TypeError):
            return False
        return True

    def key(self, request: Request, sampling: Sampling) -> str:
        spec = [self.backend, asdict(sampling), request.messages, request.seed]
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, request: Request, sampling: Sampling) -> Completion | None:
        found = self.kept.get(self.key(request, sampling))
        self.reused += found is not None
        return found

    def add(self, request: Request, completion: Completion, sampling: Sampling) -> None:
        if completion.error:  # asked again by the next run
            return
        line = json.dumps({"key": self.key(request, sampling), "completion": asdict(completion)}, ensure_ascii=False)
        with open(self.path, "a+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size:  # an append that failed half-way (a full disk) left a fragment: this line starts on its own
                f.seek(size - 1)
                line = ("" if f.read(1) == b"\n" else "\n") + line
            f.write((line + "\n").encode("utf-8"))
