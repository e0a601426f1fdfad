"""Completions kept as they arrive, so an evaluation cut short (a crash, Ctrl-C, a lost server) goes on where it
stopped: `axk1 eval` run again with the same settings into the same folder asks only for what is missing.

DIR/completions.jsonl gets one line per completion, each under a key of everything that decides it (the backend's
description, the sampling settings, the messages, the request's seed), written as it arrives.
A failed request is not kept (the next run asks again); a line cut by the crash is skipped. Samples, scores and the
report are written from the whole set at the end, as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from axk1.eval.backends import Completion, Request, Sampling

FILE = "completions.jsonl"


class CompletionStore:
    def __init__(self, folder: str | Path, backend: dict) -> None:
        self.path, self.backend = Path(folder) / FILE, backend
        self.kept: dict[str, Completion] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    row = json.loads(line)
                    self.kept[row["key"]] = Completion(**row["completion"])
                except (ValueError, KeyError, TypeError):  # the line a crash cut short
                    continue
        self.reused = 0

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
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": self.key(request, sampling), "completion": asdict(completion)},
                               ensure_ascii=False) + "\n")
