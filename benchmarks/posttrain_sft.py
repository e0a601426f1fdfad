"""bench_posttrain.py (a): SFT tokens/s, axk1's `run_sft` against TRL's `SFTTrainer` (see bench_posttrain.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from posttrain_common import BETAS, CLIP, EPS, LR, SEED, WD, StepClock
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples
from axk1.posttrain.sft import ChatSampler, parse_sft_recipe, run_sft
from axk1.train.loss import IGNORE_INDEX
from axk1.train.trainer import Trainer


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


