"""The limits a plan is optimised under, each named so that plan.md can say which one binds.

The law ranks candidates by predicted loss; these decide which candidates may be chosen and how many tokens a
candidate can use:

* serving memory: the release must fit `serve_gpus` GPUs in the release precision, 10% kept for the KV cache;
* sparsity floor: the expert activation ratio (shared experts counted) stays at or above `min_activation`;
* tokens per activated parameter within [min, max]: the floor (10) only catches nonsense, below the optimum of both
  built-in laws up to 1e26 FLOPs (DeepSeek LLM's 17 at 1e22 falling to 11; the Chinchilla refit's 20 to 16): a floor
  of 20 (Chinchilla's rule of thumb) sat above the default law's own optimum and overrode it; far above, the
  plan pours compute into tokens a bigger model would use better (Llama 3 8B's 1,875 is an inference-driven choice
  the user can allow with --max-tokens-per-param);
* data: unique tokens per domain and a maximum number of epochs. A candidate trains on at most the tokens every
  domain of the mixture can supply in `max_epochs` passes; the compute it cannot spend is reported. Repeated tokens
  count for less, by the data-constrained scaling law of Muennighoff et al. 2023 (arXiv 2305.16264, Eq. 5): with
  U unique tokens seen 1 + R times, the effective data is U + U R* (1 - exp(-R / R*)), R* = 15.4. Up to ~4 epochs
  are worth almost as much as new data (their finding), which is why 4 is the default ceiling;
* training memory (memory.py) and the minimum batch per data-parallel rank (planner.py) are checked on the
  chosen layout.

Default data: a 20T-token deduplicated corpus in the mixture's proportions. For scale: FineWeb is ~15T English
web tokens; Llama 3 trained on 15.6T, DeepSeek-V3 on 14.8T, A.X K1 on ~10T (docs/planning.md). --data gives the
real figures per domain.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from axk1.plan.defaults import (DEFAULT_MAX_EPOCHS, DEFAULT_UNIQUE_TOKENS, MAX_TOKENS_PER_ACTIVE_PARAM,
                                MIN_ACTIVATION, MIN_TOKENS_PER_ACTIVE_PARAM)
from axk1.plan.recipe import AXK1_MIXTURES, AXK1_STAGES

REPEAT_HALF_LIFE = 15.4  # Muennighoff et al.'s R*_D: repetitions after which a repeated token's value has decayed by e

SERVING, SPARSITY, TPP_MIN, TPP_MAX, DATA = ("serving memory", "sparsity floor", "tokens per parameter (min)",
                                             "tokens per parameter (max)", "data (unique tokens x epochs)")
OVER_BUDGET = "over budget"  # only with --tokens: the fixed token count costs more than the budget


@functools.cache
def _shares() -> tuple[tuple[str, float], ...]:
    return tuple(_mixture_shares().items())


def mixture_shares() -> dict[str, float]:
    """Each domain's share of all pretraining tokens: A.X K1's stage mixtures weighted by the stages' tokens."""
    return dict(_shares())


def _mixture_shares() -> dict[str, float]:
    total = sum(t for _, t, _ in AXK1_STAGES)
    shares: dict[str, float] = {}
    for (_, tokens, _), mix in zip(AXK1_STAGES, AXK1_MIXTURES):
        norm = sum(mix.values())
        for domain, pct in mix.items():
            shares[domain] = shares.get(domain, 0.0) + tokens / total * pct / norm
    return shares


@dataclass(frozen=True)
class Limits:
    serve_gpus: int = 8
    serve_precision: str = "bf16"
    min_activation: float = MIN_ACTIVATION
    min_tokens_per_param: float = MIN_TOKENS_PER_ACTIVE_PARAM
    max_tokens_per_param: float = MAX_TOKENS_PER_ACTIVE_PARAM
    unique_tokens: dict[str, float] = field(default_factory=dict)  # per domain; empty: the default corpus
    max_epochs: float = DEFAULT_MAX_EPOCHS

    def __post_init__(self) -> None:
        if self.serve_gpus < 0:
            raise ValueError(f"--serve-gpus must be >= 0 (0 = no serving bound), got {self.serve_gpus}")
        if not 0 < self.min_activation < 1:
            raise ValueError(f"--min-activation must be in (0, 1), got {self.min_activation}")
        if not (0 < self.min_tokens_per_param < self.max_tokens_per_param):
            raise ValueError(f"tokens per parameter: need 0 < min < max, got {self.min_tokens_per_param} and "
                             f"{self.max_tokens_per_param}")
        if not (self.max_epochs >= 1 and math.isfinite(self.max_epochs)):
            raise ValueError(f"--max-epochs must be a finite number >= 1, got {self.max_epochs}")
        for domain, tokens in self.unique_tokens.items():
            if not (tokens > 0 and math.isfinite(tokens)):
                raise ValueError(f"--data {domain}: unique tokens must be positive and finite, got {tokens}")
            if domain not in mixture_shares():
                raise ValueError(f"--data: unknown domain {domain!r}; the mixture's domains are "
                                 f"{', '.join(sorted(mixture_shares()))}")

        # (domain, share, unique tokens) once: the search asks for effective tokens tens of thousands of times
        have = tuple((d, s, self.unique_tokens.get(d, DEFAULT_UNIQUE_TOKENS * s)) for d, s in _shares())
        object.__setattr__(self, "_have", have)
        object.__setattr__(self, "_fresh", min(u / s for _, s, u in have))  # tokens before any domain repeats

    def available(self) -> dict[str, float]:
        """Unique tokens per domain: the given ones, the rest from the default corpus in the mixture's proportions."""
        return {d: u for d, _, u in self._have}

    def max_tokens(self) -> float:
        """The most tokens a run can train on before some domain exceeds max_epochs."""
        shares, have = mixture_shares(), self.available()
        return min(have[d] * self.max_epochs / s for d, s in shares.items())

    def epochs(self, tokens: float) -> dict[str, float]:
        shares, have = mixture_shares(), self.available()
        return {d: tokens * s / have[d] for d, s in shares.items()}

    def effective_tokens(self, tokens: float) -> float:
        """Muennighoff et al.'s effective data summed over the domains (= tokens when nothing repeats)."""
        if tokens <= self._fresh:
            return tokens
        total = 0.0
        for _, s, unique in self._have:
            demand = tokens * s
            if demand <= unique:
                total += demand
            else:
                repeats = demand / unique - 1
                total += unique + unique * REPEAT_HALF_LIFE * (1 - math.exp(-repeats / REPEAT_HALF_LIFE))
        return total

