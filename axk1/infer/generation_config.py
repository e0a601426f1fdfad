"""A model folder's generation_config.json, applied as vLLM's OpenAI server applies it (its default,
`--generation-config auto`): the sampling values the folder's authors ship are the defaults of a request that leaves
those fields out, its `max_new_tokens` is the length of a chat reply whose request sets no limit, and its
`eos_token_id`s end a reply as the model's own eos does. A field the request sends wins.

Before, the file was not read: a folder whose generation_config.json lists an end-of-turn id that config.json and
tokenizer_config.json do not (A.X K1's config.json says eos = 163691; its end of turn may be another id) had its
replies run past the end of the turn to max_tokens, and a request without `temperature` sampled at 1.0 where vLLM
samples at the folder's value.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axk1.checkpoint.folder import read_json_object
from axk1.infer.sequence import SamplingParams

log = logging.getLogger(__name__)

FILE = "generation_config.json"
# What vLLM takes from the file but this server cannot apply, with the value that changes nothing
UNAPPLIED = {"repetition_penalty": 1, "min_p": 0}


@dataclass(frozen=True)
class GenerationDefaults:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    eos_ids: frozenset[int] = frozenset()
    max_tokens: int | None = None  # the file's max_new_tokens
    do_sample: bool = False  # transformers samples with the values above only when true; vLLM always does

    def completion_limit(self, room: int) -> int:
        """The token limit of a chat completion whose request sets none: the file's max_new_tokens, as vLLM takes
        it, within the `room` the context leaves (all of it without the file's value). Never below 1, so a prompt
        that fills the context is refused by the engine's context check, which says so."""
        room = max(1, room)
        return room if self.max_tokens is None else min(room, self.max_tokens)

    @classmethod
    def from_folder(cls, folder: str | Path, vocab_size: int) -> GenerationDefaults:
        """The folder's defaults (none without the file); a ValueError naming the file and the field when a value
        is no valid setting, so `axk1 serve` stops at startup rather than fail every request."""
        file = Path(folder) / FILE
        if not file.exists():
            return cls()
        config = read_json_object(file)

        def number(name: str, ok, allowed: str) -> Any:
            value = config.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value)):
                raise ValueError(f"{file}: {name} must be {allowed}, got {value!r}; fix it or remove the field")
            return value

        # a request may send at most 2 (OpenAI's bound); a folder may ship more, as vLLM allows
        temperature = number("temperature", lambda v: 0 <= v < math.inf, "a finite number >= 0")
        top_p = number("top_p", lambda v: 0 < v <= 1, "a number in (0, 1]")
        top_k = number("top_k", lambda v: isinstance(v, int) and v >= -1, "an integer >= -1 (0 and -1: no limit)")
        max_new = number("max_new_tokens", lambda v: isinstance(v, int) and v >= 1, "an integer >= 1")
        eos = config.get("eos_token_id")
        eos = [] if eos is None else eos if isinstance(eos, list) else [eos]
        bad = next((t for t in eos if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab_size), None)
        if bad is not None:
            raise ValueError(f"{file}: eos_token_id must be token ids in [0, {vocab_size}), got {bad!r}; fix it or "
                             "remove the field")
        for name, neutral in UNAPPLIED.items():
            if config.get(name) not in (None, neutral):
                log.warning("%s sets %s = %r, which axk1 serve does not apply (vLLM would): replies are sampled "
                            "without it", file, name, config[name])
        return cls(None if temperature is None else float(temperature), None if top_p is None else float(top_p),
                   top_k, frozenset(eos), max_new, config.get("do_sample") is True)


