"""Model backends behind one interface: `backend.generate(requests) -> completions`.

TARGET forms (see `load_backend`):
  <folder>            an axk1 model folder (HF layout), run with axk1's own generate()
  hf:<path-or-id>     transformers AutoModelForCausalLM + AutoTokenizer
  openai:<base-url>   any OpenAI-compatible server (vLLM, SGLang, `axk1 serve`), e.g. openai:http://host:8000/v1
"""

from __future__ import annotations

import http.client
import json
import math
import os
import queue
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from axk1.api_key import CLIENT_KEY_ENV, read_api_key
from axk1.device import resolve_device
from axk1.eval.chat import ChatPrompt, render
from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN


def _run_daemon_pool(work, items: list, workers: int, done=None) -> list:
    """`[work(x) for x in items]`, `workers` at a time, on daemon threads, `done(i, result)` called as each comes
    back: a stop (every request rejected: the
    ValueError of one item) or Ctrl-C returns at once instead of waiting for the requests in flight, which a thread
    pool joins, at its shutdown and again at interpreter exit (up to --request-timeout, an hour by default)."""
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


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0  # 0 = off
    max_tokens: int = 32768
    thinking: bool | None = None  # None: the model's default

    def __post_init__(self):
        # `not temperature >= 0`: NaN fails every comparison, so `< 0` let it through (and into the JSON body)
        if not (0 <= self.temperature < math.inf) or not 0 < self.top_p <= 1 or self.top_k < 0 or self.max_tokens < 1:
            raise ValueError(f"bad sampling settings {self}: need a finite temperature >= 0, 0 < top_p <= 1, "
                             "top_k >= 0, max_tokens >= 1")


@dataclass
class Request:
    messages: list[dict]
    seed: int = 0


