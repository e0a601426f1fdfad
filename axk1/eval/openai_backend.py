"""The backend for any OpenAI-compatible server (vLLM, SGLang, `axk1 serve`): one POST to /chat/completions per
sample, `concurrency` at a time on daemon threads, with retries, and a stop when the server rejects every request
(a wrong model name, key or URL).
"""

from __future__ import annotations

import http.client
import json
import queue
import re
import socket
import threading
import sys
import urllib.error
from dataclasses import dataclass, field

from axk1.http_json import EventStreamReply, request_json
from axk1.json_text import reply_text
from axk1.eval.backends import TOO_LONG, Backend, Completion, Request, Sampling
from axk1.eval.retries import RATE_LIMIT_RETRIES, RETRY_AFTER_CAP_S, TOTAL_WAIT_S, Tries
from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN

REJECT_STOP = 3  # 4xx replies before any success that stop a run (see OpenAIBackend.__post_init__)
# A 4xx about this request's own length (vLLM's and axk1 serve's "maximum context length is N tokens", OpenAI's
# context_length_exceeded): the sample's failure, never evidence of a wrong URL, key or model. Counted toward
# REJECT_STOP it ended a passkey run whose longest lengths came first.
REQUEST_TOO_LONG = re.compile(r"context length|context_length_exceeded|maximum context|too long|prompt has \d", re.I)

# Request fields axk1 sets itself, and where each comes from. Set again in --extra-body they would replace axk1's
# values unseen (config.json and report.md describing a request never sent; one seed for every sample collapsing
# n samples into one), so they are refused there, naming the way to set them.
OWN_FIELDS = {"model": "use --served-model", "messages": "the task writes the prompt", "n": "use -n",
              "seed": "use --seed (sample i gets seed + i)", "temperature": "use --temperature",
              "top_p": "use --top-p", "top_k": "use --top-k", "max_tokens": "use --max-tokens",
              "max_completion_tokens": "use --max-tokens", "stream": "replies are read whole",
              "stream_options": "replies are read whole"}

# finish_reason values of a reply the server cut off (vLLM and SGLang: "abort"): not the model's answer. Any other
# value is recorded as sent ("stop", "length", "tool_calls", "content_filter", ...).
ABORTED = ("abort", "error")


class BadReply(ValueError):
    """A reply that is not a chat completion: fails its sample with this reason."""


WHOSE = "the reply's message"  # how a refused message field is named (json_text.reply_text)


