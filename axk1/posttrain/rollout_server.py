"""RL rollouts on a separate inference server: `[rl] server_url`.

At A.X K1's size no training rank can hold a whole replica to sample from (2 TB in fp32), so rollouts run where
serving runs: an OpenAI-compatible server on its own GPUs (`axk1 serve --enable-weight-updates`; another server needs
SGLang's weight-update route and vLLM's return_tokens_as_token_ids; docs/posttraining.md, "At scale"). Each
iteration:

1. publish: every training rank writes its own shards of the policy to a DCP folder (no gather), then the ranks
   export it together into a model folder, each writing its own run of the safetensors files
   (axk1/checkpoint/export.py); the main rank asks the server to load it (`POST /update_weights_from_disk`) and
   deletes the folders before it;
2. sample: the main rank sends each prompt's token ids with `n` = group size to `/v1/completions`, asking for the
   completions' token ids (`logprobs: 0` with `return_tokens_as_token_ids`, as vLLM spells it), several prompts at
   a time; prompt j's choice i samples with seed + j·G + i, so a rollout is a function of the seed and the weights.

The samples then go through rl.py's rewards, dynamic sampling and update exactly as local rollouts do.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch.distributed as dist
from torch import nn

from axk1.checkpoint.dcp import save_checkpoint, step_dir
from axk1.checkpoint.export import export_checkpoint
from axk1.infer.generate import GenerationResult

UPDATE_ROUTE = "/update_weights_from_disk"


class RolloutServerError(RuntimeError):
    """The rollout server refused or failed a request: its message, and what was asked."""


class RolloutServer:
    def __init__(self, url: str, weights_dir: str | Path, model: str = "", api_key: str | None = None,
                 concurrency: int = 8, timeout_s: float = 3600.0, is_main: bool = True) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"[rl] server_url must be an http(s) URL such as http://10.0.0.5:8000, got {url!r}")
        self.url, self.api_key, self.timeout_s = url.rstrip("/").removesuffix("/v1"), api_key, timeout_s
        self.weights_dir, self.concurrency, self.is_main = Path(weights_dir), max(1, concurrency), is_main
        self.model = model or (self._call("GET", "/v1/models", timeout=30)["data"][0]["id"] if is_main else "")

    # ---- weights (every rank) ----
    def publish(self, policy: nn.Module, step: int, train_state: dict) -> Path | None:
        """Writes the policy's weights as a model folder and has the server load them; every rank calls this (each
        writes its own part). `policy`: the module the trainer checkpoints (it holds the LM as `lm`);
        `train_state`: what an export needs (model_config, mtp_depth). Returns the folder on the main rank."""
        dcp_root, folder = self.weights_dir / "dcp", self.weights_dir / f"model-{step:06d}"
        save_checkpoint(dcp_root, step, policy, None, train_state, keep_latest=1)
        export_checkpoint(step_dir(dcp_root, step), folder, distributed=dist.is_available() and dist.is_initialized())
        if not self.is_main:
            return None
        reply = self._call("POST", UPDATE_ROUTE, {"model_path": str(folder.absolute())})
        if reply.get("success") is False:  # SGLang answers 200 with success false
            raise RolloutServerError(f"{self.url}{UPDATE_ROUTE} did not load {folder}: {reply.get('message')}")
        for old in self.weights_dir.glob("model-*"):  # the server holds the new weights: the old folders can go
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    # ---- samples (the main rank) ----
    def generate(self, prompts: list[list[int]], group_size: int, max_new_tokens: int, temperature: float,
                 top_p: float, seed: int) -> GenerationResult:
        """`group_size` completions of each prompt, in order (prompt 0's first), as axk1.infer.generate returns
        them: token ids without the stop token, and "stop" or "length"."""
        def one(j: int) -> list[tuple[list[int], str]]:
            body = {"model": self.model, "prompt": prompts[j], "n": group_size, "max_tokens": max_new_tokens,
                    "temperature": temperature, "top_p": top_p, "seed": seed + j * group_size,
                    "logprobs": 0, "return_tokens_as_token_ids": True}
            choices = sorted(self._call("POST", "/v1/completions", body)["choices"], key=lambda c: c["index"])
            if len(choices) != group_size:
                raise RolloutServerError(f"{self.url} answered {len(choices)} choices for n = {group_size}")
            return [(_token_ids(c), c.get("finish_reason") or "stop") for c in choices]

        with ThreadPoolExecutor(self.concurrency) as pool:
            groups = list(pool.map(one, range(len(prompts))))
        pairs = [pair for group in groups for pair in group]
        return GenerationResult([t for t, _ in pairs], [r for _, r in pairs])

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout_s) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                pass
            raise RolloutServerError(f"{method} {self.url}{path}: HTTP {e.code}: {detail[:500]}" + (
                "; start the server with --enable-weight-updates (axk1 serve) or use one with SGLang's route"
                if e.code == 404 and path == UPDATE_ROUTE else "")) from None
        except (urllib.error.URLError, OSError) as e:
            raise RolloutServerError(f"{method} {self.url}{path}: the rollout server did not answer ({e}); is it "
                                     "running and reachable from the training nodes?") from None


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
