"""A request's choice as the engine tracks it (its prompt, sampled tokens, block table), the sampling parameters, and
the error a request the engine cannot serve raises. Shared by the engine and its scheduler."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from axk1.infer.logprobs import TokenLogprob

if TYPE_CHECKING:
    from axk1.infer.guided import Constraint, GuidedSequence

# Called from the engine thread: (sequence, new token or None, finish reason or None, error message or None). An
# error with reason None: the engine failed (the request fails); with reason "error": that choice's matcher failed
# (it alone ends).
Sink = Callable[["Sequence", "int | None", "str | None", "str | None"], None]


class RequestError(ValueError):
    """A request the engine cannot serve; `param` names the request field to change."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class WeightsBusy(RequestError):
    """A weight update that could not run now (the choices it waited for did not finish in time): try it again."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop_ids: frozenset[int] | None = None  # None: the model's eos ids; an empty set never stops early
    logprobs: int | None = None  # None: none; k: each chosen token's logprob and the k most likely (logprobs.py)
    constraint: Constraint | None = None  # structured output: the compiled grammar (axk1/infer/guided.py)


@dataclass(eq=False)
class RequestGroups:
    """What the groups of one request (its prompts' n choices each) share: whether any has been admitted. A weight
    update lets the rest of a begun request start under the same weights (axk1/infer/scheduler.py)."""

    begun: bool = False
    first_token_at: float | None = None  # when any of its choices had its first token (time to first token)


@dataclass(eq=False)
class Sequence:
    """One choice of one request."""

    id: int
    index: int  # the choice's index within its request
    prompt: list[int]
    params: SamplingParams
    sink: Sink
    generator: torch.Generator | None = None
    tokens: list[int] = field(default_factory=list)
    length: int = 0  # tokens whose latents are in the cache
    blocks: list[int] = field(default_factory=list)  # block table: position p is in blocks[p // block_size]
    keys: list[bytes] = field(default_factory=list)  # prefix-cache keys of its full blocks, computed once
    indexed: int = 0  # its first `indexed` blocks have been offered to the prefix cache
    leader: Sequence | None = None  # a request's other choices wait for its first choice's prompt
    row: int = -1  # its place among the running sequences
    stop_token: int | None = None  # the stop id that ended it, if one did
    cancelled: bool = False
    preempted: bool = False  # its blocks were taken back once: it is admitted again only with room for its prefix
    finished: bool = False
    created: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    draft_logits: torch.Tensor | None = None  # a drafting server: the MTP module's logits for the token after next
    logprobs: list[TokenLogprob] = field(default_factory=list)  # one per token, when params.logprobs is set
    weights_version: str = "0"  # the weights that sample it: set when queued, again by an update before it starts
    request: RequestGroups = field(default_factory=RequestGroups)  # shared by its request's sequences
    guide: GuidedSequence | None = None  # its own matcher of params.constraint's grammar

    def __post_init__(self) -> None:
        if self.params.constraint is not None and self.guide is None:
            self.guide = self.params.constraint.start()

    def all_tokens(self) -> list[int]:
        return self.prompt + self.tokens

    @property
    def pending(self) -> int:
        """Tokens known but not yet cached: the prompt's rest, or the last sampled token."""
        return len(self.prompt) + len(self.tokens) - self.length

    def next_input(self) -> int:
        p = self.length
        return self.prompt[p] if p < len(self.prompt) else self.tokens[p - len(self.prompt)]
