"""Speculative decoding with the model's own MTP module as the drafter (depth 1, as A.X K1 trains it).

The MTP module was trained to predict the token after next from the main model's last hidden state h_i and the
embedding of token i+1 (axk1/model/mtp.py). At inference that is a one-layer draft model that costs a fraction of
a decode step: each step drafts one token d, then the main model reads [pending token, d] in one pass (on a CPU a
two-token step costs about what a one-token step does: per-op overhead, not arithmetic, bounds it). When the main
model agrees with d, the step yields two tokens instead of one.

The output follows the main model exactly: greedy output is the plain greedy output (d is kept only when it is
the main model's argmax); seeded sampling is generate's seeded output (the main model draws its own token, one draw
a token from the seed's stream as generate takes them, and d, q's most likely token, is kept only when it is that
token); unseeded sampling uses the standard rule (Leviathan et al., Chen et al. 2023), which keeps more drafts and
the distribution — accept d with probability min(1, p(d) / q(d)), else draw from the normalised max(p - q, 0); p
and q are the main and draft distributions after the same temperature / top-k / top-p. The standard rule spends
draws on drafts and rejections, so under it a seed's reply would depend on which drafts came.

Batch 1: speculative decoding buys latency for one request; a server's throughput comes from batching instead.
Legend: T new tokens of a step, S cache slots, D hidden, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from axk1.infer.generate import DEFAULT_MAX_NEW_TOKENS, GenerationResult, as_prompts, check_lengths
from axk1.infer.sampling import GREEDY_BELOW, check_sampling, next_token_probs, sample_categorical
from axk1.model import AXK1ForCausalLM, LatentDecoder, LatentKVCache, check_token_ids
from axk1.model.latent_decode import LayerWeights
from axk1.model.norm import rms_norm_no_grad
from axk1.sampling_ranges import DEFAULT_TEMPERATURE, DEFAULT_TOP_K, DEFAULT_TOP_P


@dataclass
class SpeculativeResult(GenerationResult):
    drafted: int = 0   # draft tokens proposed
    accepted: int = 0  # of which the main model kept

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


class MTPDrafter:
    """The MTP module's weights as plain tensors, run through the latent decoder's layer step (its own one-layer
    latent cache): draft logits for the token after next, from the main model's hidden states."""

    def __init__(self, model: AXK1ForCausalLM, decoder: LatentDecoder) -> None:
        if model.mtp is None:
            raise ValueError("this model has no MTP module: speculative decoding drafts with it. Export the "
                             "training checkpoint with `axk1 export --keep-mtp` (it writes mtp.safetensors)")
        mtp = model.mtp[0]
        self.decoder, self.eps = decoder, model.config.rms_norm_eps
        self.hnorm, self.enorm, self.head_norm = mtp.hnorm.weight, mtp.enorm.weight, mtp.shared_head_norm.weight
        self.eh_projT_2DD = mtp.eh_proj.weight.t()
        self.layer = LayerWeights(mtp.layer, model.config)

    def __call__(self, h_TD: torch.Tensor, next_ids_T: torch.Tensor, positions_1T: torch.Tensor, cache,
                 slot: int, mask_11TS: torch.Tensor, at: torch.Tensor | None = None) -> torch.Tensor:
        """Draft logits [V] from the last of T entries: entry i pairs h at position p_i with token p_i + 1. With
        several rows (positions [B, T], h and ids flattened to B*T entries) or packed prompts, `at` picks the
        entries whose draft logits are wanted: [K, V]."""
        dec = self.decoder
        e_TD = dec.embed_WD.index_select(0, next_ids_T)
        x_TD = torch.mm(torch.cat([rms_norm_no_grad(e_TD, self.enorm, self.eps),  # embedding first (MTPModule)
                                   rms_norm_no_grad(h_TD, self.hnorm, self.eps)], dim=-1), self.eh_projT_2DD)
        rot_TRR, bias_1TS = dec.rotation_and_bias(positions_1T, mask_11TS, x_TD.dtype)
        y_TD = dec.layer(self.layer, x_TD, rot_TRR, cache.latent[0], slot, bias_1TS)
        y_KD = y_TD[-1:] if at is None else y_TD.index_select(0, at)
        logits_KV = torch.mm(rms_norm_no_grad(y_KD, self.head_norm, self.eps), dec.headT_DW)
        return logits_KV[0] if at is None else logits_KV


