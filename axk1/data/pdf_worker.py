"""PDF extraction in a child process with a memory and a time limit.

A PDF is untrusted input, and PDFium inflates a compressed stream whole: a 4 MB file whose one content stream
inflates to 4 GiB took 5.3 GB of memory in-process, so a file of a few tens of MB would bring down the pipeline (and
whatever else shares the node). A file that never finishes would stall it for ever. So the pipeline and `axk1 data
pdf` extract each file in a worker process (one per reader task, reused from file to file) whose address space is
capped (`PdfConfig.max_memory_mb`, RLIMIT_AS, which OCR's tesseract inherits) and whose every file has a deadline
(`PdfConfig.timeout_s`). A file that breaks either fails with its reason (`pdf_memory_limit`, `pdf_timeout`,
`pdf_worker_died`); the worker is replaced and the run goes on with the next file.

The wire is one JSON line each way (a path in, a result or an error out), never pickle: the child parses hostile
bytes, so what it says is treated as data. Its stdout is kept for the wire alone (fd 1 is pointed at stderr, so a
library's stray print cannot corrupt it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from axk1.data.pdf import PdfConfig, PdfError, PdfResult, extract_pdf
from axk1.data.pdf_ocr import ocr_hook


class PdfWorker:
    """`extract(path)` as `extract_pdf(path, cfg)` does, run in a contained child process. Use as a context
    manager (or call `close()`); the child starts on the first file."""

    def __init__(self, cfg: PdfConfig | None = None):
        self.cfg = cfg or PdfConfig()
        # a missing tesseract that the config insists on stops the run here, not per file
        ocr_hook(self.cfg.ocr, self.cfg.ocr_lang, None)
        self._proc: subprocess.Popen | None = None
        self._tmp: str | None = None  # the child's TMPDIR (OCR's page images), removed with it

    def __enter__(self) -> PdfWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops the child with everything it started (its own process group: a timed-out file left tesseract
        running, re-parented to init) and removes its temporary folder (the page image tesseract was reading)."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            _kill_group(proc.pid)
            proc.wait()
            _kill_group(proc.pid)  # what it started and outlived it
            for stream in (proc.stdin, proc.stdout):
                stream.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def extract(self, path: str | Path) -> PdfResult:
        """The PDF's text, or PdfError with the reason (those of `extract_pdf`, and memory_limit, timeout,
        worker_died when the file broke the containment)."""
        path = Path(path)
        if not path.exists():
            raise PdfError("missing", str(path))
        proc = self._start()
        deadline = time.monotonic() + self.cfg.timeout_s
        # the child's OCR stops short of this (wall clock: the two processes share it), so it replies with the
        # pages it read instead of being killed with them
        request = {"path": str(path.resolve()), "deadline": time.time() + self.cfg.timeout_s}
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
            line = _read_line(proc.stdout.fileno(), deadline)
        except (BrokenPipeError, EOFError):
            line = None
        except TimeoutError:
            self.close()
            raise PdfError("timeout", f"not done within timeout_s = {self.cfg.timeout_s:g} s; "
                                      "[pdf] timeout_s or --timeout raises it") from None
        if line is None:  # the child died: PDFium aborts when an allocation fails under the limit
            code = proc.wait()
            self.close()
            if code in (-signal.SIGABRT, -signal.SIGKILL, -signal.SIGSEGV) or code == _MEMORY_EXIT:
                raise PdfError("memory_limit", f"the extractor went over max_memory_mb = {self.cfg.max_memory_mb} "
                                               f"and was stopped ({_exit_name(code)}); [pdf] max_memory_mb "
                                               "or --max-memory-mb raises it, unless the PDF draws without end "
                                               "(a Form XObject that draws itself ends here too)")
            raise PdfError("worker_died", f"the extractor process ended with {_exit_name(code)}")
        reply = json.loads(line)
        if "error" in reply:
            raise PdfError(reply["error"], reply.get("detail", ""))
        return PdfResult(**reply["result"])

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            cfg = json.dumps(dataclasses.asdict(self.cfg))
            # the child imports axk1 from where this process did, however that was set up (a Ray or Slurm task)
            self._tmp = tempfile.mkdtemp(prefix="axk1-pdf-")
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "TMPDIR": self._tmp}
            self._proc = subprocess.Popen([sys.executable, "-m", "axk1.data.pdf_worker", cfg], env=env,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          start_new_session=True)  # a process group to stop whole
        return self._proc


_MEMORY_EXIT = 75  # the child's exit code after a MemoryError


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_name(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _read_line(fd: int, deadline: float) -> bytes | None:
    """One line from fd by the deadline (TimeoutError), or None at end of file."""
    buf = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        buf += chunk
        if buf.endswith(b"\n"):
            return bytes(buf)


def _serve(cfg: PdfConfig) -> None:
    """The child's loop: a path a line in, a result a line out."""
    wire = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints (a library's warnings) go to stderr, not onto the wire
    limit = cfg.max_memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"result": dataclasses.asdict(extract_pdf(request["path"], cfg, deadline=request.get("deadline")))}
        except PdfError as e:
            reply = {"error": e.reason, "detail": e.detail}
        except MemoryError:
            sys.exit(_MEMORY_EXIT)
        except Exception as e:  # noqa: BLE001 - any other failure of the extractor fails this file, with its words
            reply = {"error": "extractor_error", "detail": f"{type(e).__name__}: {str(e)[:300]}"}
        wire.write(json.dumps(reply, ensure_ascii=False) + "\n")
        wire.flush()


if __name__ == "__main__":
    _serve(PdfConfig(**json.loads(sys.argv[1])))
