"""RL rollouts on a separate inference server: `[rl] server_url`.

At A.X K1's size no training rank can hold a whole replica to sample from (2 TB in fp32), so rollouts run where
serving runs: an OpenAI-compatible server on its own GPUs (`axk1 serve --enable-weight-updates`; another server needs
SGLang's weight-update route and vLLM's return_tokens_as_token_ids; docs/posttraining.md, "At scale"). Each
iteration:

1. publish: every training rank writes its own shards of the policy to a staging DCP folder (no gather), then the
   ranks export it together into a model folder, each writing its own run of the safetensors files
   (axk1/checkpoint/export.py), and the staging folder goes; the main rank asks the server to load the model folder
   (`POST /update_weights_from_disk`, retried while the server is busy with other clients' requests) and deletes
   the folders this run pushed before it (each holds a marker naming its run: a shared weights_dir loses nothing
   of another's);
2. sample: the main rank sends each prompt's token ids with `n` = group size to `/v1/completions`, asking for the
   completions' token ids (`logprobs: 0` with `return_tokens_as_token_ids`, as vLLM spells it), several prompts at
   a time; prompt j's choice i samples with seed + j·G + i, so a rollout is a function of the seed and the weights.
   Every reply must carry the weights version the update answered (axk1 serve's `system_fingerprint`): a sample
   from weights another client pushed in between is an error, not an off-policy rollout.

The samples then go through rl_rollout.py's rewards and dynamic sampling and rl_update.py's update exactly as
local rollouts do.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from axk1.api_key import SERVER_KEY_ENV
from axk1.http_json import request_json
from axk1.checkpoint.dcp import save_checkpoint, step_dir
from axk1.checkpoint.export import export_checkpoint
from axk1.infer.generate import GenerationResult

UPDATE_ROUTE = "/update_weights_from_disk"
MARKER = ".axk1-rollout-run"  # in each pushed folder: the run that wrote it
BUSY_RETRY_S = 2.0  # between tries of an update the server refuses while it serves other requests


class RolloutServerError(ConnectionError):
    """The rollout server refused or failed a request: its message, what was asked, and what to do (an OSError, so
    the command line prints it as one line)."""


class RolloutServer:
    def __init__(self, url: str, weights_dir: str | Path, run: str, model: str = "", api_key: str | None = None,
                 key_env: str = SERVER_KEY_ENV, concurrency: int = 8, timeout_s: float = 3600.0,
                 is_main: bool = True, push_dtype: torch.dtype | None = None) -> None:
        """`run`: what names this run in its pushed folders' markers (its output folder); `key_env`: where the API
        key came from, for the error that says it is wrong."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"[rl] server_url must be an http(s) URL such as http://10.0.0.5:8000, got {url!r}")
        self.url = url.rstrip("/").removesuffix("/v1")
        self.api_key, self.key_env, self.timeout_s = api_key, key_env, timeout_s
        self.weights_dir, self.run, self.concurrency, self.is_main = Path(weights_dir), run, max(1, concurrency), is_main
        self.version: str | None = None  # the weights version the last update answered (None: not told)
        self.model = model
        self.push_dtype = push_dtype  # None: the trainer's own (fp32)
        if is_main:
            self.model = model or self._call("GET", "/v1/models", timeout=30)["data"][0]["id"]
            self._remove_pushed()  # a killed earlier process of this run left its last folder

    def check(self, prompt: list[int], group_size: int, max_new_tokens: int) -> None:
        """Before the first push (a checkpoint-sized write at scale): whether the server takes `group_size` choices of
        a prompt and has room for `max_new_tokens` after it; the main rank asks with one token to generate."""
        card = self._call("GET", f"/v1/models/{urllib.parse.quote(self.model)}", timeout=30)
        room = card.get("max_model_len")
        if isinstance(room, int) and len(prompt) + max_new_tokens > room:
            raise RolloutServerError(f"the rollout server serves {room:,} tokens of context, and a prompt of "
                                     f"{len(prompt):,} tokens + [rl] max_new_tokens {max_new_tokens:,} needs more: "
                                     "lower max_new_tokens or serve a longer --max-model-len")
        self._call("POST", "/v1/completions", {"model": self.model, "prompt": prompt, "n": group_size,
                                               "max_tokens": 1, "temperature": 1.0}, timeout=300)

    # ---- weights (every rank) ----
    def publish(self, policy: nn.Module, step: int, train_state: dict) -> Path | None:
        """Writes the policy's weights as a model folder and has the server load them; every rank calls this (each
        writes its own part). `policy`: the module the trainer checkpoints (it holds the LM as `lm`);
        `train_state`: what an export needs (model_config, mtp_depth). Returns the folder on the main rank."""
        staging, folder = self.weights_dir / ".staging", self.weights_dir / f"model-{step:06d}"
        distributed = dist.is_available() and dist.is_initialized()
        stale = None
        if self.is_main and staging.exists():  # a staging folder a killed process left, whatever its steps: renamed
            # now and deleted below, after the collectives (its delete could outlast the others' wait in a barrier)
            stale = staging.rename(self.weights_dir / f".staging-old-{uuid.uuid4().hex[:12]}")
        save_checkpoint(staging, step, policy, None, train_state, keep_latest=1)
        # the routers' bias as the policy routes with it (its base model's), not the zeros pretraining exports
        # no CRC-32 check: the files were written (and hashed) a moment ago by this very call, and a check would
        # read the policy's weights once more at every publish
        export_checkpoint(step_dir(staging, step), folder, dtype=self.push_dtype, keep_router_bias=True,
                          distributed=distributed, verify_checksums=False)  # its last barrier: all read
        if not self.is_main:
            return None
        for done in (staging, stale):  # a second copy of the weights, read now; the killed run's
            if done is not None:
                shutil.rmtree(done, ignore_errors=True)
        (folder / MARKER).write_text(self.run)
        reply = self._update(folder)
        if reply.get("success") is False:  # SGLang answers 200 with success false
            raise RolloutServerError(f"{self.url}{UPDATE_ROUTE} did not load {folder}: {reply.get('message')}")
        self.version = reply.get("weights_version")
        self._remove_pushed(keep=folder)  # the server holds the new weights
        return folder

    def _update(self, folder: Path) -> dict:
        """POST the update, again every BUSY_RETRY_S while the server answers 409 (another update loading, or the
        requests in flight not finished in time: docs/serving.md), for at most timeout_s."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return self._call("POST", UPDATE_ROUTE, {"model_path": str(folder.absolute())})
            except RolloutServerError as e:
                if getattr(e, "status", None) != 409 or time.monotonic() > deadline:
                    raise
            time.sleep(BUSY_RETRY_S)

    def _remove_pushed(self, keep: Path | None = None) -> None:
        """Deletes the model folders this run pushed (its marker), but `keep`; another run's stay."""
        for old in self.weights_dir.glob("model-*"):
            try:
                mine = (old / MARKER).read_text() == self.run
            except OSError:
                mine = False
            if mine and old != keep:
                shutil.rmtree(old, ignore_errors=True)

    def finish(self) -> None:
        """At the end of the run: the last pushed folder goes too (the server holds its weights)."""
        if self.is_main:
            self._remove_pushed()

    # ---- samples (the main rank) ----
    def generate(self, prompts: list[list[int]], group_size: int, max_new_tokens: int, temperature: float,
                 top_p: float, seed: int, stop_ids: list[int]) -> GenerationResult:
        """`group_size` completions of each prompt, in order (prompt 0's first), as axk1.infer.generate returns
        them: token ids without the stop token, "stop" or "length", and the stop token where the server returned it
        (None where it did not: axk1 serve leaves it out, as the text does)."""
        def one(j: int) -> list[tuple[list[int], str, int | None]]:
            body = {"model": self.model, "prompt": prompts[j], "n": group_size, "max_tokens": max_new_tokens,
                    "temperature": temperature, "top_p": top_p, "seed": seed + j * group_size,
                    "stop_token_ids": stop_ids, "logprobs": 0, "return_tokens_as_token_ids": True}
            reply = self._call("POST", "/v1/completions", body)
            if self.version is not None and reply.get("system_fingerprint") != self.version:
                raise RolloutServerError(
                    f"{self.url} sampled with weights {reply.get('system_fingerprint')!r}, not {self.version!r} that "
                    "this run pushed: another client replaced them, and the rollout would be another policy's. One "
                    "rollout server serves one RL run; resume with --resume once it is this run's alone")
            choices = sorted(reply["choices"], key=lambda c: c["index"])
            if len(choices) != group_size:
                raise RolloutServerError(f"{self.url} answered {len(choices)} choices for n = {group_size}")
            out = []
            for c in choices:
                tokens, reason, stop = _token_ids(c), c.get("finish_reason") or "stop", None
                if reason == "stop" and tokens and tokens[-1] in stop_ids:
                    stop = tokens.pop()
                out.append((tokens, reason, stop))
            return out

        with ThreadPoolExecutor(self.concurrency) as pool:
            groups = list(pool.map(one, range(len(prompts))))
        rows = [row for group in groups for row in group]
        return GenerationResult([t for t, _, _ in rows], [r for _, r, _ in rows], stop_tokens=[s for _, _, s in rows])

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        try:
            return request_json(method, self.url + path, body, self.api_key, timeout or self.timeout_s)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                pass
            hint = {401: f"; the key is read from the environment variable {self.key_env} ([rl] server_api_key_env)",
                    404: "; start the server with --enable-weight-updates (axk1 serve) or use one with SGLang's route"
                    if path == UPDATE_ROUTE else "; is [rl] server_url the server's address, without a path?"}
            if "--enable-weight-updates" in str(detail):  # axk1 serve's own 404 says it: once is enough
                hint.pop(404)
            error = RolloutServerError(f"{method} {self.url}{path}: HTTP {e.code}: {str(detail)[:500]}"
                                       + hint.get(e.code, ""))
            error.status = e.code
            raise error from None
        except (urllib.error.URLError, OSError) as e:
            raise RolloutServerError(f"{method} {self.url}{path}: the rollout server did not answer ({e}); is it "
                                     "running and reachable from the training nodes? A run stopped by this goes on "
                                     "from its newest checkpoint with --resume") from None


def _token_ids(choice: dict) -> list[int]:
    """A completion's token ids from its logprobs' 'token_id:<id>' names (return_tokens_as_token_ids)."""
    names = (choice.get("logprobs") or {}).get("tokens")
    if names is None:
        raise RolloutServerError("the rollout server's choice has no logprobs.tokens: it must support 'logprobs' "
                                 "with 'return_tokens_as_token_ids' (axk1 serve, vLLM)")
    try:
        return [int(name.removeprefix("token_id:")) for name in names]
    except (ValueError, AttributeError):
        raise RolloutServerError(f"the rollout server named tokens {names[:3]!r}, not 'token_id:<id>'") from None
