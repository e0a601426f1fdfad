"""Completions kept as they arrive, so an evaluation cut short (a crash, Ctrl-C, a lost server) goes on where it
stopped: `axk1 eval` run again with the same settings into the same folder asks only for what is missing.

DIR/completions.jsonl gets one line per completion, each under a key of everything that decides it (the backend's
description, the sampling settings, the messages, the request's seed), written as it arrives.
A failed request is not kept (the next run asks again). A kill or a full disk can leave the last line cut short:
the next run cuts that fragment (a last line with no newline after it that is not JSON: json_text's rule) off
before it appends (the old one appended its first new completion to the fragment, so that completion was unreadable
and asked for again by every later run), and every append starts on a line of its own. Any other line that does not
load (not JSON, or a row this version cannot read, such as a newer axk1's) is skipped and counted, and left in the
file. Samples, scores and the report are written from the whole set at the end, as before.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from axk1.eval.backends import Completion, Request, Sampling
from axk1.json_text import JsonError, TornLine, json_digest, jsonl_values

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
        for _, offset, row in jsonl_values(data):
            if isinstance(row, TornLine):  # the line a kill or a full disk cut short: cut off, so no append joins it
                self.torn_bytes = len(data) - offset
                os.truncate(self.path, offset)
            elif isinstance(row, JsonError) or not self._keep(row):  # a whole line (a newer axk1's row): never deleted
                self.skipped += 1

    def _keep(self, row) -> bool:
        try:
            self.kept[row["key"]] = Completion(**row["completion"])
        except (KeyError, TypeError, ValueError):  # JSON that is not a row of this version's
            return False
        return True

    def key(self, request: Request, sampling: Sampling) -> str:
        spec = [self.backend, asdict(sampling), request.messages, request.seed]
        return json_digest(spec, ensure_ascii=True)  # the bytes the cache's keys were always taken over

    def get(self, request: Request, sampling: Sampling) -> Completion | None:
        found = self.kept.get(self.key(request, sampling))
        self.reused += found is not None
        return found

    def add(self, request: Request, completion: Completion, sampling: Sampling) -> None:
        if completion.error:  # asked again by the next run
            return
        line = json.dumps({"key": self.key(request, sampling), "completion": asdict(completion)}, ensure_ascii=False)
        try:
            with open(self.path, "a+b") as f:
                size = f.seek(0, os.SEEK_END)
                if size:  # an append that failed half-way (a full disk) left a fragment: this line starts on its own
                    f.seek(size - 1)
                    line = ("" if f.read(1) == b"\n" else "\n") + line
                f.write((line + "\n").encode("utf-8"))
        except OSError as e:  # a full disk said "[Errno 28] No space left on device" and named no file
            raise OSError(f"cannot append to {self.path} ({e.strerror or e}): the completions it holds are kept; "
                          "make room (or fix the folder) and run the same command again to go on") from None