@dataclass
class OpenAIBackend(Backend):
    """POST {base_url}/chat/completions, one request per sample (request-level seeds), `concurrency` at a time."""

    base_url: str
    model: str | None = None
    api_key: str | None = None
    concurrency: int = 8
    timeout_s: float = 3600.0  # one reply; a reply that times out is not retried (it would time out again)
    retries: int = 3
    extra_body: dict = field(default_factory=dict)
    name: str = "openai"

    def __post_init__(self):
        if not isinstance(self.extra_body, dict):
            raise ValueError(f"extra body must be a JSON object such as {{\"top_k\": 20}}, got {self.extra_body!r}")
        check_extra_body(self.extra_body)
        if not self.timeout_s > 0:
            raise ValueError(f"request timeout must be > 0 seconds, got {self.timeout_s}")
        # A 4xx says our request is wrong. While no request has succeeded it likely says that of every request (wrong
        # model name, key or URL path): REJECT_STOP of them then stop the run. After a success it is about one
        # request (a prompt longer than the context), so only that sample fails.
        self._lock = threading.Lock()
        self._succeeded = self._rejected = 0
        self._said: set[str] = set()  # rate limiting and the Retry-After cap are each said once a run
        self.base_url = self.base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"openai backend needs an http(s) base URL such as http://127.0.0.1:8000/v1, "
                             f"got {self.base_url!r}")
        if self.model is None:
            self.model = self._first_model()
        self._tokenize_works: bool | None = None  # vLLM's /tokenize: unknown until asked
        self._context: int | None = None  # the served context, from /tokenize's or /models' max_model_len

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        return request_json(method, self.base_url + path, body, self.api_key, timeout or self.timeout_s)

    def _first_model(self) -> str:
        try:
            reply = self._call("GET", "/models", timeout=30)
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as e:
            raise ValueError(f"could not list models at {self.base_url}/models ({e}); is the server up? Pass the "
                             "model name with --served-model") from e
        models = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(models, list):
            raise ValueError(f"{self.base_url}/models did not answer {{\"data\": [...]}} (got {str(reply)[:200]}); "
                             "pass the model name with --served-model")
        if not models:
            raise ValueError(f"{self.base_url}/models lists no model; pass --served-model")
        first = models[0]
        if not isinstance(first, dict) or not isinstance(first.get("id"), str):
            raise ValueError(f"{self.base_url}/models lists a model without an \"id\" ({str(first)[:200]}); pass the "
                             "model name with --served-model")
        return first["id"]

    def prompt_tokens(self, messages: list[dict], thinking: bool | None) -> int | None:
        """The prompt's tokens as the server counts them: vLLM's `POST /tokenize` (beside /v1, also `axk1 serve`'s)
        with the chat as a request sends it. None where the server has no such route (SGLang, OpenAI: a 404 or 405,
        or a whole reply without a count; then it is never asked again) or this count failed (a 5xx, a lost
        connection: retried as a chat request is; a timeout: not retried), and the caller falls back to an estimate."""
        if self._tokenize_works is False:
            return None
        body = {"model": self.model, "messages": messages}
        kwargs = dict(self.extra_body.get("chat_template_kwargs", {}))
        if thinking is not None:
            kwargs["enable_thinking"] = thinking
        if kwargs:
            body["chat_template_kwargs"] = kwargs
        root = self.base_url.removesuffix("/v1")
        tries = Tries(self.retries)
        while True:
            error = None
            try:
                reply = request_json("POST", root + "/tokenize", body, self.api_key, min(self.timeout_s, 120.0))
                break
            except urllib.error.HTTPError as e:
                if e.code in (404, 405):  # no such route: this server cannot count, now or later
                    self._tokenize_works = False
                if 400 <= e.code < 500 and e.code != 429:  # asked again, it is refused again
                    return None
                error = e
            except (TimeoutError, socket.timeout):  # it would time out again: not counted this time
                return None
            except (ValueError, RecursionError):  # a whole reply that is not JSON: not vLLM's /tokenize
                reply = None
                break
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                error = e  # a lost connection, a cut or garbled reply: asked again
            if not tries.again(error, self._note_wait):
                return None
        count = reply.get("count") if isinstance(reply, dict) else None
        self._tokenize_works = type(count) is int  # a route that answers without a count is not vLLM's /tokenize
        if not self._tokenize_works:
            return None
        if type(reply.get("max_model_len")) is int:
            self._context = reply["max_model_len"]
        return count

    def context_length(self) -> int | None:
        """The served context: /tokenize's max_model_len, else the model's entry in /models (vLLM and `axk1 serve`
        list it); None where the server says neither."""
        if self._context is None:
            try:
                models = self._call("GET", "/models", timeout=30).get("data")
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError, AttributeError):
                return None
            for card in models if isinstance(models, list) else []:
                if isinstance(card, dict) and card.get("id") == self.model and type(card.get("max_model_len")) is int:
                    self._context = card["max_model_len"]
        return self._context

    def body(self, request: Request, sampling: Sampling) -> dict:
        # "stream": false said, not implied: a server (or proxy) that streams by default sent an event stream,
        # which failed every sample as "JSONDecodeError: Expecting value"
        body = {"model": self.model, "messages": request.messages, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "max_tokens": sampling.max_tokens, "seed": request.seed, "n": 1,
                "stream": False}
        if sampling.top_k:
            body["top_k"] = sampling.top_k  # vLLM / SGLang extension
        body.update({k: v for k, v in self.extra_body.items() if k != "chat_template_kwargs"})
        kwargs = dict(self.extra_body.get("chat_template_kwargs", {}))  # merged: --thinking's switch stays
        if sampling.thinking is not None:
            kwargs["enable_thinking"] = sampling.thinking
        if kwargs:
            body["chat_template_kwargs"] = kwargs
        return body

    def _one(self, request: Request, sampling: Sampling) -> Completion:
        error = ""
        tries = Tries(self.retries)
        while True:
            failure: BaseException | None = None
            try:
                reply = self._call("POST", "/chat/completions", self.body(request, sampling))
                completion = self._parse(reply, sampling.thinking is True)
                with self._lock:
                    self._succeeded += 1
                return completion
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:500]
                if 400 <= e.code < 500 and e.code != 429:  # our request is wrong: retrying will not help
                    return self._rejected_reply(e.code, detail)
                error, failure = f"HTTP {e.code}: {detail}", e
            except (TimeoutError, socket.timeout) as e:
                return Completion("", "error", False, None, f"no reply within {self.timeout_s:g} s ({e}); raise "
                                  "--request-timeout for long generations")
            except EventStreamReply as e:  # the same request streams again: not retried
                return Completion("", "error", False, None, str(e))
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError, RecursionError,
                    BadReply) as e:  # a cut body (IncompleteRead), a garbled status line, bytes that are not UTF-8
                # or JSON (ValueError: JSONDecodeError, UnicodeDecodeError), JSON nested past the stack: this
                # sample's failure, retried, never the whole run's
                error, failure = f"{type(e).__name__}: {str(e)[:300]}", e
            if not tries.again(failure, self._note_wait):
                return Completion("", "error", False, None, f"request failed after {tries.spent()}: {error}")

    def _note_wait(self, delay: float, asked: float | None) -> None:
        """Say once a run that the server rate-limits (a run otherwise silent while its requests wait), and once
        that a Retry-After was cut to the cap (the wait is then shorter than the server asked)."""
        kind = "capped" if asked is not None else "limited"
        with self._lock:
            said = kind in self._said
            self._said.add(kind)
        if said:
            return
        if asked is not None:
            line = (f"{self.base_url} asked to wait {asked:g} s before retrying (Retry-After); waiting "
                    f"{RETRY_AFTER_CAP_S:g} s at most each time")
        else:
            line = f"{self.base_url} is rate limiting (HTTP 429); waiting {delay:g} s before retrying"
        print(f"axk1 eval: {line} (rate-limited requests are tried up to {RATE_LIMIT_RETRIES + 1} times, waiting "
              f"{TOTAL_WAIT_S:g} s in all at most)",
              file=sys.stderr, flush=True)

    def _rejected_reply(self, code: int, detail: str) -> Completion:
        if REQUEST_TOO_LONG.search(detail):  # the same request is refused every time: not retried, not unanswered
            return Completion("", TOO_LONG, False, None, f"rejected by the server (HTTP {code}): {detail}")
        with self._lock:
            self._rejected += 1
            stop = self._succeeded == 0 and self._rejected >= REJECT_STOP
        if stop:
            raise ValueError(f"{self.base_url} rejected the first {REJECT_STOP} requests (HTTP {code}): {detail}. "
                             "Check --served-model, the API key (--api-key-env) and the URL")
        return Completion("", "error", False, None, f"rejected by the server (HTTP {code}): {detail}")

    @staticmethod
    def _parse(reply, think_open: bool = False) -> Completion:
        """One chat completion into a Completion; BadReply names what is missing. `think_open`: the request put the
        model in think mode, so a reply whose reasoning the server did not separate starts inside the think block."""
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BadReply(f"a reply without choices[0]: {str(reply)[:200]}")
        choice = choices[0]
        message = choice.get("message") or {}
        if not isinstance(message, dict):
            raise BadReply(f"choices[0].message is not an object: {str(message)[:200]}")
        # json_text.reply_text, synth's rule too: only text parts, no lone surrogate (one failed this sample's line in
        # completions.jsonl, so the whole run, when written)
        content = reply_text(message.get("content"), "content", WHOSE, BadReply)
        reasoning = message.get("reasoning_content")
        reasoning = reply_text(reasoning if reasoning is not None else message.get("reasoning"), "reasoning_content",
                               WHOSE, BadReply)
        if reasoning is not None:
            # The server separated the reasoning (even an empty one): content None = the reply never left its think
            # block (vLLM, axk1 serve). The text carries its own tags, so nothing is left open.
            closed = content is not None
            text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content}" if closed else f"{THINK_OPEN}{reasoning}"
            think_open = False
        else:
            text = content or ""
        finish = reply_text(choice.get("finish_reason"), "finish_reason", "the reply's choice", BadReply) or "stop"
        if finish in ABORTED:  # a reply the server cut off is no answer of the model's: failed (and retried)
            raise BadReply(f"the server ended the reply early (finish_reason {finish!r}): {text[-200:]!r}")
        usage = reply.get("usage")
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return Completion(text, str(finish), think_open, tokens if type(tokens) is int else None)

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        return _run_daemon_pool(lambda r: self._one(r, sampling), requests, self.concurrency, done)

    def describe(self) -> dict:
        return {"backend": self.name, "base_url": self.base_url, "model": self.model, "extra_body": self.extra_body}

    def settings(self) -> dict:
        return {"concurrency": self.concurrency, "request_timeout_s": self.timeout_s, "retries": self.retries,
                "rate_limit_retries": RATE_LIMIT_RETRIES, "retry_after_cap_s": RETRY_AFTER_CAP_S,
                "total_wait_s": TOTAL_WAIT_S}