@dataclass
class Completion:
    text: str  # raw output; reasoning a server returned separately is put back as <think>...</think>
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    think_open: bool = False  # the prompt opened a think block that the raw text continues
    n_tokens: int | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Backend:
    name = "backend"

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        """The requests' completions, in order; `done(i, completion)`, if given, is called as each arrives (a
        backend that answers a batch at once may leave it uncalled: the caller keeps the returned list)."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"backend": self.name}


# ---- native axk1 ---------------------------------------------------------------------------------------------
class NativeBackend(Backend):
    """An axk1 model folder: config.json + safetensors + tokenizer.json (+ tokenizer_config.json chat template)."""

    name = "axk1"

    def __init__(self, model_dir: str | Path, batch_size: int = 8, dtype: str | None = None, device: str = "cpu"):
        from axk1.checkpoint.hf import load_model
        from axk1.config import DTYPES, model_config_file
        from axk1.infer.chat import ChatCodec
        from axk1.infer.generation_config import reply_stop_ids

        self.model_dir = Path(model_dir)
        model_config_file(self.model_dir, also=", hf:<path-or-id> or openai:<base-url>")
        if not (self.model_dir / "tokenizer.json").exists():
            raise FileNotFoundError(f"{self.model_dir} has no tokenizer.json: evaluation needs text in and out; "
                                    "add the tokenizer the model was trained with")
        # the prompts `axk1 serve`, SFT and RL build from the folder (its tokenizer and template, read as they read
        # them), read before the weights: a bad tokenizer or template is named at once
        self.codec = ChatCodec.from_folder(self.model_dir)
        self.tokenizer = self.codec.tokenizer
        self.model = load_model(self.model_dir, dtype=DTYPES[dtype] if dtype else None, device=device).eval()
        self.batch_size = batch_size
        self.stop_ids = reply_stop_ids(self.model_dir, self.model.config.eos_token_ids, self.model.config.vocab_size,
                                       self.codec.turn_end)

    def prompt(self, messages: list[dict], thinking: bool | None) -> ChatPrompt:
        return render(self.codec, messages, thinking)

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        from axk1.infer.generate import generate

        context = self.model.config.max_position_embeddings
        out: list[Completion] = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            prompts = [self.prompt(r.messages, sampling.thinking) for r in batch]
            ids = [self.tokenizer.encode(p.text, add_special_tokens=False).ids for p in prompts]
            too_long = [len(x) >= context for x in ids]
            runnable = [i for i, bad in enumerate(too_long) if not bad]
            results: dict[int, Completion] = {
                i: Completion("", "error", prompts[i].think_open, 0, f"prompt has {len(ids[i])} tokens; the model's "
                              f"context is {context}") for i, bad in enumerate(too_long) if bad}
            # each prompt's own budget (--max-tokens within the room its context leaves), one generate per budget:
            # one budget for the batch, the longest prompt's, cut the others' replies short ("length", graded
            # truncated) when a long passkey prompt shared their batch
            by_budget: dict[int, list[int]] = {}
            for i in runnable:
                by_budget.setdefault(min(sampling.max_tokens, context - len(ids[i])), []).append(i)
            for budget, rows in by_budget.items():
                gen = generate(self.model, [ids[i] for i in rows], max_new_tokens=budget,
                               temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                               stop_ids=self.stop_ids, seed=batch[rows[0]].seed)
                for j, i in enumerate(rows):
                    tokens = gen.tokens[j]
                    text = self.tokenizer.decode(tokens, skip_special_tokens=False)
                    results[i] = Completion(text, gen.finish_reasons[j], prompts[i].think_open, len(tokens))
            out.extend(results[i] for i in range(len(batch)))
        return out

    def describe(self) -> dict:
        return {"backend": self.name, "model": str(self.model_dir), "device": str(self.model.lm_head.weight.device),
                "chat_template": self.codec.template_source}


# ---- transformers --------------------------------------------------------------------------------------------
class HFBackend(Backend):
    """`hf:<path-or-id>`: transformers' generate(); the hub is used only when the id is not a local folder."""

    name = "hf"

    def __init__(self, model_id: str, dtype: str | None = None, device: str = "cpu"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id = model_id
        self.tokenizer = AutoTokenizer.from_pretrained(model_id)
        kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
        self.model = AutoModelForCausalLM.from_pretrained(model_id, **kwargs).to(device).eval()

    def prompt(self, messages: list[dict], thinking: bool | None) -> ChatPrompt:
        from axk1.eval.chat import apply_thinking, default_template, thinking_kwargs

        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                                      **thinking_kwargs(thinking))
            source = "transformers"
        else:
            text, source = default_template(messages, thinking), "axk1's default"
        text, think_open = apply_thinking(text, thinking)
        return ChatPrompt(text, think_open, source)

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        import torch

        out = []
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        for request in requests:
            prompt = self.prompt(request.messages, sampling.thinking)
            ids = self.tokenizer(prompt.text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(
                self.model.device)
            torch.manual_seed(request.seed)
            sample = sampling.temperature > 0
            kwargs = dict(do_sample=sample, max_new_tokens=sampling.max_tokens, pad_token_id=next(iter(eos_ids), 0))
            if sample:
                kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
            with torch.no_grad():
                full = self.model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)[0, ids.shape[1]:]
            tokens = full.tolist()
            stopped = bool(tokens) and tokens[-1] in eos_ids
            if stopped:
                tokens = tokens[:-1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=False)
            out.append(Completion(text, "stop" if stopped or len(full) < sampling.max_tokens else "length",
                                  prompt.think_open, len(tokens)))
        return out

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "device": str(self.model.device)}


# ---- OpenAI-compatible HTTP ------------------------------------------------------------------------------------
REJECT_STOP = 3  # 4xx replies before any success that stop a run (see OpenAIBackend.__post_init__)
# A 4xx about this request's own length (vLLM's and axk1 serve's "maximum context length is N tokens", OpenAI's
# context_length_exceeded): the sample's failure, never evidence of a wrong URL, key or model. Counted toward
# REJECT_STOP it ended a passkey run whose longest lengths came first.
REQUEST_TOO_LONG = re.compile(r"context length|context_length_exceeded|maximum context|too long|prompt has \d", re.I)


class BadReply(ValueError):
    """A reply that is not a chat completion: fails its sample with this reason."""


