"""Batched generation over the MLA latent KV cache.

Prompts of different lengths are left-padded into one batch; padded key slots are masked out and positions
start at 0 at each prompt's first real token, so every row computes exactly what it would alone.
Legend: B batch, T tokens in this step, S cache slots, V vocabulary.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from axk1.infer.sampling import check_sampling, sample_next
from axk1.infer.static_decode import StaticDecodeStep
from axk1.model import AXK1ForCausalLM, LatentDecoder, LatentKVCache, check_token_ids
from axk1.sampling_ranges import DEFAULT_MAX_NEW_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_K, DEFAULT_TOP_P


@dataclass
class GenerationResult:
    tokens: list[list[int]]  # new tokens per prompt, without the stop token
    finish_reasons: list[str]  # "stop" (a stop id was produced) or "length" (max_new_tokens reached)
    prompt_lengths: list[int] = field(default_factory=list)
    cache_bytes: int = 0
    stop_tokens: list[int | None] = field(default_factory=list)  # the stop id each prompt ended on (None: length)


def as_prompts(prompts) -> list[list[int]]:
    if isinstance(prompts, torch.Tensor):
        prompts = prompts.tolist() if prompts.dim() == 2 else [prompts.tolist()]
    prompts = list(prompts)
    if prompts and isinstance(prompts[0], int):
        prompts = [prompts]
    if not prompts:
        raise ValueError("no prompts given")
    for i, p in enumerate(prompts):
        if len(p) == 0:
            raise ValueError(f"prompt {i} is empty: give at least one token id (e.g. the bos token)")
    return [list(map(int, p)) for p in prompts]


def check_lengths(config, prompts: list[list[int]], max_new_tokens: int) -> list[int]:
    """The prompts' lengths, each checked to fit the model's context with its new tokens."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    lengths = [len(p) for p in prompts]
    context = config.context_length
    for i, n in enumerate(lengths):
        if n >= context:  # not one token of room: "ask for at most 0 new tokens" could not be followed
            raise ValueError(f"prompt {i} has {n} tokens, which fills the model's context ({context} tokens) and "
                             "leaves no room for a new token: shorten the prompt")
        if n + max_new_tokens > context:
            raise ValueError(
                f"prompt {i} ({n} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's context "
                f"({context} tokens); ask for at most {context - n} new tokens"
            )
    return lengths


@torch.inference_mode()
def generate(model: AXK1ForCausalLM, prompts, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
             temperature: float = DEFAULT_TEMPERATURE, top_p: float = DEFAULT_TOP_P, top_k: int = DEFAULT_TOP_K,
             stop_ids: list[int] | None = None, seed: int | None = None, pad_id: int = 0, compile: bool = False,
             cuda_graph: bool = False,
             progress: str | None = None) -> GenerationResult:
    """Generate up to `max_new_tokens` per prompt. stop_ids defaults to the config's eos ids ([] never stops).

    compile=True runs the one-token decode step through torch.compile (compiled once per model, on first use;
    on CPU that fuses the step's many small ops and is worth it for long generations or a server).
    cuda_graph=True decodes with static shapes (every step attends over the whole cache, masked) and, on CUDA,
    replays the step as one captured CUDA graph (axk1/infer/static_decode.py): a GPU's eager step is bound by
    kernel launches. On CPU the same static step runs uncaptured. `progress`: a transient bar of decode steps
    under that name (RL's rollouts sat behind a bar at 0/1 for minutes)."""
    if compile and cuda_graph:
        raise ValueError("compile=True and cuda_graph=True are two ways to cut the decode step's overhead: choose one")
    config = model.config
    prompts = as_prompts(prompts)
    check_sampling(temperature, top_p, top_k)
    stop = set(config.eos_token_ids if stop_ids is None else stop_ids)
    lengths = check_lengths(config, prompts, max_new_tokens)

    device = model.lm_head.weight.device
    B, T0 = len(prompts), max(lengths)
    S = T0 + max_new_tokens
    ids_BT = torch.full((B, T0), pad_id, dtype=torch.long)
    for b, p in enumerate(prompts):
        ids_BT[b, T0 - len(p):] = torch.tensor(p)
    check_token_ids(ids_BT, config)
    ids_BT = ids_BT.to(device)
    pad_B = torch.tensor([T0 - n for n in lengths], device=device)
    slots_S = torch.arange(S, device=device)
    valid_BS = slots_S[None, :] >= pad_B[:, None]
    positions_BT = (slots_S[None, :T0] - pad_B[:, None]).clamp(min=0)

    cache = LatentKVCache(config, B, S, dtype=model.lm_head.weight.dtype, device=device)
    # Prefill: causal over real slots; each slot may also see itself, so pad rows never attend to nothing.
    causal_TT = torch.ones(T0, T0, dtype=torch.bool, device=device).tril()
    mask_BTT = (valid_BS[:, None, :T0] & causal_TT) | torch.eye(T0, dtype=torch.bool, device=device)
    logits_BTV = model.forward_latent(ids_BT, positions_BT, cache, 0, mask_BTT[:, None])

    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    out: list[list[int]] = [[] for _ in range(B)]
    reasons = ["length"] * B
    stops: list[int | None] = [None] * B
    # Per-step inputs are slices of tensors built once: a CPU decode step is bound by per-op overhead. The mask is
    # passed as the additive bias (0 / -inf) the decode step would otherwise build from the boolean mask.
    positions_BN = torch.tensor(lengths, device=device)[:, None] + torch.arange(max_new_tokens, device=device)
    bias_B11S = torch.zeros(B, 1, 1, S, dtype=cache.latent[0].dtype, device=device).masked_fill_(
        ~valid_BS[:, None, None], float("-inf"))
    if cuda_graph and max_new_tokens > 1:  # (one new token needs no decode step: nothing to capture)
        decode_step = StaticDecodeStep(model, cache, bias_B11S, first_slot=T0)
    else:  # one decoder for the whole generation: its weights are resolved once, not every step
        decoder = compiled_decode_step(model) if compile else LatentDecoder(model)

        def decode_step(ids_B1, positions_B1, slot):
            return decoder(ids_B1, positions_B1, cache, slot, bias_B11S[..., : slot + 1])
    done = [False] * B
    bar = tqdm(total=max_new_tokens, desc=progress, unit="token", leave=False, disable=progress is None)
    for step in range(max_new_tokens):
        bar.update(1)
        next_B = sample_next(logits_BTV[:, -1], temperature, top_p, top_k, generator)
        for b, token in enumerate(next_B.tolist()):
            if done[b]:
                continue
            if token in stop:
                done[b], reasons[b], stops[b] = True, "stop", token
            else:
                out[b].append(token)
        if all(done) or step == max_new_tokens - 1:
            break
        slot = T0 + step
        logits_BTV = decode_step(next_B[:, None], positions_BN[:, step : step + 1], slot)
    bar.close()
    return GenerationResult(out, reasons, lengths, cache.nbytes(), stop_tokens=stops)


