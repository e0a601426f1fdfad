"""axk1 state dict ↔ the released A.X K1 Hugging Face tensor names: the one place that knows the mapping.

axk1's module tree mirrors the release (`model.layers.{i}.self_attn.q_a_proj.weight`, ...), so most names map to
themselves. Two things differ:
- experts: axk1 stacks each layer's routed experts as `mlp.experts.gate_up_proj` [E, 2F, D] (gate rows, then up
  rows) and `mlp.experts.down_proj` [E, D, F]; the release stores one tensor per expert and projection,
  `mlp.experts.{j}.{gate,up,down}_proj.weight`;
- MTP: axk1 keeps depth k's module under `mtp.{k-1}.`; it is written like DeepSeek-V3's, as an extra layer
  `model.layers.{num_hidden_layers + k - 1}.*` (its decoder layer's names without `layer.`, `shared_head.norm`).
A tied lm_head is not written (it is the embedding). As torchtitan's state_dict_adapter.py, the mapping is plain
functions on names and tensors; reading and writing files is axk1.checkpoint.hf's business.
"""

from __future__ import annotations

import re

import torch

from axk1.config import ModelConfig

# An axk1 stacked-experts key: group 1 the experts module (axk1 name), group 2 which stack.
EXPERT_KEY = re.compile(r"^((?:model\.layers\.\d+|mtp\.\d+\.layer)\.mlp\.experts)\.(gate_up_proj|down_proj)$")
_MTP_KEY = re.compile(r"^mtp\.(\d+)\.(.+)$")
_HF_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_HF_EXPERT = re.compile(r"^(.+\.mlp\.experts)\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$")
# MTP module parts outside its decoder layer (their axk1 names have no `layer.`)
_MTP_OWN = ("enorm.", "hnorm.", "eh_proj.", "shared_head_norm.")


def hf_name(key: str, config: ModelConfig) -> str:
    """axk1 state-dict key → released tensor name; for stacked experts, the released experts prefix
    (`model.layers.{i}.mlp.experts`), to which `expert_names` adds the per-expert part."""
    m = _MTP_KEY.match(key)
    if m is None:
        return key
    layer = config.num_hidden_layers + int(m.group(1))
    rest = m.group(2).removeprefix("layer.").replace("shared_head_norm", "shared_head.norm")
    return f"model.layers.{layer}.{rest}"


def axk1_name(name: str, config: ModelConfig) -> str:
    """Released tensor name (not a per-expert one) → axk1 state-dict key: the inverse of hf_name."""
    m = _HF_LAYER.match(name)
    if m is None or int(m.group(1)) < config.num_hidden_layers:
        return name
    rest = m.group(2).replace("shared_head.norm", "shared_head_norm")
    inner = "" if rest.startswith(_MTP_OWN) else "layer."
    return f"mtp.{int(m.group(1)) - config.num_hidden_layers}.{inner}{rest}"


def expert_names(prefix: str, j: int) -> tuple[str, str, str]:
    """Released (gate, up, down) names of expert j under the released experts prefix."""
    return tuple(f"{prefix}.{j}.{p}_proj.weight" for p in ("gate", "up", "down"))


def is_mtp(name: str, config: ModelConfig) -> bool:
    """A released name of an MTP layer (DeepSeek-style: a layer index past the main stack)."""
    m = _HF_LAYER.match(name)
    return m is not None and int(m.group(1)) >= config.num_hidden_layers


def may_be_absent(name: str, config: ModelConfig) -> bool:
    """Released names a valid folder may lack: the balancing bias (the release has none) and the dense layers'
    unused post-MoE norm (transformers does not save it)."""
    if name.endswith(".mlp.gate.e_score_correction_bias"):
        return True
    m = re.match(r"^model\.layers\.(\d+)\.post_mlp_layernorm\.weight$", name)
    return m is not None and not config.is_moe_layer(int(m.group(1)))


def to_hf(state_dict: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """Released name → tensor for an axk1 state dict, experts split into views of the stacks (no copies: writing
    into a returned tensor writes the axk1 tensor, which is how loading fills a model in place)."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if key == "lm_head.weight" and config.tie_word_embeddings:
            continue
        expert = EXPERT_KEY.match(key)
        if expert is None:
            out[hf_name(key, config)] = tensor
            continue
        prefix, width = hf_name(expert.group(1), config), config.moe_intermediate_size
        for j in range(tensor.shape[0]):
            gate, up, down = expert_names(prefix, j)
            if expert.group(2) == "down_proj":
                out[down] = tensor[j]
            else:  # fused gate_up: gate rows, then up rows
                out[gate], out[up] = tensor[j, :width], tensor[j, width:]
    return out


def from_hf(hf_state_dict: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """axk1 state dict from released names → tensors (the inverse of to_hf): per-expert tensors are stacked, a
    tied lm_head is the embedding. Tensors the folder may lack stay absent (see may_be_absent)."""
    out: dict[str, torch.Tensor] = {}
    experts: dict[str, dict[int, dict[str, torch.Tensor]]] = {}  # released prefix -> expert -> projection -> tensor
    for name, tensor in hf_state_dict.items():
        m = _HF_EXPERT.match(name)
        if m is None:
            out[axk1_name(name, config)] = tensor
        else:
            experts.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = tensor
    for prefix, by_expert in experts.items():
        key = axk1_name(prefix, config)
        order = sorted(by_expert)
        if order != list(range(len(order))):
            raise ValueError(f"{prefix}: experts {order} are not 0..{len(order) - 1}")
        out[f"{key}.gate_up_proj"] = torch.stack([torch.cat([by_expert[j]["gate_proj"], by_expert[j]["up_proj"]])
                                                  for j in order])
        out[f"{key}.down_proj"] = torch.stack([by_expert[j]["down_proj"] for j in order])
    if config.tie_word_embeddings and "model.embed_tokens.weight" in out:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out
