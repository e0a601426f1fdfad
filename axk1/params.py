"""Parameter accounting: build the model on the meta device and sum parameters by role.

The decoder's layers come in two shapes only (the first `first_k_dense_replace` dense, the rest MoE), so the model
built has one layer of each shape present and each layer's count is multiplied by how many the config has: a
recipe's `num_hidden_layers = 200000` is counted in a fraction of a second instead of minutes and gigabytes of
meta-device modules.

Activated parameters are what one token touches: everything except the routed experts it was not sent to
(num_experts_per_tok of n_routed_experts per MoE layer). MTP modules are training-only and listed apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from axk1.config import ModelConfig
from axk1.model import AXK1ForCausalLM


@dataclass
class ParamRow:
    module: str
    total: int
    activated: int


# The ModelConfig fields that set the counts (the rest are token ids, RoPE, routing details, init). A config.json
# that leaves one out gets ModelConfig's default, the 519B model's (as transformers' config class fills it).
SIZE_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
               "first_k_dense_replace", "num_attention_heads", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
               "qk_rope_head_dim", "v_head_dim", "n_routed_experts", "n_shared_experts", "num_experts_per_tok",
               "num_nextn_predict_layers", "tie_word_embeddings")
_SET_BY = {"mlp_layer_types": "first_k_dense_replace"}  # transformers 5.x's spelling (ModelConfig.from_dict)


def defaulted_size_fields(keys: set[str]) -> dict[str, Any]:
    """Of SIZE_FIELDS, those a config with these keys leaves to the defaults, with the default each gets."""
    given = set(keys) | {field for key, field in _SET_BY.items() if key in keys}
    return {name: getattr(ModelConfig, name) for name in SIZE_FIELDS if name not in given}


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


def _sample(config: ModelConfig) -> tuple[ModelConfig, dict[int, int]]:
    """(a config with one layer of each shape `config` has, {sample layer index: how many layers it stands for})."""
    n_dense = config.first_k_dense_replace
    n_moe = config.num_hidden_layers - n_dense
    repeats = {i: n for i, n in enumerate(n for n in (n_dense, n_moe) if n > 0)}
    return config.replace(num_hidden_layers=len(repeats), first_k_dense_replace=min(n_dense, 1)), repeats


def _repeats(name: str, repeats: dict[int, int]) -> int:
    if name.startswith("model.layers."):
        return repeats[int(name.split(".")[2])]
    return 1


def count_parameters(config: ModelConfig, with_mtp: bool = False) -> dict:
    sample, repeats = _sample(config)
    with torch.device("meta"):
        model = AXK1ForCausalLM(sample, with_mtp=with_mtp)
    active_share = config.num_experts_per_tok / config.n_routed_experts
    rows: dict[str, ParamRow] = {}
    for name, p in model.named_parameters():  # tied weights appear once here
        role = _role(name)
        row = rows.setdefault(role, ParamRow(role, 0, 0))
        n = _repeats(name, repeats)
        row.total += n * p.numel()
        row.activated += n * (round(p.numel() * active_share) if role == "routed experts" else p.numel())
    main = [r for r in rows.values() if r.module != "mtp (training only)"]
    return {
        "total": sum(r.total for r in main),
        "activated": sum(r.activated for r in main),
        "rows": [asdict(r) for r in rows.values()],
        "mtp": rows["mtp (training only)"].total if "mtp (training only)" in rows else 0,
    }


BYTE_UNITS = (" TB", " GB", " MB", " KB", " B")  # count_text's units for a size in bytes: "6.33 TB", "218.12 MB"


def count_text(n: float, decimals: int = 2, units: tuple[str, ...] = ("T", "B", "M", "K", "")) -> str:
    """A count of parameters or tokens in the unit that fits it: 518_983_059_456 -> "518.98B", 59_206_656 ->
    "59.21M", 7.6e13 -> "75.89T" (a small model is not "0.00B", nor a small plan's tokens "0.00T"). `units` names
    the scales 1e12, 1e9, 1e6, 1e3 and 1: BYTE_UNITS for a size in bytes."""
    for unit, scale in zip(units, (1e12, 1e9, 1e6, 1e3)):
        if round(abs(n) / scale, decimals) >= 1:  # 999.996B reads 1.00T, not 1,000.00B
            return f"{n / scale:,.{decimals}f}{unit}"
    return f"{n:,.0f}{units[4]}"


def format_table(counts: dict, title: str) -> str:
    lines = [title, f"{'module':<22}{'total':>20}{'activated':>20}{'share':>8}"]
    for r in counts["rows"]:
        lines.append(f"{r['module']:<22}{r['total']:>20,}{r['activated']:>20,}{r['total'] / counts['total']:>8.1%}")
    lines.append(f"{'TOTAL (no MTP)':<22}{counts['total']:>20,}{counts['activated']:>20,}")
    lines.append(f"≈ {count_text(counts['total'])} total, {count_text(counts['activated'])} activated per token")
    return "\n".join(lines)
