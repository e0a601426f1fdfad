"""Next-token choice: greedy, or temperature sampling restricted by top-k and top-p. Legend: B batch, V vocabulary."""

from __future__ import annotations

import torch

from axk1.sampling_ranges import sampling_problems


GREEDY_BELOW = 1e-5  # as vLLM treats tiny temperatures


def check_sampling(temperature: float, top_p: float, top_k: int) -> None:
    """ValueError naming the first setting out of range (axk1/sampling_ranges.py, the check every generator shares):
    generate, speculative decoding and the server's engine call it. NaN is out of range: it passed `temperature <
    0` once and sampled from NaN probabilities."""
    problems = sampling_problems(temperature, top_p, top_k)
    if problems:
        name, rule = next(iter(problems.items()))
        value = {"temperature": temperature, "top_p": top_p, "top_k": top_k}[name]
        raise ValueError(f"{name} must be {rule}, got {value}")


def sample_next(logits_BV: torch.Tensor, temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Token ids [B]. temperature 0 is greedy (argmax) whatever top_p and top_k say; so is a temperature below
    GREEDY_BELOW, where logits / temperature would overflow to inf and the probabilities to NaN."""
    if temperature < GREEDY_BELOW:
        return logits_BV.argmax(dim=-1)
    return sample_categorical(next_token_probs(logits_BV, temperature, top_p, top_k), generator)


def next_token_probs(logits_BV: torch.Tensor, temperature: float, top_p: float = 1.0, top_k: int = 0) -> torch.Tensor:
    """The distribution [B, V] sample_next draws from at a temperature >= GREEDY_BELOW (fp32): the logits over the
    temperature, restricted to the top_k tokens and then to the smallest head holding top_p of the mass."""
    logits_BV = logits_BV.float() / temperature
    if 0 < top_k < logits_BV.shape[-1]:
        kth_B1 = logits_BV.topk(top_k, dim=-1).values[:, -1:]
        logits_BV = logits_BV.masked_fill(logits_BV < kth_B1, float("-inf"))
    if top_p < 1.0:
        sorted_BV, order_BV = logits_BV.sort(dim=-1, descending=True)
        probs_BV = sorted_BV.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already hold top_p of the mass (the first always stays).
        drop_BV = probs_BV.cumsum(dim=-1) - probs_BV >= top_p
        # ...said outright: a top_p below float32's smallest number (1e-300 is valid) compares as 0, and 0 >= 0
        # would drop the first too: all -inf, NaN probabilities, and the draw lands on the vocabulary's last id
        drop_BV[:, 0] = False
        sorted_BV = sorted_BV.masked_fill(drop_BV, float("-inf"))
        logits_BV = torch.full_like(logits_BV, float("-inf")).scatter(-1, order_BV, sorted_BV)
    return logits_BV.softmax(dim=-1)


def sample_categorical(probs_BV: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row by inverting the cumulative distribution: one uniform per row and a binary search.
    The same distribution as torch.multinomial, which draws an exponential per vocabulary entry (B x V random
    numbers: 10% of a 32-row rollout's time at V = 8,192, against ~1% for this)."""
    cdf_BV = probs_BV.double().cumsum(dim=-1)
    u_B1 = torch.rand(probs_BV.shape[0], 1, generator=generator, dtype=torch.float64, device=probs_BV.device)
    # right=True: the first entry whose cumulative mass exceeds u·total, so a zero-probability token (a flat step
    # of the cdf) is never chosen; the clamp covers u·total rounding up to the total.
    ids_B1 = torch.searchsorted(cdf_BV, u_B1 * cdf_BV[:, -1:], right=True)
    return ids_B1.clamp_(max=probs_BV.shape[-1] - 1)[:, 0]
