"""Model backends behind one interface: `backend.generate(requests) -> completions`, and the two that run a model
in this process (an axk1 model folder with axk1's own generate(), and transformers). The OpenAI-compatible server
backend is openai_backend.py; which one a TARGET names, backend_target.py.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from axk1.checkpoint.fingerprint import weights_fingerprint
from axk1.eval.chat import ChatPrompt, render
from axk1.sampling_ranges import sampling_problems


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0  # 0 = off
    max_tokens: int = 32768
    thinking: bool | None = None  # None: the model's default

    def __post_init__(self):
        # the ranges every generator shares (NaN is out of range: `< 0` let it through, into the JSON body)
        problems = sampling_problems(self.temperature, self.top_p, self.top_k)
        if problems or self.max_tokens < 1:
            said = "; ".join(f"{name} must be {rule}" for name, rule in problems.items()) or "max_tokens must be >= 1"
            raise ValueError(f"bad sampling settings {self}: {said} (need a finite temperature >= 0, 0 < top_p <= 1, "
                             "top_k >= 0, max_tokens >= 1)")


@dataclass
class Request:
    messages: list[dict]
    seed: int = 0


# finish_reason of a request refused because its prompt (with --max-tokens) does not fit the model's context: a
# failure the same request meets every time, graded `too_long`, not `request_failed` (which a rerun asks again)
TOO_LONG = "too_long"
# ... and what its refusal says of the prompt and the context: the native backend's "prompt has N tokens; the model's
# context is C", axk1 serve's "maximum context length is C tokens, but the prompt has N", vLLM's "(N in the
# messages, M in the completion)" or "your request has N input tokens"
CONTEXT_SAID = re.compile(r"(?:maximum context length is|model's context is) (\d+)")
PROMPT_SAID = re.compile(r"prompt has (\d+)|request has (\d+) input|(\d+) (?:in the messages|in the prompt|input tokens)")


def prompt_fills_context(error: str | None) -> bool:
    """Whether a too_long refusal says the prompt alone fills the model's context (no --max-tokens makes it fit);
    False where it does not say (a server's own wording) or the prompt fits and the completion does not."""
    context, prompt = CONTEXT_SAID.search(error or ""), PROMPT_SAID.search(error or "")
    return bool(context and prompt) and int(next(g for g in prompt.groups() if g)) >= int(context.group(1))


@dataclass
class Completion:
    text: str  # raw output; reasoning a server returned separately is put back as <think>...</think>
    # "stop" | "length" | "error" (no reply) | TOO_LONG (refused for its length), or what a server sent
    # ("tool_calls", ...)
    finish_reason: str = "stop"
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
        """Everything of the backend that decides a completion: it keys the kept completions and translations."""
        return {"backend": self.name}

    def prompt_tokens(self, messages: list[dict], thinking: bool | None) -> int | None:
        """The tokens of this chat's prompt as the model receives it (template included); None where this backend
        cannot count them (a task then sizes its prompts by an estimate)."""
        return None

    def context_length(self) -> int | None:
        """The model's context in tokens, prompt and reply together; None where it is not known."""
        return None

    def settings(self) -> dict:
        """How it runs, which cannot change a completion (parallel requests, timeouts): recorded in config.json
        only, so changing them reuses what was kept."""
        return {}


def dtype_name(dtype) -> str:
    """"bfloat16" for torch.bfloat16: the dtype a local model computes in changes its completions, so it is part
    of the backend's description (and so of the kept completions' key)."""
    return str(dtype).removeprefix("torch.")


# ---- native axk1 ---------------------------------------------------------------------------------------------
class NativeBackend(Backend):
    """An axk1 model folder: config.json + safetensors + tokenizer.json (+ tokenizer_config.json chat template)."""

    name = "axk1"

    def __init__(self, model_dir: str | Path, batch_size: int = 8, dtype: str | None = None, device: str = "cpu"):
        from axk1.checkpoint.hf import load_model
        from axk1.config import model_config_file, parse_dtype
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
        self.model = load_model(self.model_dir, dtype=parse_dtype(dtype) if dtype else None, device=device).eval()
        self.weights = weights_fingerprint(self.model_dir)  # kept completions are this model's, not the path's
        self.batch_size = batch_size
        self.stop_ids = reply_stop_ids(self.model_dir, self.model.config.eos_token_ids, self.model.config.vocab_size,
                                       self.codec.turn_end)

    def prompt(self, messages: list[dict], thinking: bool | None) -> ChatPrompt:
        return render(self.codec, messages, thinking)

    def prompt_tokens(self, messages: list[dict], thinking: bool | None) -> int:
        return len(self.tokenizer.encode(self.prompt(messages, thinking).text, add_special_tokens=False).ids)

    def context_length(self) -> int:
        return self.model.config.context_length

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        from axk1.infer.generate import generate

        context = self.model.config.context_length
        out: list[Completion] = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            prompts = [self.prompt(r.messages, sampling.thinking) for r in batch]
            ids = [self.tokenizer.encode(p.text, add_special_tokens=False).ids for p in prompts]
            refusals = [_too_long(len(x), sampling.max_tokens, context) for x in ids]
            rows = [i for i, said in enumerate(refusals) if said is None]
            results: dict[int, Completion] = {
                i: Completion("", TOO_LONG, prompts[i].think_open, 0, said) for i, said in enumerate(refusals) if said}
            if rows:
                gen = generate(self.model, [ids[i] for i in rows], max_new_tokens=sampling.max_tokens,
                               temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                               stop_ids=self.stop_ids, seed=batch[rows[0]].seed)
                for j, i in enumerate(rows):
                    tokens = gen.tokens[j]
                    text = self.tokenizer.decode(tokens, skip_special_tokens=False)
                    results[i] = Completion(text, gen.finish_reasons[j], prompts[i].think_open, len(tokens))
            for i in range(len(batch)):
                out.append(results[i])
                if done is not None:  # kept as each batch ends: a Ctrl-C in the next one loses none of this one
                    done(start + i, results[i])
        return out

    def describe(self) -> dict:
        weight = self.model.lm_head.weight
        return {"backend": self.name, "model": str(self.model_dir), "weights": self.weights,
                "dtype": dtype_name(weight.dtype), "device": str(weight.device),
                "chat_template": self.codec.template_source}


# ---- transformers --------------------------------------------------------------------------------------------
class HFBackend(Backend):
    """`hf:<path-or-id>`: transformers' generate(); the hub is used only when the id is not a local folder."""

    name = "hf"

    def __init__(self, model_id: str, dtype: str | None = None, device: str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from axk1.config import parse_dtype

        self.model_id = model_id
        self.tokenizer = AutoTokenizer.from_pretrained(model_id)
        kwargs = {"dtype": parse_dtype(dtype)} if dtype else {}
        # safetensors only, as every weight axk1 reads: a pickled .bin can run code when loaded
        self.model = AutoModelForCausalLM.from_pretrained(model_id, use_safetensors=True, **kwargs).to(device).eval()
        # which weights: a local folder's fingerprint, a hub model's commit
        self.weights = (weights_fingerprint(model_id) if Path(model_id).is_dir()
                        else getattr(self.model.config, "_commit_hash", None))
        self.context = _hf_context(model_id, self.model.config)

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

    def prompt_tokens(self, messages: list[dict], thinking: bool | None) -> int:
        text = self.prompt(messages, thinking).text
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def context_length(self) -> int | None:
        return self.context

    def generate(self, requests: list[Request], sampling: Sampling, done=None) -> list[Completion]:
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        out = []
        for index, request in enumerate(requests):
            out.append(self._one(request, sampling, eos_ids))
            if done is not None:  # kept as each one ends: a Ctrl-C in the next loses none of the finished ones
                done(index, out[-1])
        return out

    def _one(self, request: Request, sampling: Sampling, eos_ids: set) -> Completion:
        import torch

        prompt = self.prompt(request.messages, sampling.thinking)
        ids = self.tokenizer(prompt.text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(
            self.model.device)
        # as the axk1 backend: a request the context cannot hold is refused (transformers generated past it, a
        # reply from positions the model never learned, graded as a measurement)
        budget = sampling.max_tokens
        said = _too_long(ids.shape[1], budget, self.context) if self.context is not None else None
        if said:
            return Completion("", TOO_LONG, prompt.think_open, 0, said)
        torch.manual_seed(request.seed)
        sample = sampling.temperature > 0
        kwargs = dict(do_sample=sample, max_new_tokens=budget, pad_token_id=next(iter(eos_ids), 0))
        if sample:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
        with torch.no_grad():
            full = self.model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)[0, ids.shape[1]:]
        tokens = full.tolist()
        stopped = bool(tokens) and tokens[-1] in eos_ids
        if stopped:
            tokens = tokens[:-1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=False)
        return Completion(text, "stop" if stopped or len(full) < budget else "length", prompt.think_open, len(tokens))

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "weights": self.weights,
                "dtype": dtype_name(self.model.dtype), "device": str(self.model.device)}


def _too_long(prompt: int, max_tokens: int, context: int) -> str | None:
    """Why a request of `prompt` tokens asking for `max_tokens` more does not fit `context`, or None where it fits.
    The verdict a server gives the same request (axk1 serve and vLLM refuse prompt + max_tokens over the context with
    a 400, graded too_long): capping the reply to the room left instead graded a truncated reply as a measurement
    locally where the server's run said NOT MEASURED. Worded for prompt_fills_context and the report's advice."""
    if prompt >= context:
        return f"prompt has {prompt} tokens; the model's context is {context}"
    if prompt + max_tokens > context:
        return (f"prompt has {prompt} tokens and --max-tokens {max_tokens} asks for {prompt + max_tokens} in all; "
                f"the model's context is {context} (ask for at most {context - prompt} new tokens)")
    return None


def _hf_context(model_id: str, config) -> int | None:
    """The context of an `hf:` model: an axk1 or A.X K1 folder's ModelConfig.context_length (with YaRN, the extended
    length, as the axk1 backend and vLLM take it); else transformers' max_position_embeddings; None where neither
    says (no check then)."""
    from axk1.config import ModelConfig

    if Path(model_id).is_dir() and str(getattr(config, "model_type", "")).lower() == "axk1":
        try:
            return ModelConfig.from_pretrained(model_id).context_length
        except (ValueError, TypeError, KeyError, OSError):
            pass  # a config axk1 does not read: transformers' word below
    length = getattr(config, "max_position_embeddings", None)
    return length if isinstance(length, int) and length > 0 else None
