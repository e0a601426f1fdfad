"""axk1 post-training vs TRL 1.16 on one config and machine: SFT throughput and one GSPO
iteration.

(a) SFT tokens/s: `axk1.posttrain.sft.run_sft` (the pretraining Trainer over `ChatSampler`'s packed chat rows) vs
    TRL's `SFTTrainer` training transformers 5.23's `AXK1ForCausalLM`, on the same chat rows (rendered once by the
    model folder's chat template; TRL gets the token ids and completion masks, so both train the same tokens), the
    same sequence length, batch size (sequences per optimizer step, no accumulation), optimizer hyper-parameters,
    fp32, same threads. Each side's time runs from the end of its first (untimed) step to the end of its last one,
    taken at the end of every optimizer step (axk1: `Trainer.train_step` returning; TRL: `on_step_end`), so it covers
    everything the loop does between steps (batch assembly, bookkeeping) but not start-up, the first step, the
    final checkpoint or export. tokens/s counts real (non-padding) input tokens of the timed steps. TRL packs
    with its default best-fit decreasing (documents whole and apart, as axk1's rows) and, as a second row, with
    "wrapped" packing (plain [B, T] rows, documents attending across their boundaries). The chat rows are the
    demo's kind: think-mode rows of axk1's generated verified tasks (posttrain/tasks.py).
(b) one GSPO iteration, wall time: axk1's `RLTrainer.rollout(it)` + `RLTrainer.update(...)` (what `fit` runs per
    iteration) vs TRL's `GRPOTrainer` (`importance_sampling_level="sequence"`): the same P prompts (axk1's own
    draw, fed to TRL in that order), G samples each at temperature 1, the same max completion length with every
    completion forced to that length (axk1: no stop token; TRL: `min_new_tokens`), old log-probs once and then two
    optimizer steps on halves of the batch (axk1 `updates_per_batch = 2`; TRL `steps_per_generation = 2`,
    `num_iterations = 1`), the same reward (axk1's `rewards.score`: math answer + think-format check). TRL's time
    is the wall time between the `on_step_end` that closes one generation batch and the one that closes the next;
    each side's generation is timed on its own too (axk1's rollout stats; TRL: the model's `generate` wrapped).
    --profile adds axk1's top ops (torch.profiler) for one SFT step, one rollout and one update.

Both sides hold the same weights (axk1 saves the folder with a tokenizer + chat template as tests/serve_helpers.py
does; transformers loads it). Every round runs every side (fresh trainers), rotating which goes first, so
drift on a shared machine hits both alike; figures are medians over rounds.

    python benchmarks/bench_posttrain.py [--rounds 3] [--threads 2] [--sft-steps 4] [--sft-batch 4] [--sft-seq 512]
        [--rl-iters 2] [--prompts 4] [--group 8] [--completion 64] [--profile] [--json out.json]
    (a small trial: --preset axk1-tiny --vocab 512 --sft-seq 256 --rounds 1)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import axk1  # noqa: E402
import axk1.posttrain.rl as rl_mod  # noqa: E402
from axk1.infer.chat import ChatCodec, write_chat_tokenizer_files  # noqa: E402
from axk1.posttrain.chat_data import load_chat_examples, prompt_text  # noqa: E402
from axk1.posttrain.rewards import score  # noqa: E402
from axk1.posttrain.rl import RLTrainer  # noqa: E402
from axk1.posttrain.rl_recipe import parse_rl_recipe  # noqa: E402
from axk1.posttrain.sft import ChatSampler, parse_sft_recipe, run_sft  # noqa: E402
from axk1.posttrain.tasks import generate_tasks, to_chat, write_jsonl  # noqa: E402
from axk1.train.loss import IGNORE_INDEX  # noqa: E402
from axk1.train.trainer import Trainer  # noqa: E402
from serve_helpers import train_tokenizer  # noqa: E402

LR, BETAS, EPS, WD, CLIP, SEED = 1e-4, (0.9, 0.95), 1e-8, 0.1, 1.0, 1234
GSPO_CLIP = (3e-3, 4e-3)  # axk1's default GSPO clip range, given to TRL as epsilon / epsilon_high


def quiet_hf() -> None:
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    for name in ("transformers", "trl", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    import warnings

    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="torch.distributed is disabled")  # DCP's single-process save


# ---- shared inputs ----
def make_model_folder(path: Path, preset: str, vocab: int) -> axk1.ModelConfig:
    """The model both sides start from: the preset with its vocabulary trimmed and no MTP head, and a byte-level
    BPE + chat template written the way tests/serve_helpers.py does."""
    config = axk1.ModelConfig.from_preset(preset).replace(vocab_size=vocab, num_nextn_predict_layers=0)
    torch.manual_seed(0)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(config), path)
    write_chat_tokenizer_files(path, train_tokenizer(vocab), model_max_length=config.max_position_embeddings)
    return config


def write_chat_rows(path: Path, n: int) -> None:
    """Think-mode chat rows from axk1's generated verified tasks (math and code, English and Korean), as the demo's
    SFT data: user prompt, assistant reasoning_content + answer."""
    write_jsonl(path, [to_chat(t, "think") for t in generate_tasks(n, seed=0)])


def write_tasks(path: Path, n: int) -> None:
    """RL tasks: generated verified math tasks (the integer answer is checked), both languages."""
    write_jsonl(path, generate_tasks(n, seed=1, kinds=("math",)))


class StepClock:
    """perf_counter at the end of every optimizer step."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def tick(self) -> None:
        self.ends.append(time.perf_counter())


