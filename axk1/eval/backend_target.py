"""What `axk1 eval`'s model argument (a TARGET) names, and the backend that runs it:
  <folder>            an axk1 model folder (HF layout), run with axk1's own generate()
  hf:<path-or-id>     transformers AutoModelForCausalLM + AutoTokenizer
  openai:<base-url>   any OpenAI-compatible server (vLLM, SGLang, `axk1 serve`), e.g. openai:http://host:8000/v1;
                      a URL without a path gets /v1 (http_json.openai_base_url, as synth's --teacher)
"""

from __future__ import annotations

import os
from pathlib import Path

from axk1.api_key import CLIENT_KEY_ENV, read_api_key
from axk1.device import resolve_device
from axk1.eval.backends import Backend, HFBackend, NativeBackend
from axk1.eval.openai_backend import OpenAIBackend
from axk1.http_json import openai_base_url


def load_backend(target: str, served_model: str | None = None, api_key_env: str = CLIENT_KEY_ENV,
                 concurrency: int = OpenAIBackend.concurrency, dtype: str | None = None,
                 extra_body: dict | None = None, device: str = "auto",
                 request_timeout_s: float = OpenAIBackend.timeout_s, flag: str = "--model") -> Backend:
    """Build the backend a TARGET string names (see the module docstring). `device`: where a local model (a folder
    or hf:) runs: auto (CUDA when torch sees a GPU), cpu or cuda. `flag`: the option that gave TARGET, for errors."""
    if target.startswith(("http://", "https://")):  # read as a folder it was "http:/host/v1 does not exist"
        raise ValueError(f"{target!r} is a URL, not a model folder: did you mean openai:{target}? (a server's "
                         "URL takes the openai: prefix)")
    if target.startswith("openai:"):
        return OpenAIBackend(openai_base_url(target, flag), model=served_model or os.environ.get("AXK1_EVAL_MODEL"),
                             api_key=read_api_key(api_key_env, CLIENT_KEY_ENV), concurrency=concurrency,
                             timeout_s=request_timeout_s, extra_body=extra_body or {})
    device = resolve_device(device, "--device")  # a local model from here on
    if target.startswith("hf:"):
        return HFBackend(target[len("hf:"):], dtype=dtype, device=device)
    return NativeBackend(Path(target), dtype=dtype, device=device)