def flag_sampling(folder: str | Path, vocab_size: int, room: int, temperature: float | None, top_p: float | None,
                  top_k: int | None, max_new_tokens: int | None, as_server: bool = False) -> tuple[dict, list[str]]:
    """`axk1 generate`'s sampling (None = the flag was not given): a flag given wins; one left out takes the
    folder's generation_config.json value as transformers' generate applies it (its temperature, top_p and top_k
    only with `do_sample: true`: greedy otherwise; its max_new_tokens always), else generate()'s default.
    `as_server` (`--chat`, a message asked as `axk1 serve` asks it): the sampling values apply as the server applies
    them, with or without do_sample (vLLM's rule, sampling_params), so a chat run samples as a request leaving them
    out does. The token limit left out stays within the `room` the context leaves (one asked for is checked against
    it later, naming how many fit). Returns the sampling and what was taken from the file, as used."""
    from axk1.sampling_ranges import DEFAULT_MAX_NEW_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_K, DEFAULT_TOP_P

    file = GenerationDefaults.from_folder(folder, vocab_size)
    sample = file.do_sample or as_server
    asked = {"temperature": (temperature, file.temperature if sample else None, DEFAULT_TEMPERATURE),
             "top_p": (top_p, file.top_p if sample else None, DEFAULT_TOP_P),
             "top_k": (top_k, file.top_k if sample else None, DEFAULT_TOP_K),
             "max_new_tokens": (max_new_tokens, file.max_tokens, DEFAULT_MAX_NEW_TOKENS)}
    out, taken = {}, []
    for name, (flag, from_file, default) in asked.items():
        if flag is not None:
            out[name] = flag
            continue
        out[name] = from_file if from_file is not None else default
        if name == "top_k" and out[name] == -1:  # vLLM's "no limit", generate()'s 0
            out[name] = 0
        if name == "max_new_tokens":
            out[name] = min(out[name], max(1, room))
        if from_file is not None:
            cut = f" (of its {from_file}: what the context leaves)" if out[name] != from_file and name == \
                "max_new_tokens" else ""
            taken.append(f"{name} {out[name]}{cut}")
    return out, taken


def reply_stop_ids(folder: str | Path, eos_token_ids: list[int], vocab_size: int, turn_end: int | None) -> list[int]:
    """The ids that end a chat reply, as `axk1 serve` ends one: config.json's eos (`eos_token_ids`), the folder's
    generation_config.json eos and the chat template's end of turn (`turn_end`, the tokenizer's eos token). For
    whatever else samples chat replies from a folder (RL rollouts, held-out and native evaluation): A.X K1's
    config.json names an eos that is not its turn's end, and a loop stopping at config.json's alone ran every reply
    to its token limit."""
    ids = set(eos_token_ids) | GenerationDefaults.from_folder(folder, vocab_size).eos_ids
    return sorted(ids | ({turn_end} if turn_end is not None else set()))


def sampling_params(req: Any, max_tokens: int, defaults: GenerationDefaults, model_eos: frozenset[int],
                    turn_eos: int | None, user_stops: bool = True) -> SamplingParams:
    """The engine's parameters for a validated request: its own fields, the folder's defaults for those it left out.
    `model_eos`: config.json's eos ids; `turn_eos`: the chat template's end of turn (<|im_end|>), if it is a token;
    `user_stops` false: the request's stop_token_ids do not end the reply (forced tool calls: tool_choice.py)."""
    sent = req.model_fields_set

    def pick(name: str) -> Any:  # an explicit null is no value (vLLM's fields default to null)
        value, default = getattr(req, name), getattr(defaults, name)
        return value if default is None or (name in sent and value is not None) else default

    stop_ids = set(req.stop_token_ids or []) if user_stops else set()
    if not req.ignore_eos:
        stop_ids |= model_eos | defaults.eos_ids
        if turn_eos is not None:  # the chat turn's end may differ from config.json's eos id
            stop_ids.add(turn_eos)
    top_k = pick("top_k")
    top_k = top_k if top_k and top_k > 0 else 0  # vLLM's convention: 0 and -1 both mean no limit
    return SamplingParams(max_tokens, pick("temperature"), pick("top_p"), top_k, req.seed, frozenset(stop_ids),
                          req.logprob_count())
