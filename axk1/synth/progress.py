"""The teacher requests' progress on stderr: a tqdm bar on a terminal; elsewhere (a log file, a pipe) a plain line
at each tenth of the requests, the rule training's progress follows (axk1/train/callbacks.py, ProgressBar): the bar's
carriage-return frames piled up in a log as one endless line."""

from __future__ import annotations

import sys

LINES = 10  # lines a run writes where stderr is no terminal (and one for the last request)


class Progress:
    def __init__(self, total: int, wanted: bool, desc: str = "teacher") -> None:
        from tqdm import tqdm

        self.total, self.done, self.desc = total, 0, desc
        self.lines = wanted and not sys.stderr.isatty()
        self.every = max(1, -(-total // LINES))
        self.bar = tqdm(total=total, desc=desc, unit="req", disable=not wanted or self.lines)

    def update(self) -> None:
        self.done += 1
        if not self.lines:
            self.bar.update()
        elif self.done % self.every == 0 or self.done == self.total:
            print(f"{self.desc}: {self.done}/{self.total} requests answered", file=sys.stderr, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
