"""Log probabilities of the generated tokens: what the engine records at each token a request asked them for, and
the two OpenAI shapes the server answers with (chat's `logprobs.content`, the legacy completions' four lists).

The logprobs are the model's raw ones, log_softmax of the logits the token was chosen from, before temperature,
top-k and top-p: vLLM's default (`--logprobs-mode raw_logprobs`). They are then the same for a token whatever the
request's sampling settings, comparable across requests, and a greedy token's is the model's own; the processed
distribution would give every token outside top-p a logprob of -inf, which JSON cannot carry.

A token is named by its text; its `bytes` are its real bytes, also when it holds only part of a UTF-8 character (a
Hangul syllable is 3 bytes, often split over tokens), where the text shows the stray bytes escaped (`\\xec\\x84`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class TokenLogprob:
    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()  # (token, logprob) of the most likely tokens, most likely first


def token_logprob(logits_V: torch.Tensor, token: int, k: int) -> TokenLogprob:
    """`token`'s logprob under the raw `logits_V` and the k most likely tokens' (fp32)."""
    # a logit of -inf (a folder that masks part of its vocabulary) would be -inf here, which JSON cannot carry:
    # -9999, OpenAI's own value for "very unlikely"
    logprobs_V = logits_V.reshape(-1).float().log_softmax(dim=-1).clamp(min=-9999.0)
    top: tuple[tuple[int, float], ...] = ()
    if k:
        values, ids = logprobs_V.topk(min(k, logprobs_V.numel()))
        top = tuple(zip(ids.tolist(), values.tolist()))
    return TokenLogprob(token, float(logprobs_V[token]), top)


class TokenNames:
    """A token id as a response names it: (text, bytes or None). `as_ids`: vLLM's return_tokens_as_token_ids,
    'token_id:<id>'. Without a tokenizer, or for an id the tokenizer does not know (a vocabulary padded past the
    tokenizer's), the name is the id's and the bytes are null, as OpenAI allows."""

    def __init__(self, codec: Any, as_ids: bool = False) -> None:
        self.codec, self.as_ids = codec, as_ids

    def __call__(self, token: int) -> tuple[str, list[int] | None]:
        raw = None if self.codec is None else self.codec.token_bytes(token)
        if raw is None or self.as_ids:
            return f"token_id:{token}", None if raw is None else list(raw)
        return raw.decode("utf-8", "backslashreplace"), list(raw)


def chat_logprobs(entries: list[TokenLogprob], names: TokenNames) -> dict[str, Any]:
    """A chat choice's (or chunk's) `logprobs`: {"content": [one entry per token]}."""

    def one(token: int, logprob: float) -> dict[str, Any]:
        name, raw = names(token)
        return {"token": name, "logprob": logprob, "bytes": raw}

    return {"content": [{**one(e.token, e.logprob), "top_logprobs": [one(t, lp) for t, lp in e.top]}
                        for e in entries]}


def completion_logprobs_field(entries: list[TokenLogprob], offsets: list[int], names: TokenNames) -> dict[str, Any]:
    """A completion choice's (or chunk's) `logprobs`. Each position's `top_logprobs` maps the k most likely tokens,
    and the chosen one, to their logprobs: up to k + 1 entries, as OpenAI's legacy API says."""
    tokens, tops = [], []
    for e in entries:
        name = names(e.token)[0]
        top = {}
        for t, lp in e.top:
            top.setdefault(names(t)[0], lp)  # two ids of one text (rare): the likelier is kept
        top.setdefault(name, e.logprob)
        tokens.append(name)
        tops.append(top)
    return {"tokens": tokens, "token_logprobs": [e.logprob for e in entries], "top_logprobs": tops,
            "text_offset": list(offsets)}