def check_extra_body(extra: dict) -> None:
    """Refuse an --extra-body that would override what axk1 sets and records itself."""
    taken = [f"{key!r} ({OWN_FIELDS[key]})" for key in extra if key in OWN_FIELDS]
    if taken:
        raise ValueError(f"--extra-body sets {', '.join(taken)}: axk1 sets these itself and records them in "
                         "config.json; leave them out of --extra-body")
    kwargs = extra.get("chat_template_kwargs", {})
    if not isinstance(kwargs, dict):
        raise ValueError(f"--extra-body's chat_template_kwargs must be a JSON object, got {kwargs!r}")
    if "enable_thinking" in kwargs:  # grading must know whether the reply starts inside a think block
        raise ValueError("--extra-body sets chat_template_kwargs.enable_thinking: use --thinking on|off instead")


def _run_daemon_pool(work, items: list, workers: int, done=None) -> list:
    """`[work(x) for x in items]`, `workers` at a time, on daemon threads, `done(i, result)` called as each comes
    back: a stop (every request rejected: the ValueError of one item) or Ctrl-C returns at once instead of waiting
    for the requests in flight, which a thread pool joins, at its shutdown and again at interpreter exit (up to
    --request-timeout, an hour by default)."""
    results: list = [None] * len(items)
    todo = queue.SimpleQueue()
    for i in range(len(items)):
        todo.put(i)
    finished = queue.SimpleQueue()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((i, work(items[i]), None))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
                finished.put((i, None, e))

    for _ in range(max(1, min(workers, len(items)))):
        threading.Thread(target=worker, daemon=True).start()
    try:
        for _ in range(len(items)):
            i, result, error = finished.get()
            if error is not None:
                raise error
            results[i] = result
            if done is not None:  # in the caller's thread, as each arrives
                done(i, result)
    finally:
        stop.set()  # the workers take no new item; the ones in flight are abandoned with their daemon threads
    return results
