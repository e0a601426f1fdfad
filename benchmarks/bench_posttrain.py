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
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

from posttrain_common import cpu_model, make_model_folder, quiet_hf, top_ops, write_chat_rows, write_tasks
from posttrain_gspo import rl_axk1, rl_recipe, rl_trl
from posttrain_sft import sft_axk1, sft_raw, sft_trl
import axk1
from axk1.infer.chat import ChatCodec
from axk1.posttrain.rl import RLTrainer
from axk1.posttrain.sft import ChatSampler, parse_sft_recipe
from axk1.train.trainer import Trainer


def profile_axk1(work: Path, model_dir: Path, chat: Path, tasks: Path, args) -> dict:
    """One SFT step, one rollout and one update of axk1, each after an untimed warm-up, under the profiler."""
    out = {}
    recipe = parse_sft_recipe(sft_raw(work, model_dir, chat, args), work)
    sampler = ChatSampler(recipe, ChatCodec.from_folder(model_dir), recipe.model.build_config().vocab_size)
    trainer = Trainer(recipe, sampler=sampler)
    trainer.train_step(0)
    out["sft_step"] = top_ops(lambda: trainer.train_step(1))
    trainer = None  # its memory back before the RL part (the lambda above has run)
    rl = RLTrainer(rl_recipe(work, model_dir, tasks, args))
    rl.stop_ids = []  # every completion max_new_tokens long, as in the timed runs
    rl.update(rl.rollout(0)[0], 0)
    box = {}
    out["gspo_rollout"] = top_ops(lambda: box.update(samples=rl.rollout(1)[0]))
    out["gspo_update"] = top_ops(lambda: rl.update(box["samples"], 2))
    shutil.rmtree(work / "sft_axk1", ignore_errors=True)
    shutil.rmtree(work / "rl_axk1", ignore_errors=True)
    return out




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
