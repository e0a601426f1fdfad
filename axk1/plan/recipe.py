"""The `axk1 train` recipe for a plan: A.X K1's three pretraining stages scaled to the planned token count.

Stage shares, lengths and mixtures are A.X K1's (docs/training.md, "Pretraining stages"): 7T / 1.66T / 0.6T of
9.26T; 4K context, then the decay stage, then 4K -> 16K -> 32K long-context adaptation; constant LR in stage 1,
decay from stage 2 (warmup-stable-decay). Optimizer defaults are DeepSeek-V3's (the A.X K1 values are not
published) and the peak LR and batch come from the plan. The TOML is written by a small writer below (tables,
arrays of tables, scalars).
"""

from __future__ import annotations

import math
from typing import Any

AXK1_STAGES = [  # (name, tokens in the A.X K1 run, sequence length(s), learning-rate phase)
    ("stage1-general", 7.0e12, [4096], "stable"),
    ("stage2-quality-reasoning", 1.66e12, [4096], "decay"),
    ("stage3-long-context", 0.6e12, [4096, 16384, 32768], "decay"),
]
# Percent per domain (docs/training.md, "Pretraining stages"); stage 1 sums to 99.85%, normalised when written.
AXK1_MIXTURES = [
    {"web": 53.41, "code": 17.13, "encyclopedia": 14.84, "qa": 13.04, "books": 0.77, "academic": 0.66},
    {"web": 39.79, "code": 29.42, "encyclopedia": 0.64, "qa": 8.95, "books": 4.35, "academic": 7.23,
     "math": 5.41, "stem": 2.47, "reasoning": 0.82},
    {"web": 33.32, "code": 25.50, "encyclopedia": 0.72, "qa": 5.38, "books": 3.70, "academic": 3.87,
     "math": 9.24, "stem": 9.07, "reasoning": 8.32},
]


def build_recipe(plan: Any, config_path: str = "config.json") -> dict[str, Any]:
    """The recipe as nested dicts, in the sections `axk1 train` reads (axk1/train/recipe.py, docs/configuration.md)."""
    layout = plan.best.memory.layout
    total = sum(t for _, t, _, _ in AXK1_STAGES)
    stages, assigned = [], 0
    for i, ((name, tokens, lengths, phase), mix) in enumerate(zip(AXK1_STAGES, AXK1_MIXTURES)):
        share = tokens / total
        stage_tokens = int(plan.best.tokens - assigned) if i == len(AXK1_STAGES) - 1 else int(plan.best.tokens * share)
        assigned += stage_tokens
        norm = sum(mix.values())
        stages.append({"name": name, "tokens": stage_tokens, "share": round(share, 5), "seq_len": lengths[-1],
                       "seq_len_schedule": lengths, "lr_phase": phase,
                       "mixture": {k: round(v / norm, 5) for k, v in mix.items()}})
    batch_seqs = plan.batch_sequences
    steps = math.ceil(plan.best.tokens / (batch_seqs * plan.seq_len))
    return {
        "model": {"config": config_path, "mtp_depth": 1, "mtp_loss_weight": [0.3, 0.1]},
        "data": {"manifest": "data/manifest.json", "tokenizer": "tokenizer.json", "seed": 1234},
        "optimizer": {"name": "adamw", "lr": float(f"{plan.learning_rate:.3g}"), "betas": [0.9, 0.95], "eps": 1e-8,
                      "weight_decay": 0.1, "grad_clip": 1.0, "master_dtype": "float32"},
        "schedule": {"kind": "wsd", "warmup_steps": min(2000, max(1, steps // 100)), "total_steps": steps,
                     "decay_starts_at_stage": 2, "final_lr_ratio": 0.1},
        "batch": {"global_tokens": batch_seqs * plan.seq_len, "global_sequences": batch_seqs, "micro_batch": 1},
        "moe": {"balancing": "aux-loss-free", "bias_update_rate": 1e-3, "seq_aux_loss_alpha": 0.0},
        "parallelism": {"dp_replicate": layout.dp_replicate, "dp_shard": layout.dp_shard, "ep": layout.ep,
                        "pp": layout.pp, "cp": layout.cp, "activation_checkpointing": layout.recompute,
                        "precision": plan.budget.precision, "gpus": plan.budget.gpus},
        "stages": stages,
        "checkpointing": {"dir": "checkpoints", "interval_steps": 1000, "keep_latest": 3, "async": True},
        "logging": {"every_steps": 10, "jsonl": "metrics.jsonl", "tensorboard": "tb"},
    }


# ---- a minimal TOML writer -------------------------------------------------------------------------------
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _table(prefix: str, table: dict[str, Any], out: list[str], header: str) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_list(v)}
    out.append(header)
    out.extend(f"{k} = {_value(v)}" for k, v in scalars.items())
    out.append("")
    for k, v in table.items():
        if isinstance(v, dict):
            _table(f"{prefix}.{k}", v, out, f"[{prefix}.{k}]")
        elif _is_table_list(v):
            for item in v:
                _table(f"{prefix}.{k}", item, out, f"[[{prefix}.{k}]]")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(doc: dict[str, Any], comment: str = "") -> str:
    out = [f"# {line}" for line in comment.splitlines()] + ([""] if comment else [])
    for key, value in doc.items():
        if _is_table_list(value):
            for item in value:
                _table(key, item, out, f"[[{key}]]")
        elif isinstance(value, dict):
            _table(key, value, out, f"[{key}]")
        else:
            raise TypeError("top-level TOML values must be tables")
    return "\n".join(out).rstrip() + "\n"