def accept_draft(p_BV: torch.Tensor, q_BV: torch.Tensor, draft_B: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard speculative acceptance rule, per row: (accepted [B] bool, token [B]) — the draft where
    accepted, else a draw from the normalised residual max(p - q, 0). The token is then distributed as p."""
    p_d = p_BV.gather(1, draft_B[:, None])[:, 0]
    q_d = q_BV.gather(1, draft_B[:, None])[:, 0]
    u_B = torch.rand(draft_B.shape, generator=generator, dtype=p_BV.dtype, device=p_BV.device)
    accepted_B = u_B * q_d < p_d  # u < p/q without dividing by a zero q
    residual_BV = (p_BV - q_BV).clamp_(min=0)
    empty_B = residual_BV.sum(1) <= 0  # p == q: a rejection cannot happen; keep the draw well defined
    residual_BV[empty_B] = p_BV[empty_B]
    return accepted_B, torch.where(accepted_B, draft_B, sample_categorical(residual_BV, generator))


@torch.inference_mode()
def generate_speculative(model: AXK1ForCausalLM, prompt, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                         temperature: float = DEFAULT_TEMPERATURE, top_p: float = DEFAULT_TOP_P,
                         top_k: int = DEFAULT_TOP_K,
                         stop_ids: list[int] | None = None, seed: int | None = None) -> SpeculativeResult:
    """`generate` for one prompt, drafting one token a step with the MTP module; the same output distribution."""
    config = model.config
    prompts = as_prompts(prompt)
    if len(prompts) != 1:
        raise ValueError(f"speculative decoding runs one prompt at a time (got {len(prompts)}): batch with generate")
    check_sampling(temperature, top_p, top_k)
    (n,) = check_lengths(config, prompts, max_new_tokens)
    stop = set(config.eos_token_ids if stop_ids is None else stop_ids)
    device, dtype = model.lm_head.weight.device, model.lm_head.weight.dtype
    ids_1T = torch.tensor(prompts, device=device)
    check_token_ids(ids_1T, config)
    greedy = temperature < GREEDY_BELOW
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None

    def probs(logits_V: torch.Tensor) -> torch.Tensor:
        return next_token_probs(logits_V[None], temperature, top_p, top_k)[0]

    def pick(logits_V: torch.Tensor) -> int:
        return int(logits_V.argmax()) if greedy else int(sample_categorical(probs(logits_V)[None], generator))

    # greedy and seeded runs keep a draft only when it is the token the main model picks itself (one draw a token,
    # as generate takes them: a seed gives generate's reply); an unseeded run draws the draft from q and keeps it
    # by the standard rule, which keeps more drafts
    exact = greedy or seed is not None

    decoder = LatentDecoder(model)
    drafter = MTPDrafter(model, decoder)
    S = n + max_new_tokens + 1  # a rejected draft may sit one slot past the last token
    cache = LatentKVCache(config, 1, S, dtype=dtype, device=device)
    mtp_cache = LatentKVCache(config, 1, S, dtype=dtype, device=device, num_layers=1)
    causal_SS = torch.ones(S, S, dtype=torch.bool, device=device).tril()
    slots_S = torch.arange(S, device=device)

    def mask(start: int, T: int) -> torch.Tensor:  # T new tokens at [start, start + T), causal over the cache
        return causal_SS[start:start + T, :start + T][None, None]

    # Prefill: the prompt's hidden states; the first token; the MTP entries of every prompt position.
    h_TD = decoder.hidden(ids_1T, slots_S[None, :n], cache, 0, mask(0, n))
    out, reason = [pick(decoder.logits(h_TD[-1:])[0])], "length"
    nxt_T = torch.cat([ids_1T[0, 1:], torch.tensor(out, device=device)])
    draft_logits_V = drafter(h_TD, nxt_T, slots_S[None, :n], mtp_cache, 0, mask(0, n))
    drafted = accepted = 0
    p = n  # the position of the pending token out[-1], not yet in the cache
    while out[-1] not in stop and len(out) < max_new_tokens:
        d = int(draft_logits_V.argmax()) if exact else pick(draft_logits_V)
        h_2D = decoder.hidden(torch.tensor([[out[-1], d]], device=device), slots_S[None, p:p + 2], cache, p,
                              mask(p, 2))
        logits_2V = decoder.logits(h_2D)
        drafted += 1
        if exact:
            target = pick(logits_2V[0])
            ok = target == d
        else:
            ok_1, token_1 = accept_draft(probs(logits_2V[0])[None], probs(draft_logits_V)[None],
                                         torch.tensor([d], device=device), generator)
            ok, target = bool(ok_1[0]), int(token_1[0])
        if ok:  # d kept; the main model's next token comes free with it
            accepted += 1
            new = [d, pick(logits_2V[1])]
            entries_h, entries_next = h_2D, torch.tensor(new, device=device)
        else:  # the main model's own token at p + 1; d's latent at slot p + 1 is overwritten by the next step
            new = [target]
            entries_h, entries_next = h_2D[:1], torch.tensor(new, device=device)
        for token in new:
            if out[-1] in stop or len(out) == max_new_tokens:
                break
            out.append(token)
        T = len(new)
        draft_logits_V = drafter(entries_h, entries_next, slots_S[None, p:p + T], mtp_cache, p, mask(p, T))
        p += T
    stopped = out[-1] if out[-1] in stop else None
    if stopped is not None:
        out, reason = out[:-1], "stop"
    return SpeculativeResult([out], [reason], [n], cache.nbytes() + mtp_cache.nbytes(), stop_tokens=[stopped],
                             drafted=drafted, accepted=accepted)
