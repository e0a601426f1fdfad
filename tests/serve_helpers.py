"""Shared by the serving and synthetic-data tests: a tiny model folder with a real tokenizer and chat template,
and a real `axk1 serve` process on a loopback port the OS picks (--port 0: a port picked free here and bound later by
the server could be taken in between by another xdist worker's server)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import torch

import axk1
from axk1.text.tokenizer_file import write_tokenizer_files
from axk1.text.tokenizer_file import TEXT_TAGS
from tests.warm_ranks import WarmPopen

ROOT = Path(__file__).resolve().parents[1]
CORPUS = [
    "The capital of Korea is Seoul. Seoul is a large city on the Han river.",
    "대한민국의 수도는 서울특별시입니다. 서울은 한강 옆의 큰 도시입니다.",
    "Two plus two is four. The sum of the angles of a triangle is 180 degrees.",
    "def add(a, b):\n    return a + b\n",
] * 4

SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_end|>", "<|im_start|>"]  # the test tokenizer's control tokens


def train_tokenizer(vocab_size: int):
    """A byte-level BPE on a few sentences, with the chat special tokens at ids 0-3 (pad, bos, eos = <|im_end|>,
    <|im_start|>) so they line up with axk1-tiny's pad/bos/eos ids 0/1/2."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TEXT_TAGS])
    assert tokenizer.get_vocab_size() <= vocab_size
    return tokenizer


def yarn_extended(config: axk1.ModelConfig, factor: float = 4.0) -> axk1.ModelConfig:
    """The config with YaRN over its context, as the released A.X K1 config sets it (4x: 32K -> 128K)."""
    original = config.max_position_embeddings
    return config.replace(max_position_embeddings=int(original * factor), rope_scaling={
        "type": "yarn", "factor": factor, "original_max_position_embeddings": original, "beta_fast": 32.0,
        "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0})


def make_model_folder(path: Path, with_tokenizer: bool = True, config: axk1.ModelConfig | None = None) -> Path:
    config = config or axk1.ModelConfig.from_preset("axk1-tiny")
    torch.manual_seed(0)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(config), path)
    if with_tokenizer:
        write_tokenizer_files(path, train_tokenizer(config.vocab_size).to_str(),
                              model_max_length=config.max_position_embeddings)
    return path


def make_token_likely(folder: Path, token: str, logit: float, messages: list[dict]) -> None:
    """Make `token` likely wherever the folder's random model is (a logit of about `logit` over the others' ~0: 3 is
    ~15% a token): its output row along the mean of the hidden states the lm_head reads, measured over a reply
    sampled after `messages`. How a test gets a random model to write a tag (`</think>`, `<tool_call>`)."""
    from axk1.checkpoint.hf import load_model
    from axk1.infer.chat import ChatCodec

    codec = ChatCodec.from_folder(folder)
    model = load_model(folder)
    hidden = []
    hook = model.lm_head.register_forward_hook(lambda mod, args, out: hidden.append(args[0][0]))
    ids = torch.tensor([codec.encode(codec.render(messages), add_special_tokens=False)])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(40):
            probs = model(ids)[0, -1].float().softmax(-1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=g)[None]], 1)
        hook.remove()
        mean = hidden[-1].mean(0)
        model.lm_head.weight[codec.token_id(token)] = logit * mean / mean.norm() ** 2
    axk1.save_pretrained(model, folder)


def weight_folders(tmp: Path) -> tuple[Path, Path, Path]:
    """(base, other, wider): a served folder, one of the same architecture with other weights, and one of another
    architecture: what weight updates are tested with."""
    base = make_model_folder(tmp / "base")
    other = tmp / "other"
    torch.manual_seed(1)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")), other)
    wider = make_model_folder(tmp / "wider", config=axk1.ModelConfig.from_preset("axk1-tiny").replace(
        moe_intermediate_size=24))
    return base, other, wider


def post_json(url: str, body: dict, headers: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
    """(status, decoded JSON) of a JSON POST; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@contextlib.contextmanager
def app_server(app, stop_s: float = 15):
    """An ASGI app served by uvicorn in a thread on a port the OS picks (a fake teacher, a scripted OpenAI server):
    yields the port, stops the server on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        if not server.started:
            raise RuntimeError("the test's uvicorn server did not start within 20 s")
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=stop_s)


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet http.server handler whose `_send` answers JSON (scripted OpenAI-compatible servers in tests)."""

    def log_message(self, *args):
        pass

    def _send(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ServerProcess:
    """`axk1 serve` in a child process; stopped (and waited for) on exit."""

    def __init__(self, model_dir: Path, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None,
                 nohup: bool = False) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
        fd, log = tempfile.mkstemp(prefix="axk1-serve-", suffix=".log")
        os.close(fd)
        self.log = Path(log)
        self.port_file = self.log.with_suffix(".port")  # the port the OS chose, written once the server listens
        # forked from the warm server (tests/warm_ranks.py: torch imported once a worker, not per server), with the
        # signal dispositions a terminal gives, or `nohup`'s (SIGHUP ignored): a suite run as a background job
        # (`make test &`, nohup) ignores SIGINT and SIGHUP, which a child inherits and keeps, so the Ctrl-C test's
        # server re-raised an ignored SIGINT and exited 0, and the SIGHUP test's ignored its signal
        self.proc = WarmPopen(["serve", str(model_dir), "--port", "0", "--port-file", str(self.port_file), "--threads",
                               "1", "--log-level", "warning", *args], env, self.log, nohup=nohup)
        deadline = time.monotonic() + timeout
        self.port = 0
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"axk1 serve exited with {self.proc.returncode}:\n{self.proc.stdout.read()}")
            if not self.port and self.port_file.exists():  # (written whole: never half a number)
                self.port = int(self.port_file.read_text())
            if self.port and self._healthy():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"axk1 serve did not answer /health within {timeout} s")
            time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.base + "/metrics", timeout=5) as r:
            text = r.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)  # the open self.proc.stdout still reads it
        self.port_file.unlink(missing_ok=True)  # (the server removes it, unless it was killed)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
