"""A scripted OpenAI-compatible server for `axk1 eval` tests (a standard-library HTTP server in a thread whose
replies each test chooses), and the small helpers those tests share: run the CLI, write an AIME file, read the
samples back."""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

from axk1.eval.cli import add_eval_parser
from tests.serve_helpers import JsonHandler

OK = {"choices": [{"message": {"role": "assistant", "content": "\\boxed{70}"}, "finish_reason": "stop"}]}


class FakeChatServer(JsonHandler):
    """`route(prompt) -> (status, body, delay_s)` or `(status, body, delay_s, headers)` decides each reply (a body
    of bytes is sent as it is, with the Content-Type the headers give); `calls` counts chat requests, `bodies` keeps
    the request bodies as received and `times` when each arrived (time.monotonic())."""

    route = staticmethod(lambda prompt: (200, OK, 0))
    models = {"data": [{"id": "m"}]}
    calls = 0
    bodies: list = []
    times: list = []
    stopping = threading.Event()  # set when the test's server closes: a delayed reply stops waiting

    def do_GET(self):
        self._send(200, self.models)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.endswith("/chat/completions"):  # /tokenize (vLLM's) is not OpenAI's: a 404, as there
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        type(self).calls += 1
        type(self).bodies.append(body)
        type(self).times.append(time.monotonic())
        status, reply, delay, *headers = self.route(body["messages"][-1]["content"])
        if self.stopping.wait(delay):
            return  # the test is over; its client is gone
        try:
            self._send_with(status, reply, headers[0] if headers else {})
        except OSError:  # the client gave up (timeout tests)
            pass

    def _send_with(self, status: int, body, headers: dict) -> None:
        if not headers and not isinstance(body, bytes):
            return self._send(status, body)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _JoinedServer(ThreadingHTTPServer):
    """Closing joins every handler thread, so none outlives its test: a thread left sleeping once woke during a
    later test, met the pipe its client had closed, and socketserver printed that traceback into the later test's
    captured stderr."""

    daemon_threads = False
    # `axk1 eval` opens up to --concurrency (64) connections at once; socketserver's listen backlog of 5 dropped the
    # SYNs beyond it, which the client's kernel sent again only after a second: every 64 requests took ~1 s
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # a client that gave up breaks the reply's pipe (the timeout tests); not this server's failure


@contextmanager
def fake_server(base: type[FakeChatServer] = FakeChatServer):
    """(base URL, handler class) of a fresh server whose class attributes the test may set."""
    class Handler(base):
        calls = 0
        bodies: list = []
        times: list = []
        stopping = threading.Event()

    httpd = _JoinedServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", Handler
    finally:
        Handler.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def run_eval_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


def aime_file(path, n=3) -> str:
    rows = [{"id": f"p{i}", "problem": f"Problem {i}: find x.", "answer": "70"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def aime_key_file(path) -> str:
    """30 problems whose answers are AIME 2025's (a run on them may be set beside the published numbers), each
    statement saying its answer for `answer_reply`."""
    from axk1.eval.tasks.aime_check import ANSWER_KEY

    answers = [a for paper in ("I", "II") for a in ANSWER_KEY[paper]]
    rows = [{"id": f"p{i}", "problem": f"Problem {i}: find x, which is {a}.", "answer": str(a)}
            for i, a in enumerate(answers)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def answer_reply(prompt: str) -> dict:
    """A reply boxing the answer an aime_key_file statement gives."""
    answer = re.search(r"which is (\d+)", prompt).group(1)
    return {"choices": [{"message": {"role": "assistant", "content": f"\\boxed{{{answer}}}"}, "finish_reason": "stop"}]}


def sample_records(out) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
