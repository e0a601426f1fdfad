"""The client of math-verify's worker process (math_verify_worker.py): one long-lived process, shared by threads,
killed and restarted after a hang or a crash, so that no grade waits longer than its timeout."""

from __future__ import annotations

import atexit
import json
import select
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

WORKER = Path(__file__).with_name("math_verify_worker.py")


class MathVerifyWorker:
    """One long-lived math-verify process, shared by threads; restarted after a hang or a crash."""

    def __init__(self, timeout_s: float = 20.0):
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, bufsize=1)
        return self._proc

    def _ask(self, request: dict) -> dict | None:
        """The worker's reply to one request; None when it timed out or died (it is then restarted next time)."""
        with self._lock:
            proc = self._start()
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout_s)
            line = proc.stdout.readline() if ready else ""
            if not line:
                self.close()
                return None
            return json.loads(line)

    def grade(self, pred: str, gold: str) -> dict:
        reply = self._ask({"pred": pred, "gold": gold})
        if reply is None:
            return {"parsed": None, "value": None, "correct": False, "error": "math-verify timed out or died"}
        return reply

    def rational(self, text: str) -> Fraction | None:
        """The exact value of `text` (LaTeX, read as math-verify reads a gold answer) when it is a rational number
        (`2^{-2}` is 1/4, `\\sqrt{4}` is 2); None when it is not (`\\sqrt{2}`, `\\pi`, `x+1`), or is not read."""
        reply = self._ask({"rational": text})
        value = reply.get("rational") if reply else None
        try:
            return Fraction(value) if isinstance(value, str) else None
        except (ValueError, ZeroDivisionError):
            return None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


_worker: MathVerifyWorker | None = None


def math_verify_worker() -> MathVerifyWorker:
    global _worker
    if _worker is None:
        _worker = MathVerifyWorker()
    return _worker