# ---- (a) SFT ----
def sft_axk1(work: Path, model_dir: Path, chat: Path, args) -> dict:
    """run_sft with Trainer.train_step and ChatSampler.batch wrapped (in this process only) to time each step and
    count the tokens it trained."""
    out = work / "sft_axk1"
    shutil.rmtree(out, ignore_errors=True)
    recipe = parse_sft_recipe(sft_raw(work, model_dir, chat, args), work)
    clock, counts = StepClock(), []
    orig_step, orig_batch = Trainer.train_step, ChatSampler.batch

    def train_step(self, step):
        row = orig_step(self, step)
        clock.tick()
        return row

    def batch(self, step, rows=None):
        b = orig_batch(self, step, rows)
        counts.append((int((b.ids_BT != self.pad_id).sum()), int((b.labels_BT != IGNORE_INDEX).sum()),
                       b.ids_BT.numel()))
        return b

    Trainer.train_step, ChatSampler.batch = train_step, batch
    try:
        result = run_sft(recipe)
    finally:
        Trainer.train_step, ChatSampler.batch = orig_step, orig_batch
    assert len(clock.ends) == args.sft_steps + 1 == len(counts)
    shutil.rmtree(out, ignore_errors=True)
    timed = counts[1:]
    seconds = clock.ends[-1] - clock.ends[0]
    return {"seconds": seconds, "steps": len(timed), "tokens": sum(c[0] for c in timed),
            "loss_tokens": sum(c[1] for c in timed), "padded_tokens": sum(c[2] for c in timed),
            "tokens_per_s": sum(c[0] for c in timed) / seconds,
            "step_seconds": [round(b - a, 3) for a, b in zip(clock.ends, clock.ends[1:])],
            "first_loss": result["rows"][0]["loss"]}


def sft_raw(work: Path, model_dir: Path, chat: Path, args) -> dict:
    out = work / "sft_axk1"
    return {
        "model": {"init_from": str(model_dir), "mtp_depth": 0},
        "sft": {"data": [str(chat)], "mode": "think", "seq_len": args.sft_seq, "epochs": 100.0, "export": False},
        "data": {"seed": SEED},
        "optimizer": {"lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": WD, "grad_clip": CLIP},
        "schedule": {"kind": "cosine"},
        "batch": {"global_sequences": args.sft_batch, "micro_batch": args.sft_batch},
        "checkpointing": {"interval_steps": 10**9, "dir": str(out / "checkpoints")},
        # peak_tflops given: fit() would otherwise measure the matmul peak at start-up (MFU column); no jsonl
        "logging": {"every_steps": 10**9, "jsonl": "", "progress": False, "peak_tflops": 1.0},
        "run": {"out_dir": str(out), "threads": args.threads, "max_steps": args.sft_steps + 1},
    }


