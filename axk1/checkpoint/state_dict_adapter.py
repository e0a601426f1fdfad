"""axk1 state dict ↔ the released A.X K1 Hugging Face tensor names: the one place that knows the mapping.

axk1's module tree mirrors the release (`model.layers.{i}.self_attn.q_a_proj.weight`, ...), so most names map to
themselves. Two things differ:
- experts: axk1 stacks each layer's routed experts as `mlp.experts.gate_up_proj` [E, 2F, D] (gate rows, then up
  rows) and `mlp.experts.down_proj` [E, D, F]; the release stores one tensor per expert and projection,
  `mlp.experts.{j}.{gate,up,down}_proj.weight`;
- MTP: axk1 keeps depth k's module under `mtp.{k-1}.`; it is written like DeepSeek-V3's, as an extra layer
  `model.layers.{num_hidden_layers + k - 1}.*` (its decoder layer's names without `layer.`, `shared_head.norm`),
  with `eh_proj` taking [embedding ‖ hidden state] as DeepSeek-V3's released weights do (axk1/model/mtp.py). Such a
  layer also holds copies of the shared embedding and head, `embed_tokens.weight` and `shared_head.head.weight`, as
  DeepSeek-V3's layer 61 does: vLLM's DeepSeek MTP loader reads only that layer's names. axk1's module has no such
  weights (it uses the main ones), so the copies are not in `to_hf`: `mtp_shared_copies` names them, the writer
  adds them, load_model checks them equal to the main tensors (checkpoint/hf.py) and init_from skips them.
A tied lm_head is not written (it is the embedding). As torchtitan's state_dict_adapter.py, the mapping is plain
functions on names and tensors; reading and writing files is axk1.checkpoint.hf's business. It goes one way: a
folder is read by the released names to_hf gives the model's own keys (checkpoint/hf.py; hf_sharded.py by its
parts hf_name and expert_names), so no inverse mapping has to be kept in step with this one.
"""

from __future__ import annotations

import re

import torch

from axk1.config import ModelConfig

# An axk1 stacked-experts key: group 1 the experts module (axk1 name), group 2 which stack.
EXPERT_KEY = re.compile(r"^((?:model\.layers\.\d+|mtp\.\d+\.layer)\.mlp\.experts)\.(gate_up_proj|down_proj)$")
_MTP_KEY = re.compile(r"^mtp\.(\d+)\.(.+)$")
_HF_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def hf_name(key: str, config: ModelConfig) -> str:
    """axk1 state-dict key → released tensor name; for stacked experts, the released experts prefix
    (`model.layers.{i}.mlp.experts`), to which `expert_names` adds the per-expert part."""
    m = _MTP_KEY.match(key)
    if m is None:
        return key
    layer = config.num_hidden_layers + int(m.group(1))
    rest = m.group(2).removeprefix("layer.").replace("shared_head_norm", "shared_head.norm")
    return f"model.layers.{layer}.{rest}"


def expert_names(prefix: str, j: int) -> tuple[str, str, str]:
    """Released (gate, up, down) names of expert j under the released experts prefix."""
    return tuple(f"{prefix}.{j}.{p}_proj.weight" for p in ("gate", "up", "down"))


def is_mtp(name: str, config: ModelConfig, depth: int | None = None) -> bool:
    """A released name of an MTP layer (DeepSeek-style: a layer index past the main stack). `depth`: how many MTP
    layers there are, where that is known (a folder's own config.json); an index past them is then no MTP layer."""
    m = _HF_LAYER.match(name)
    if m is None or int(m.group(1)) < config.num_hidden_layers:
        return False
    return depth is None or int(m.group(1)) < config.num_hidden_layers + depth


def mtp_shared_copies(config: ModelConfig, depth: int) -> dict[str, str]:
    """For each of `depth` MTP layers, the released names of its copies of the shared embedding and head → the axk1
    key (also the released name) of the main tensor each copies."""
    head = "model.embed_tokens.weight" if config.tie_word_embeddings else "lm_head.weight"
    out = {}
    for k in range(depth):
        layer = config.num_hidden_layers + k
        out[f"model.layers.{layer}.embed_tokens.weight"] = "model.embed_tokens.weight"
        out[f"model.layers.{layer}.shared_head.head.weight"] = head
    return out


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
