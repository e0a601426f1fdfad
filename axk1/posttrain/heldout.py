"""Held-out accuracy of a model folder on verified tasks, in both thinking modes, with standard errors.

Greedy decoding (one answer per problem, no sampling luck), the same prompts RL uses (the folder's chat template
with enable_thinking), the same graders as the rewards. Reported per mode: accuracy and format-error rate with
their binomial standard errors sqrt(p(1-p)/n). Two models measured on the same problems are compared by the paired
difference (per problem: 1, 0 or -1), whose standard error is smaller than the two unpaired errors combined.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from axk1.checkpoint.hf import load_model
from axk1.infer.chat import ChatCodec
from axk1.infer.generate import generate
from axk1.infer.generation_config import reply_stop_ids
from axk1.posttrain.chat_data import prompt_text
from axk1.posttrain.rewards import score_all


MODES = ("think", "non-think")


def check_modes(modes: tuple[str, ...]) -> None:
    """Only the two prompt variants exist; any other name would silently measure non-think under its label."""
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"held-out modes {', '.join(bad) or '(none)'} unknown: use think and/or non-think, "
                         "e.g. --modes think,non-think")


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")


@torch.no_grad()
def evaluate_heldout(model_dir: str | Path, tasks: list[dict], modes: tuple[str, ...] = ("think", "non-think"),
                     max_new_tokens: int = 96, batch_size: int = 64, device: str = "cpu",
                     progress: bool = False) -> dict:
    """{mode: {n, accuracy, accuracy_se, format_error, format_error_se, mean_len, correct: [0/1 per task]}}.
    `progress`: a bar of problems answered per mode (`axk1 posttrain heldout` printed nothing for 15 minutes)."""
    from tqdm import tqdm

    check_modes(modes)
    model = load_model(model_dir, device=device).eval()
    codec = ChatCodec.from_folder(model_dir)
    if codec is None:
        raise FileNotFoundError(f"{model_dir} has no tokenizer.json: held-out evaluation renders chat prompts")
    pad = codec.token_id("<|pad|>") or 0
    stop_ids = reply_stop_ids(model_dir, model.config.eos_token_ids, model.config.vocab_size, codec.turn_end)
    out = {}
    for mode in modes:
        thinking = mode == "think"
        prompts = [codec.encode(prompt_text(codec, [{"role": "user", "content": t["prompt"]}], thinking),
                                add_special_tokens=False) for t in tasks]
        texts, reasons, lengths = [], [], []
        bar = tqdm(total=len(prompts), desc=f"heldout {mode}", unit="problem", disable=not progress)
        for i in range(0, len(prompts), batch_size):
            res = generate(model, prompts[i:i + batch_size], max_new_tokens=max_new_tokens, temperature=0.0,
                           stop_ids=stop_ids, pad_id=pad)
            texts += [codec.decode(t) for t in res.tokens]
            reasons += res.finish_reasons
            lengths += [len(t) for t in res.tokens]
            bar.update(len(res.tokens))
        bar.close()
        scores = score_all([(t, x, r, thinking) for t, x, r in zip(tasks, texts, reasons)])
        n = len(tasks)
        acc = sum(s.correct for s in scores) / n
        fmt = sum(not s.format_ok for s in scores) / n
        out[mode] = {"n": n, "accuracy": acc, "accuracy_se": binomial_se(acc, n), "format_error": fmt,
                     "format_error_se": binomial_se(fmt, n), "mean_len": sum(lengths) / n,
                     "correct": [int(s.correct) for s in scores], "samples": texts[:3]}
    return out


def paired_difference(a: list[int], b: list[int]) -> tuple[float, float]:
    """(mean of b − a, its standard error) over the same problems."""
    if len(a) != len(b) or not a:
        raise ValueError("paired comparison needs two equally long, non-empty lists of per-problem results")
    d = [y - x for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)