def _text(value, name: str) -> str | None:
    """A message field as text: a string, None, or OpenAI's list of {"type": "text", "text": ...} parts."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    raise BadReply(f"message {name} is {type(value).__name__}, not text: {str(value)[:200]}")


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
        if not self.timeout_s > 0:
            raise ValueError(f"request timeout must be > 0 seconds, got {self.timeout_s}")
        # A 4xx says our request is wrong. While no request has succeeded it likely says that of every request (wrong
        # model name, key or URL path): REJECT_STOP of them then stop the run. After a success it is about one
        # request (a prompt longer than the context), so only that sample fails.
        self._lock = threading.Lock()
        self._succeeded = self._rejected = 0
        self.base_url = self.base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"openai backend needs an http(s) base URL such as http://127.0.0.1:8000/v1, "
                             f"got {self.base_url!r}")
        if self.model is None:
            self.model = self._first_model()

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=timeout or self.timeout_s) as resp:
            return json.loads(resp.read())

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

    def body(self, request: Request, sampling: Sampling) -> dict:
        body = {"model": self.model, "messages": request.messages, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "max_tokens": sampling.max_tokens, "seed": request.seed, "n": 1}
        if sampling.top_k:
            body["top_k"] = sampling.top_k  # vLLM / SGLang extension
        if sampling.thinking is not None:
            body["chat_template_kwargs"] = {"enable_thinking": sampling.thinking}
        body.update(self.extra_body)
        return body

    def _one(self, request: Request, sampling: Sampling) -> Completion:
        error = ""
        for attempt in range(self.retries + 1):
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
                error = f"HTTP {e.code}: {detail}"
            except (TimeoutError, socket.timeout) as e:
                return Completion("", "error", False, None, f"no reply within {self.timeout_s:g} s ({e}); raise "
                                  "--request-timeout for long generations")
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError, RecursionError,
                    BadReply) as e:  # a cut body (IncompleteRead), a garbled status line, bytes that are not UTF-8
                # or JSON (ValueError: JSONDecodeError, UnicodeDecodeError), JSON nested past the stack: this
                # sample's failure, retried, never the whole run's
                error = f"{type(e).__name__}: {str(e)[:300]}"
            if attempt < self.retries:
                time.sleep(min(2.0 ** attempt, 30.0))
        return Completion("", "error", False, None, f"request failed after {self.retries + 1} tries: {error}")

    def _rejected_reply(self, code: int, detail: str) -> Completion:
        if REQUEST_TOO_LONG.search(detail):
            return Completion("", "error", False, None, f"rejected by the server (HTTP {code}): {detail}")
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
        content = _text(message.get("content"), "content")
        reasoning = message.get("reasoning_content")
        reasoning = _text(reasoning if reasoning is not None else message.get("reasoning"), "reasoning_content")
        if reasoning is not None:
            # The server separated the reasoning (even an empty one): content None = the reply never left its think
            # block (vLLM, axk1 serve). The text carries its own tags, so nothing is left open.
            closed = content is not None
            text = f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{content}" if closed else f"{THINK_OPEN}{reasoning}"
            think_open = False
        else:
            text = content or ""
        finish = choice.get("finish_reason") or "stop"
        usage = reply.get("usage")
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return Completion(text, "length" if finish == "length" else "stop", think_open,
                          tokens if type(tokens) is int else None)

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        return _run_daemon_pool(lambda r: self._one(r, sampling), requests, self.concurrency, done)

    def describe(self) -> dict:
        return {"backend": self.name, "base_url": self.base_url, "model": self.model, "concurrency": self.concurrency,
                "extra_body": self.extra_body}


def load_backend(target: str, served_model: str | None = None, api_key_env: str = CLIENT_KEY_ENV,
                 concurrency: int = OpenAIBackend.concurrency, dtype: str | None = None,
                 extra_body: dict | None = None, device: str = "auto",
                 request_timeout_s: float = OpenAIBackend.timeout_s) -> Backend:
    """Build the backend a TARGET string names (see the module docstring). `device`: where a local model (a folder
    or hf:) runs: auto (CUDA when torch sees a GPU), cpu or cuda."""
    if target.startswith("openai:"):
        return OpenAIBackend(target[len("openai:"):], model=served_model or os.environ.get("AXK1_EVAL_MODEL"),
                             api_key=read_api_key(api_key_env, CLIENT_KEY_ENV), concurrency=concurrency,
                             timeout_s=request_timeout_s, extra_body=extra_body or {})
    device = resolve_device(device, "--device")  # a local model from here on
    if target.startswith("hf:"):
        return HFBackend(target[len("hf:"):], dtype=dtype, device=device)
    return NativeBackend(Path(target), dtype=dtype, device=device)