def sft_trl(work: Path, model_dir: Path, chat: Path, args, packing_strategy: str = "bfd") -> dict:
    """TRL's SFTTrainer. "bfd" (best-fit decreasing, TRL's default) keeps documents whole and apart: it forces
    padding-free batches, the step's rows flattened into one sequence whose attention is restricted to each
    document through position_ids. "wrapped" cuts the concatenated stream into rows of exactly max_length: plain
    [B, T] causal batches in which documents attend to each other and may be split across rows."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    codec = ChatCodec.from_folder(model_dir)
    examples, _ = load_chat_examples([chat], codec, "think", args.sft_seq)  # axk1's rendering, the same token ids
    dataset = Dataset.from_dict({
        "input_ids": [e.ids for e in examples],
        "completion_mask": [[0] * e.n_prompt + [1] * (len(e.ids) - e.n_prompt) for e in examples]})
    clock, counts = StepClock(), []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            clock.tick()

    out = work / "sft_trl"
    config = SFTConfig(
        output_dir=str(out), per_device_train_batch_size=args.sft_batch, gradient_accumulation_steps=1,
        max_steps=args.sft_steps + 1, learning_rate=LR, adam_beta1=BETAS[0], adam_beta2=BETAS[1], adam_epsilon=EPS,
        weight_decay=WD, max_grad_norm=CLIP, lr_scheduler_type="cosine", max_length=args.sft_seq, packing=True,
        packing_strategy=packing_strategy, completion_only_loss=True, logging_steps=10**9, save_strategy="no",
        report_to="none", use_cpu=True, disable_tqdm=True, seed=SEED, dataloader_num_workers=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset,
                         processing_class=AutoTokenizer.from_pretrained(model_dir), callbacks=[Clock()])
    collate = trainer.data_collator

    def counting(features):
        b = collate(features)
        n = int(b["attention_mask"].sum()) if "attention_mask" in b else b["position_ids"].numel()
        counts.append((n, int((b["labels"] != -100).sum()), b["input_ids"].numel()))
        return b

    trainer.data_collator = counting
    torch.set_num_threads(args.threads)
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    steps = args.sft_steps + 1
    assert len(clock.ends) == steps and len(counts) >= steps
    timed = counts[1:steps]  # the dataloader may have collated one batch ahead
    seconds = clock.ends[-1] - clock.ends[0]
    return {"seconds": seconds, "steps": len(timed), "tokens": sum(c[0] for c in timed),
            "loss_tokens": sum(c[1] for c in timed), "padded_tokens": sum(c[2] for c in timed),
            "tokens_per_s": sum(c[0] for c in timed) / seconds,
            "step_seconds": [round(b - a, 3) for a, b in zip(clock.ends, clock.ends[1:])],
            "optimizer": type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer")
                              else trainer.optimizer).__name__ + " " + config.optim}


# ---- (b) GSPO ----
def rl_recipe(work: Path, model_dir: Path, tasks: Path, args):
    out = work / "rl_axk1"
    shutil.rmtree(out, ignore_errors=True)
    raw = {
        "model": {"init_from": str(model_dir), "mtp_depth": 0},
        "rl": {"tasks": [str(tasks)], "iterations": args.rl_iters + 1, "prompts_per_step": args.prompts,
               "group_size": args.group, "max_new_tokens": args.completion, "temperature": 1.0, "top_p": 1.0,
               "updates_per_batch": 2, "level": "sequence", "clip_low": GSPO_CLIP[0], "clip_high": GSPO_CLIP[1],
               "aggregation": "token_mean", "beta": 0.0,
               # a random model's groups mostly have equal rewards: dynamic sampling would resample (more
               # generation) or skip the update; truncated samples (all of them here) would leave the loss.
               # TRL does neither by default.
               "dynamic_sampling": False, "overlong": "none", "export": False},
        "data": {"seed": SEED},
        "optimizer": {"lr": LR, "betas": list(BETAS), "eps": EPS, "weight_decay": WD, "grad_clip": CLIP},
        "schedule": {"kind": "constant"},
        # micro_batch: rows per forward, as TRL's per-device batch (half the rollout); global_sequences: unused by RL
        "batch": {"global_sequences": args.prompts * args.group, "micro_batch": args.prompts * args.group // 2},
        "checkpointing": {"interval_steps": 10**9, "dir": str(out / "checkpoints")},
        "logging": {"jsonl": "", "progress": False},
        "run": {"out_dir": str(out), "threads": args.threads},
    }
    return parse_rl_recipe(raw, work)


def rl_axk1(work: Path, model_dir: Path, tasks: Path, args) -> dict:
    """One untimed iteration, then rl_iters timed ones, each rollout(it) + update(...) as RLTrainer.fit runs them.
    Generation ignores the stop token (stop_ids=[]), so every completion is max_new_tokens long."""
    trainer = RLTrainer(rl_recipe(work, model_dir, tasks, args))
    orig = rl_mod.generate
    rl_mod.generate = functools.partial(orig, stop_ids=[])
    times, parts, lengths = [], [], []
    try:
        for it in range(args.rl_iters + 1):
            t0 = time.perf_counter()
            samples, st = trainer.rollout(it)
            t1 = time.perf_counter()
            trainer.update(samples, it * trainer.recipe.rl.updates_per_batch)
            t2 = time.perf_counter()
            times.append(t2 - t0)
            parts.append({"generate_s": round(st["rollout_s"], 3), "rest_s": round(t2 - t0 - st["rollout_s"], 3),
                          "update_s": round(t2 - t1, 3)})
            lengths.append(sorted({len(s["completion"]) for s in samples}))
    finally:
        rl_mod.generate = orig
    assert all(ls == [args.completion] for ls in lengths), lengths
    timed = times[1:]
    return {"seconds": statistics.median(timed), "iteration_seconds": [round(t, 3) for t in timed],
            "parts": parts[1:], "completions_per_iteration": args.prompts * args.group}


def rl_prompt_rows(work: Path, model_dir: Path, tasks: Path, args) -> list[dict]:
    """The prompts axk1 draws for iterations 0..rl_iters (sampling round 0), as TRL dataset rows in that order."""
    trainer = RLTrainer.__new__(RLTrainer)  # only sample_prompts: recipe, tasks, codec
    trainer.recipe = rl_recipe(work, model_dir, tasks, args)
    trainer.tasks = rl_mod.read_task_rows(trainer.recipe.rl.tasks)
    trainer.codec = ChatCodec.from_folder(model_dir)
    rows = []
    for it in range(args.rl_iters + 1):
        for task, thinking, ids in trainer.sample_prompts(it, 0):
            text = prompt_text(trainer.codec, [{"role": "user", "content": task["prompt"]}], thinking)
            assert trainer.codec.encode(text, add_special_tokens=False) == ids
            rows.append({"prompt": text, "ids": ids, "answer": task["answer"], "kind": task["kind"],
                         "thinking": thinking})
    return rows


def rl_trl(work: Path, model_dir: Path, tasks: Path, args) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    codec = ChatCodec.from_folder(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = rl_prompt_rows(work, model_dir, tasks, args)
    # the same prompt text axk1 rendered; checked to tokenize to the same ids the way TRL tokenizes it
    texts = [r["prompt"] for r in rows]
    assert [tokenizer(text=t)["input_ids"] for t in texts] == [r["ids"] for r in rows], "prompt ids differ"
    dataset = Dataset.from_dict({"prompt": texts, "answer": [r["answer"] for r in rows],
                                 "kind": [r["kind"] for r in rows], "thinking": [r["thinking"] for r in rows]})
    eos = tokenizer.eos_token_id
    lengths = []

    def reward(prompts, completions, completion_ids, answer, kind, thinking, **_):
        """axk1's reward (rewards.score) on axk1's decoding of the completion, with axk1's finish reason."""
        out = []
        for ids, a, k, th in zip(completion_ids, answer, kind, thinking):
            lengths.append(len(ids))
            reason = "stop" if ids and ids[-1] == eos else "length"
            text = codec.decode([t for t in ids if t != eos])
            out.append(score({"kind": k, "answer": a, "tests": ""}, text, reason, th).reward)
        return out

    clock = StepClock()

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            clock.tick()

    out = work / "rl_trl"
    n = args.prompts * args.group
    config = GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=n // 2, gradient_accumulation_steps=1,
        steps_per_generation=2, num_iterations=1, num_generations=args.group, max_completion_length=args.completion,
        temperature=1.0, top_p=1.0, top_k=0, generation_kwargs={"min_new_tokens": args.completion},
        importance_sampling_level="sequence", epsilon=GSPO_CLIP[0], epsilon_high=GSPO_CLIP[1], loss_type="dapo",
        beta=0.0, scale_rewards="group", mask_truncated_completions=False, shuffle_dataset=False,
        max_steps=2 * (args.rl_iters + 1), learning_rate=LR, lr_scheduler_type="constant", adam_beta1=BETAS[0],
        adam_beta2=BETAS[1], adam_epsilon=EPS, weight_decay=WD, max_grad_norm=CLIP, logging_steps=10**9,
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=SEED, dataloader_num_workers=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[Clock()])
    generate_s, hf_generate = [], model.generate

    def timed_generate(*a, **k):  # the generation part of each iteration (TRL calls the model's own generate)
        t = time.perf_counter()
        out = hf_generate(*a, **k)
        generate_s.append(time.perf_counter() - t)
        return out

    model.generate = timed_generate
    torch.set_num_threads(args.threads)
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    assert len(clock.ends) == 2 * (args.rl_iters + 1)
    assert set(lengths) == {args.completion}, sorted(set(lengths))
    ends = clock.ends[1::2]  # the end of each generation batch's second optimizer step
    timed = [b - a for a, b in zip(ends, ends[1:])]
    assert len(generate_s) == args.rl_iters + 1
    parts = [{"generate_s": round(g, 3), "rest_s": round(t - g, 3)} for t, g in zip(timed, generate_s[1:])]
    return {"seconds": statistics.median(timed), "iteration_seconds": [round(t, 3) for t in timed], "parts": parts,
            "completions_per_iteration": n, "optimizer": config.optim}


