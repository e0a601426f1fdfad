"""Parameter accounting: build the model on the meta device and sum parameters by role.

Activated parameters are what one token touches: everything except the routed experts it was not sent to
(num_experts_per_tok of n_routed_experts per MoE layer). MTP modules are training-only and listed apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from axk1.config import ModelConfig
from axk1.model import AXK1ForCausalLM


@dataclass
class ParamRow:
    module: str
    total: int
    activated: int


def _role(name: str) -> str:
    if name.startswith("mtp."):
        return "mtp (training only)"
    if name == "model.embed_tokens.weight":
        return "embedding"
    if name == "lm_head.weight":
        return "lm_head"
    if ".self_attn." in name:
        return "attention (MLA)"
    if ".mlp.experts." in name:
        return "routed experts"
    if ".mlp.shared_experts." in name:
        return "shared experts"
    if ".mlp.gate." in name:
        return "router"
    if ".mlp." in name:
        return "dense MLP"
    return "norms"


def count_parameters(config: ModelConfig, with_mtp: bool = False) -> dict:
    with torch.device("meta"):
        model = AXK1ForCausalLM(config, with_mtp=with_mtp)
    active_share = config.num_experts_per_tok / config.n_routed_experts
    rows: dict[str, ParamRow] = {}
    for name, p in model.named_parameters():  # tied weights appear once here
        role = _role(name)
        row = rows.setdefault(role, ParamRow(role, 0, 0))
        row.total += p.numel()
        row.activated += round(p.numel() * active_share) if role == "routed experts" else p.numel()
    main = [r for r in rows.values() if r.module != "mtp (training only)"]
    return {
        "total": sum(r.total for r in main),
        "activated": sum(r.activated for r in main),
        "rows": [asdict(r) for r in rows.values()],
        "mtp": rows["mtp (training only)"].total if "mtp (training only)" in rows else 0,
    }


def format_table(counts: dict, title: str) -> str:
    lines = [title, f"{'module':<22}{'total':>20}{'activated':>20}{'share':>8}"]
    for r in counts["rows"]:
        lines.append(f"{r['module']:<22}{r['total']:>20,}{r['activated']:>20,}{r['total'] / counts['total']:>8.1%}")
    lines.append(f"{'TOTAL (no MTP)':<22}{counts['total']:>20,}{counts['activated']:>20,}")
    lines.append(f"≈ {counts['total'] / 1e9:.2f}B total, {counts['activated'] / 1e9:.2f}B activated per token")
    return "\n".join(lines)