# Each model's compiled decode step, with the (device, dtype) of the weights it was built for. Kept here, not on the
# model (the model is plain PyTorch: nothing is stashed on it from outside), and weakly: the entry goes with the model.
# The step references the model's tensors and submodules, never the model itself, so it does not keep its key alive.
_COMPILED_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_decode_step(model: AXK1ForCausalLM):
    """A LatentDecoder's step under torch.compile with dynamic shapes (the cache grows every step), kept for the
    model's weights' device and dtype (a model moved or cast later gets a new one). The decoder is built outside
    the compiled function: dynamo cannot trace its construction (it broke the graph every step)."""
    weight = model.lm_head.weight
    key = (weight.device, weight.dtype)
    cached = _COMPILED_STEPS.get(model)
    if cached is None or cached[0] != key:
        cached = (key, compile_decoder(LatentDecoder(model)))
        _COMPILED_STEPS[model] = cached
    return cached[1]


def compile_decoder(decoder: LatentDecoder, backend: str = "inductor"):
    """`decoder`'s step `(ids_BT, positions_BT, cache, slot, mask_B1TS)` under torch.compile, dynamic only in the
    sizes that change: the attended span (the mask's last size; the slot written is where it ends, so it is no
    int of its own to guard on), the rows and the cache's length. dynamic=True made every size and constant a
    symbol: the weights' shapes, the head count (a span equal to it was then guarded on, and one step later
    compiled again) and the floats (norm eps, attention scale), which AOTAutograd turned into tensors and restarted
    dynamo's analysis for, so the whole step was traced twice."""

    def span_step(ids_BT, positions_BT, cache, mask_B1TS):
        return decoder(ids_BT, positions_BT, cache, mask_B1TS.shape[3] - ids_BT.shape[1], mask_B1TS)

    compiled = torch.compile(span_step, backend=backend)
    marked = weakref.WeakSet()  # caches whose sizes are marked dynamic (a mark stays on its tensor)

    def step(ids_BT, positions_BT, cache, slot: int, mask_B1TS):
        if slot != mask_B1TS.shape[3] - ids_BT.shape[1]:
            raise ValueError(f"the compiled decode step writes where its mask ends (slot "
                             f"{mask_B1TS.shape[3] - ids_BT.shape[1]}), not at slot {slot}")
        # positive dims: torch 2.13 does not honour a negative one. A size of 1 cannot be dynamic ("maybe").
        torch._dynamo.mark_dynamic(mask_B1TS, 3)
        for t in (ids_BT, positions_BT, mask_B1TS):
            torch._dynamo.maybe_mark_dynamic(t, 0)
        if cache not in marked:
            for latent_BSL in cache.latent:
                torch._dynamo.maybe_mark_dynamic(latent_BSL, 0)
                torch._dynamo.maybe_mark_dynamic(latent_BSL, 1)
            marked.add(cache)
        return compiled(ids_BT, positions_BT, cache, mask_B1TS)

    return step