# ---- where axk1's time goes ----
def top_ops(fn, n: int = 8) -> dict:
    """fn() under torch.profiler: wall time (inflated by the profiler) and the n ops with the most self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        fn()
        wall = time.perf_counter() - t
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    return {"wall_s": round(wall, 3), "self_cpu_s": round(total, 3), "ops": sum(e.count for e in events),
            "top": [[e.key, round(e.self_cpu_time_total / 1e6, 3), e.count] for e in events[:n]]}


def profile_axk1(work: Path, model_dir: Path, chat: Path, tasks: Path, args) -> dict:
    """One SFT step, one rollout and one update of axk1, each after an untimed warm-up, under the profiler."""
    out = {}
    recipe = parse_sft_recipe(sft_raw(work, model_dir, chat, args), work)
    sampler = ChatSampler(recipe, ChatCodec.from_folder(model_dir), recipe.model.build_config().vocab_size)
    trainer = Trainer(recipe, sampler=sampler)
    trainer.train_step(0)
    out["sft_step"] = top_ops(lambda: trainer.train_step(1))
    del trainer
    rl = RLTrainer(rl_recipe(work, model_dir, tasks, args))
    orig = rl_mod.generate
    rl_mod.generate = functools.partial(orig, stop_ids=[])
    try:
        rl.update(rl.rollout(0)[0], 0)
        box = {}
        out["gspo_rollout"] = top_ops(lambda: box.update(samples=rl.rollout(1)[0]))
        out["gspo_update"] = top_ops(lambda: rl.update(box["samples"], 2))
    finally:
        rl_mod.generate = orig
    shutil.rmtree(work / "sft_axk1", ignore_errors=True)
    shutil.rmtree(work / "rl_axk1", ignore_errors=True)
    return out


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="axk1-mini")
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sft-steps", type=int, default=4, help="timed SFT steps per run (after one untimed step)")
    p.add_argument("--sft-batch", type=int, default=4, help="sequences per optimizer step")
    p.add_argument("--sft-seq", type=int, default=512, help="packed row length")
    p.add_argument("--chat-rows", type=int, default=400)
    p.add_argument("--rl-iters", type=int, default=2, help="timed GSPO iterations per run (after one untimed)")
    p.add_argument("--prompts", type=int, default=4, help="prompts per iteration (P)")
    p.add_argument("--group", type=int, default=8, help="samples per prompt (G)")
    p.add_argument("--completion", type=int, default=64, help="completion length (max_new_tokens)")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: sft, rl")
    p.add_argument("--profile", action="store_true", help="after the rounds: axk1's top ops per part (profiler)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    quiet_hf()
    import transformers
    import trl

    work = Path(tempfile.mkdtemp(prefix="bench_posttrain_"))
    model_dir, chat, tasks = work / "model", work / "chat.jsonl", work / "tasks.jsonl"
    make_model_folder(model_dir, args.preset, args.vocab)
    write_chat_rows(chat, args.chat_rows)
    write_tasks(tasks, 200)
    n_params = sum(p.numel() for p in axk1.load_model(model_dir).parameters())
    print(f"{args.preset} (vocab {args.vocab}), {n_params / 1e6:.1f}M parameters; {cpu_model()}, {os.cpu_count()} "
          f"cores, {args.threads} threads; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"trl {trl.__version__}; load average {os.getloadavg()[0]:.2f}", flush=True)
    load_start = os.getloadavg()

    sides = {"sft": {"axk1": sft_axk1, "trl": sft_trl,
                     "trl wrapped": functools.partial(sft_trl, packing_strategy="wrapped")},
             "rl": {"axk1": rl_axk1, "trl": rl_trl}}
    runs = {part: {name: [] for name in sides[part]} for part in sides if part not in args.skip.split(",")}
    for r in range(args.rounds):
        for part in runs:
            order = list(sides[part].items())
            for name, fn in order[r % len(order):] + order[:r % len(order)]:  # rotate which side runs first
                res = fn(work, model_dir, chat if part == "sft" else tasks, args)
                runs[part][name].append(res)
                torch.set_num_threads(args.threads)
                figure = (f"{res['tokens_per_s']:8.0f} tok/s ({res['tokens']} tokens in {res['seconds']:.2f} s, "
                          f"steps {res['step_seconds']})" if part == "sft" else
                          f"{res['seconds']:7.2f} s per iteration {res['iteration_seconds']} {res.get('parts', '')}")
                print(f"  round {r + 1} | {part} | {name:11s}: {figure}", flush=True)

    result = {"machine": f"{cpu_model()}, {os.cpu_count()} cores, {args.threads} threads, torch {torch.__version__}, "
                         f"transformers {transformers.__version__}, trl {trl.__version__}",
              "model": f"{args.preset}, vocab {args.vocab}, no MTP, {n_params} parameters",
              "load_average_start_end": [load_start, os.getloadavg()], "args": vars(args), "runs": runs}
    med = lambda xs: statistics.median(list(xs))  # noqa: E731
    table = []
    if "sft" in runs:
        tps = {k: med(x["tokens_per_s"] for x in v) for k, v in runs["sft"].items()}
        result["sft_tokens_per_s"] = tps
        result["sft_ratio"] = tps["axk1"] / tps["trl"]
        result["sft_ratio_per_round"] = [round(a["tokens_per_s"] / t["tokens_per_s"], 3)
                                         for a, t in zip(runs["sft"]["axk1"], runs["sft"]["trl"])]
        result["sft_ratio_vs_trl_wrapped"] = tps["axk1"] / tps["trl wrapped"]
        result["sft_ratio_vs_trl_wrapped_per_round"] = [
            round(a["tokens_per_s"] / t["tokens_per_s"], 3)
            for a, t in zip(runs["sft"]["axk1"], runs["sft"]["trl wrapped"])]
        table.append(("(a) SFT, real tokens/s (TRL: bfd packing)", f"{tps['axk1']:.0f}", f"{tps['trl']:.0f}",
                      f"{result['sft_ratio']:.2f}x (>= 1.5x)", result["sft_ratio_per_round"]))
        table.append(("(a') same, TRL with wrapped packing", f"{tps['axk1']:.0f}", f"{tps['trl wrapped']:.0f}",
                      f"{result['sft_ratio_vs_trl_wrapped']:.2f}x", result["sft_ratio_vs_trl_wrapped_per_round"]))
    if "rl" in runs:
        rl = runs["rl"]
        sec = {k: med(x["seconds"] for x in v) for k, v in rl.items()}
        result["gspo_iteration_seconds"] = sec
        result["gspo_ratio"] = sec["trl"] / sec["axk1"]
        result["gspo_ratio_per_round"] = [round(t["seconds"] / a["seconds"], 3) for a, t in zip(rl["axk1"], rl["trl"])]
        part = {k: {p: med(x[p] for r in v for x in r["parts"]) for p in ("generate_s", "rest_s")}
                for k, v in rl.items()}
        result["gspo_parts_seconds"] = part
        table.append(("(b) GSPO iteration, s", f"{sec['axk1']:.2f}", f"{sec['trl']:.2f}",
                      f"{result['gspo_ratio']:.2f}x (>= 2x)", result["gspo_ratio_per_round"]))
        for p, label in (("generate_s", "    of which generation, s"),
                         ("rest_s", "    the rest (reward, old log-probs, 2 updates), s")):
            table.append((label, f"{part['axk1'][p]:.2f}", f"{part['trl'][p]:.2f}",
                          f"{part['trl'][p] / part['axk1'][p]:.2f}x", ""))
    if args.profile:
        result["profile_axk1"] = prof = profile_axk1(work, model_dir, chat, tasks, args)
        for name, pr in prof.items():
            print(f"profile, axk1 {name}: {pr['wall_s']} s wall under the profiler, {pr['ops']} ops; top self CPU:")
            for op, sec, calls in pr["top"]:
                print(f"    {op[:50]:50s} {sec:8.3f} s {calls:8d} calls")
    print(f"\n{'measurement':50s} {'axk1':>9s} {'TRL':>9s}  ratio      per round")
    for row in table:
        print(f"{row[0]:50s} {row[1]:>9s} {row[2]:>9s}  {row[3]:10s} {row[4]}")
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
