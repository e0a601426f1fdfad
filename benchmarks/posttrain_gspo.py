"""bench_posttrain.py (b): one GSPO iteration, axk1's `RLTrainer` against TRL's `GRPOTrainer` (see bench_posttrain.py)."""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch

import axk1.posttrain.rl_rollout as rl_rollout
from posttrain_common import BETAS, CLIP, EPS, GSPO_CLIP, LR, SEED, WD, StepClock
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import prompt_text
from axk1.posttrain.rewards import score
from axk1.posttrain.rl import RLTrainer
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.posttrain.tasks import read_task_rows


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
        # micro_batch: rows per forward, as TRL's per-device batch (half the rollout); RL refuses global_* sizes
        "batch": {"micro_batch": args.prompts * args.group // 2},
        "checkpointing": {"interval_steps": 10**9, "dir": str(out / "checkpoints")},
        "logging": {"jsonl": "", "progress": False},
        "run": {"out_dir": str(out), "threads": args.threads},
    }
    return parse_rl_recipe(raw, work)


def rl_axk1(work: Path, model_dir: Path, tasks: Path, args) -> dict:
    """One untimed iteration, then rl_iters timed ones, each rollout(it) + update(...) as RLTrainer.fit runs them.
    Generation ignores the stop token (stop_ids=[]), so every completion is max_new_tokens long."""
    trainer = RLTrainer(rl_recipe(work, model_dir, tasks, args))
    trainer.stop_ids = []  # (a partial over generate lost to the stop_ids the rollout passes itself)
    times, parts, lengths = [], [], []
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
    assert all(ls == [args.completion] for ls in lengths), lengths
    timed = times[1:]
    return {"seconds": statistics.median(timed), "iteration_seconds": [round(t, 3) for t in timed],
            "parts": parts[1:], "completions_per_iteration": args.prompts * args.group}


def rl_prompt_rows(work: Path, model_dir: Path, tasks: Path, args) -> list[dict]:
    """The prompts axk1 draws for iterations 0..rl_iters (sampling round 0), as TRL dataset rows in that order."""
    recipe = rl_recipe(work, model_dir, tasks, args)  # sample_prompts reads the trainer's recipe, tasks and codec
    trainer = SimpleNamespace(recipe=recipe, tasks=read_task_rows(recipe.rl.tasks),
                              codec=ChatCodec.from_folder(model_dir))
    rows = []
    for it in range(args.rl_iters + 1):
        for task, thinking, ids in rl_rollout.sample_prompts(trainer, it, 0):
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


