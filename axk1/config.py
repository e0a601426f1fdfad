"""ModelConfig: the A.X K1 architecture as one validated dataclass.

Field names and meanings follow transformers' `AXK1Config` (and the DeepSeek-V3 config it derives from), so a
`config.json` written here loads in transformers 5.23 as `AXK1Config`, and the hub's (model_type "AXK1") loads here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from axk1.atomic_file import atomic_writer
from axk1.json_text import read_json_file
from axk1.output_folder import interrupted_swap_hint
from axk1.rope_scaling import json_number
from axk1.rope_scaling import normalise_rope_scaling, yarn_mscale

CONFIG_NAME = "config.json"
# A training run's checkpoints: <checkpoints>/step-NNNNNN/ folders, each complete once it holds train_state.json.
# axk1/checkpoint/dcp.py writes and lists them by these names; model_folder_hint below recognises a run folder by them.
STEP_PREFIX = "step-"
TRAIN_STATE = "train_state.json"
# The longest context a config may declare (max_position_embeddings, or YaRN's extended length): 16,777,216 tokens,
# 128 x A.X K1's 131,072. Past it no cache could be allocated: 10**15 was accepted, and serve then tried to allocate a
# latent cache of ~447M GiB.
MAX_POSITION_EMBEDDINGS = 1 << 24
# A config.json naming none of these (its type, the sizes that shape every weight) describes no model; one naming
# some is filled with the 519B defaults, as transformers' config class does (`axk1 params` says which). The most of
# it read: A.X K1's is about 2 KB, one with a layer type per layer of a deep model a few tens of KB
MODEL_FIELDS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
MAX_CONFIG_BYTES = 4 << 20
# dtype names -> torch dtypes: the one table of them, read through parse_dtype by every `--dtype` flag, config.json's
# "dtype", [rl] push_dtype and the evaluation backends. Not to be confused with the precisions, which are modes,
# not dtypes: [parallelism] precision ("fp32" | "bf16") is how training computes, `axk1 plan --precision`
# ("bf16" | "fp8") which of a GPU's peak rates a budget assumes.
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_dtype(name: object, what: str = "dtype", choices: tuple[str, ...] = tuple(DTYPES),
                todo: str = "") -> torch.dtype:
    """The torch dtype `name` stands for: one of `choices` (DTYPES' names unless narrowed), also as transformers
    writes it in a config.json ("torch.bfloat16"). `what` names the setting in the error, `todo` is added to it."""
    key = name.removeprefix("torch.") if isinstance(name, str) else None
    if key not in choices:
        raise ValueError(f"{what} {name!r} is not a dtype axk1 takes: use {', '.join(choices)}{todo}")
    return DTYPES[key]


def config_dtype(c: ModelConfig) -> torch.dtype:
    """The dtype a model folder's config.json stores its weights in: "dtype", or the older "torch_dtype" (float32
    when it names none), so every reader (the loader, memory estimates) counts the same bytes."""
    name = c.extra.get("dtype") or c.extra.get("torch_dtype") or "float32"
    return parse_dtype(name, "config.json dtype", todo="; pass --dtype or fix config.json")


# what to give where a model folder is refused (a dry run's refusal lists it among its ways out: train/cli.py)
GIVE_MODEL_FOLDER = ("give a model folder (config.json next to its safetensors weights, as `axk1 export` or "
                     "`axk1.save_pretrained` writes)")


def model_config_file(folder: str | Path, role: str = "", also: str = "") -> Path:
    """The config.json of model folder `folder`: the one check, made by every command and loader that takes a model
    folder, that `folder` is one (it exists, is a folder, and holds config.json as a readable regular file). Its
    error names the folder, what is missing and what to give instead, with where the model is when `folder` is a
    run's own folder. `role` is put in front ("merge input A", "[model] init_from"); `also` names other accepted
    forms after the folder (", hf:<path-or-id> or openai:<base-url>")."""
    folder = Path(folder)
    where = f"{role}: " if role else ""
    todo = f"{GIVE_MODEL_FOLDER}{also}"
    if not folder.exists():
        raise FileNotFoundError(f"{where}{folder} does not exist: {todo}{interrupted_swap_hint(folder)}")
    if not folder.is_dir():
        raise NotADirectoryError(f"{where}{folder} is a file, not a model folder: {todo}")
    file = folder / CONFIG_NAME
    if not file.exists():
        raise FileNotFoundError(f"{where}{folder} has no {CONFIG_NAME}, so it is not a model folder: {todo}"
                                f"{model_folder_hint(folder)}")
    if not file.is_file():  # a folder or a FIFO there (a read of a FIFO would block forever)
        raise ValueError(f"{where}{file} is not a regular file: replace it with the model's {CONFIG_NAME} or "
                         "re-export the folder")
    if not os.access(file, os.R_OK):
        raise PermissionError(f"{where}{file} cannot be read (permission denied): make it readable (chmod +r)")
    return file


def model_folder_hint(path: str | Path) -> str:
    """For an error about a folder without config.json: where the model is when `path` is a training or
    post-training run's own folder (the usual mistake: `axk1 generate out/train`), else "". A run keeps its
    checkpoints in step-NNNNNN/ folders with train_state.json (STEP_PREFIX and TRAIN_STATE, the names
    axk1/checkpoint/dcp.py writes, a layer above this one) and an sft or rl run exports its model into model/."""
    path = Path(path)
    if (path / "model" / CONFIG_NAME).is_file():
        return f"; {path} is a run folder: its model is {path / 'model'}"
    steps = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if (path / TRAIN_STATE).is_file() or any(steps.glob(f"{STEP_PREFIX}*/{TRAIN_STATE}")):
        return (f"; {path} holds training checkpoints, not a model: export them first "
                f"(`axk1 export {steps} DIR --tokenizer out/data/tokenizer`) and give DIR")
    return ""


@dataclass
class ModelConfig:
    vocab_size: int = 163840
    hidden_size: int = 7168
    intermediate_size: int = 18432  # dense SwiGLU width (the first `first_k_dense_replace` layers)
    moe_intermediate_size: int = 2048  # width of one routed or shared expert
    num_hidden_layers: int = 61
    first_k_dense_replace: int = 1
    num_attention_heads: int = 64
    q_lora_rank: int = 1536
    kv_lora_rank: int = 512
    qk_nope_head_dim: int = 128
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128
    n_routed_experts: int = 192
    n_shared_experts: int = 1
    num_experts_per_tok: int = 8
    n_group: int = 8
    topk_group: int = 4
    routed_scaling_factor: float = 2.5
    norm_topk_prob: bool = True
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    # None, or YaRN: {"type": "yarn", "factor", "original_max_position_embeddings", "beta_fast", "beta_slow",
    # "mscale", "mscale_all_dim"} (DeepSeek's field names).
    rope_scaling: dict[str, Any] | None = None
    rope_interleave: bool = True
    max_position_embeddings: int = 131072
    num_nextn_predict_layers: int = 1  # MTP depth used in training; the release ships no MTP weights
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02
    bos_token_id: int | None = 163691
    eos_token_id: int | list[int] | None = 163691
    pad_token_id: int | None = None
    # Accepted for compatibility; only the values A.X K1 uses are supported (checked in validate()).
    hidden_act: str = "silu"
    attention_bias: bool = False
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # "default" is plain RoPE, as transformers reads it: a recipe's TOML overrides have no null to write
        if isinstance(self.rope_scaling, dict) and self.rope_scaling.get(
                "type", self.rope_scaling.get("rope_type")) == "default":
            self.rope_scaling = None
        if isinstance(self.rope_scaling, dict) and "original_max_position_embeddings" not in self.rope_scaling:
            # as transformers reads a YaRN block without it: the model's own context is the original length
            self.rope_scaling = {**self.rope_scaling, "original_max_position_embeddings": self.max_position_embeddings}
        if self.rope_scaling is not None:
            self.rope_scaling = normalise_rope_scaling(self.rope_scaling)
        self.validate()

    # ---- derived sizes -------------------------------------------------------------------------------
    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def context_length(self) -> int:
        """The tokens the model takes (serve's default --max-model-len, generate's and eval's limit): config.json's
        max_position_embeddings, or with YaRN factor x original_max_position_embeddings where that is longer, as
        vLLM derives a YaRN model's length. A released config may hold either the original or the extended length
        in max_position_embeddings; transformers generates past it either way (docs/model.md)."""
        if self.rope_scaling is None:
            return self.max_position_embeddings
        extended = int(self.rope_scaling["factor"] * self.rope_scaling["original_max_position_embeddings"])
        return max(self.max_position_embeddings, extended)

    @property
    def experts_per_group(self) -> int:
        return self.n_routed_experts // self.n_group

    def is_moe_layer(self, layer_idx: int) -> bool:
        return layer_idx >= self.first_k_dense_replace

    @property
    def eos_token_ids(self) -> list[int]:
        if self.eos_token_id is None:
            return []
        return list(self.eos_token_id) if isinstance(self.eos_token_id, (list, tuple)) else [self.eos_token_id]

    # ---- validation ----------------------------------------------------------------------------------
    def validate(self) -> None:
        positive = [
            "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
            "num_attention_heads", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
            "v_head_dim", "n_routed_experts", "num_experts_per_tok", "n_group", "topk_group",
            "max_position_embeddings",
        ]
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        for name in ("n_shared_experts", "first_k_dense_replace", "num_nextn_predict_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ModelConfig.{name} must be a non-negative integer, got {value!r}")
        if self.first_k_dense_replace > self.num_hidden_layers:
            raise ValueError(
                f"ModelConfig.first_k_dense_replace ({self.first_k_dense_replace}) exceeds num_hidden_layers "
                f"({self.num_hidden_layers})"
            )
        if self.qk_rope_head_dim % 2:
            raise ValueError(f"ModelConfig.qk_rope_head_dim must be even (RoPE rotates pairs), got {self.qk_rope_head_dim}")
        if self.n_routed_experts % self.n_group:
            raise ValueError(
                f"ModelConfig.n_routed_experts ({self.n_routed_experts}) must be divisible by n_group ({self.n_group})"
            )
        if self.topk_group > self.n_group:
            raise ValueError(f"ModelConfig.topk_group ({self.topk_group}) must be <= n_group ({self.n_group})")
        if self.experts_per_group < 2 and self.n_group > 1:
            raise ValueError(
                f"ModelConfig.n_group ({self.n_group}) leaves {self.experts_per_group} expert per group; a group's "
                "score is the sum of its top-2 experts, so each group needs at least 2 (lower n_group)"
            )
        if self.num_experts_per_tok > self.topk_group * self.experts_per_group:
            raise ValueError(
                f"ModelConfig.num_experts_per_tok ({self.num_experts_per_tok}) exceeds the experts in the kept groups "
                f"(topk_group {self.topk_group} x {self.experts_per_group} per group); raise topk_group or lower it"
            )
        for name in ("routed_scaling_factor", "rms_norm_eps", "rope_theta", "initializer_range"):
            _check_positive_float(f"ModelConfig.{name}", getattr(self, name))
        for name in ("norm_topk_prob", "rope_interleave", "tie_word_embeddings", "attention_bias"):
            if not isinstance(getattr(self, name), bool):  # the string "false" would read as true
                raise ValueError(f"ModelConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.hidden_act != "silu":
            raise ValueError(f"ModelConfig.hidden_act must be 'silu' (SwiGLU), got {self.hidden_act!r}")
        if self.attention_bias:
            raise ValueError("ModelConfig.attention_bias must be false: A.X K1 has no biases")
        if isinstance(self.eos_token_id, tuple):
            self.eos_token_id = list(self.eos_token_id)
        for name in ("bos_token_id", "pad_token_id", "eos_token_id"):
            value = getattr(self, name)
            for token_id in value if isinstance(value, list) else [value]:
                if token_id is None and not isinstance(value, list):
                    continue
                if not isinstance(token_id, int) or isinstance(token_id, bool) or not 0 <= token_id < self.vocab_size:
                    raise ValueError(f"ModelConfig.{name} must be a token id in [0, vocab_size = {self.vocab_size}), "
                                     f"got {token_id!r}")
        if self.rope_scaling is not None:
            factor = self.rope_scaling["factor"]
            if not factor >= 1:  # NaN fails this too
                raise ValueError(f"ModelConfig.rope_scaling.factor must be >= 1, got {factor}")
        if self.context_length > MAX_POSITION_EMBEDDINGS:
            what = "max_position_embeddings" if self.context_length == self.max_position_embeddings else \
                "context length (YaRN factor x original_max_position_embeddings)"
            raise ValueError(f"ModelConfig.{what} is {self.context_length:,} tokens, past the most axk1 takes "
                             f"({MAX_POSITION_EMBEDDINGS:,}): no attention cache that long could be allocated; give "
                             "the length the model was trained for")

    # ---- YaRN-derived constants --------------------------------------------------------------------
    def softmax_scale(self) -> float:
        """1/sqrt(qk_head_dim), times mscale^2 when YaRN sets mscale_all_dim (DeepSeek's convention)."""
        scale = self.qk_head_dim ** -0.5
        if self.rope_scaling is not None and self.rope_scaling.get("mscale_all_dim"):
            m = yarn_mscale(self.rope_scaling["factor"], self.rope_scaling["mscale_all_dim"])
            scale *= m * m
        return scale

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str) -> "ModelConfig":
        from axk1.presets import PRESETS

        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
        return cls(**PRESETS[name])

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ModelConfig":
        """Accepts transformers 5.x (`rope_parameters`, `mlp_layer_types`) and hub/DeepSeek style (`rope_scaling`)."""
        if not isinstance(raw, dict):
            raise ValueError(f"a model config must be a JSON object of fields, got {type(raw).__name__}")
        raw = dict(raw)
        model_type = raw.pop("model_type", "axk1")
        if str(model_type).lower() == "deepseek_v3":  # the same fields, so it would pass here and fail on the weights
            raise ValueError("config model_type is 'deepseek_v3': this is a DeepSeek-V3 model, which axk1 does not "
                             "load. A.X K1 is DeepSeek-V3 plus a norm after each layer's MLP (post_mlp_layernorm), "
                             "which a DeepSeek-V3 folder lacks; axk1 reads A.X K1 folders (model_type 'axk1', or the "
                             "hub's 'AXK1')")
        if str(model_type).lower() != "axk1":
            raise ValueError(f"config model_type is {model_type!r}; axk1 reads 'axk1' (or the hub's 'AXK1')")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        rope_parameters = raw.pop("rope_parameters", None)
        if rope_parameters:
            if not isinstance(rope_parameters, dict):
                raise ValueError(f"config rope_parameters must be an object, got {rope_parameters!r}")
            rope_parameters = dict(rope_parameters)
            if "rope_theta" in rope_parameters:
                kwargs["rope_theta"] = json_number("rope_parameters.rope_theta", rope_parameters.pop("rope_theta"))
            kind = rope_parameters.get("rope_type", rope_parameters.get("type", "default"))
            # a `"rope_scaling": null` beside it defers to rope_parameters, as in transformers (not a YaRN switch-off)
            if kind != "default" and raw.get("rope_scaling") is None:
                raw["rope_scaling"] = rope_parameters
        layer_types = raw.pop("mlp_layer_types", None)
        if layer_types is not None:
            if not isinstance(layer_types, list) or len(layer_types) != raw.get("num_hidden_layers", len(layer_types)):
                raise ValueError(f"config mlp_layer_types must be a list of one 'dense'/'sparse' per layer "
                                 f"(num_hidden_layers = {raw.get('num_hidden_layers')!r}), got {layer_types!r}"[:300])
            n_dense = next((i for i, t in enumerate(layer_types) if t != "dense"), len(layer_types))
            if any(t != "sparse" for t in layer_types[n_dense:]):
                raise ValueError(
                    f"config mlp_layer_types {layer_types} is unsupported: axk1 needs dense layers first, then all sparse"
                )
            kwargs["first_k_dense_replace"] = n_dense
        if raw.get("moe_layer_freq", 1) != 1:
            raise ValueError(f"config moe_layer_freq={raw['moe_layer_freq']} is unsupported (A.X K1 uses 1)")
        if raw.get("num_key_value_heads") not in (None, raw.get("num_attention_heads", cls.num_attention_heads)):
            raise ValueError("config num_key_value_heads must equal num_attention_heads (MLA has no grouped KV heads)")
        if raw.get("scoring_func", "sigmoid") != "sigmoid":
            raise ValueError(f"config scoring_func={raw['scoring_func']!r} is unsupported (A.X K1 routes with sigmoid)")
        if raw.get("topk_method", "noaux_tc") != "noaux_tc":  # DeepSeek-V2's greedy methods pick experts otherwise
            raise ValueError(f"config topk_method={raw['topk_method']!r} is unsupported (A.X K1 routes with "
                             "'noaux_tc': group-limited top-k on sigmoid scores plus the correction bias)")
        if raw.get("rope_scaling") is not None and not isinstance(raw["rope_scaling"], dict):
            raise ValueError(f"config rope_scaling must be an object such as {{\"type\": \"yarn\", \"factor\": 4, "
                             f"...}} or null, got {raw['rope_scaling']!r}")
        if raw.get("rope_scaling") is not None and raw["rope_scaling"].get("type", raw["rope_scaling"].get("rope_type")) in (None, "default"):
            raw["rope_scaling"] = None
        extra = {}
        for key, value in raw.items():
            if key in known:
                kwargs.setdefault(key, value)
            else:
                extra[key] = value
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The `config.json` content: transformers 5.23's AXK1Config fields plus DeepSeek-style aliases."""
        rope_parameters: dict[str, Any] = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling is not None:
            rope_parameters = {"rope_type": "yarn", "rope_theta": self.rope_theta,
                               **{k: v for k, v in self.rope_scaling.items() if k != "type"}}
        out: dict[str, Any] = {"architectures": ["AXK1ForCausalLM"], "model_type": "axk1"}
        for f in dataclasses.fields(self):
            if f.name not in ("extra", "rope_scaling", "rope_theta"):
                out[f.name] = getattr(self, f.name)
        out.update(
            num_key_value_heads=self.num_attention_heads,
            mlp_layer_types=["sparse" if self.is_moe_layer(i) else "dense" for i in range(self.num_hidden_layers)],
            rope_parameters=rope_parameters,
            moe_layer_freq=1,
            scoring_func="sigmoid",
            topk_method="noaux_tc",
        )
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "ModelConfig":
        """From a model folder (checked by model_config_file) or a config.json file."""
        path = Path(path)
        file = path if path.is_file() else model_config_file(path)
        if file.stat().st_size > MAX_CONFIG_BYTES:  # before it is read whole (a 300 MB file was)
            raise ValueError(f"{file} is {file.stat().st_size:,} bytes, not a model's config.json (A.X K1's is a few "
                             f"KB; at most {MAX_CONFIG_BYTES:,} are read): fix the file or re-export the folder")
        raw = read_json_file(file, "fix the file or re-export the folder")
        # a file without them was read as the defaults (A.X K1 519B's), and the errors that followed blamed it for
        # values it never held (`num_hidden_layers = 61` against a folder of 2 layers)
        if isinstance(raw, dict) and not any(k in raw for k in MODEL_FIELDS):  # else: from_dict says what it is
            raise ValueError(f"{file} has none of {', '.join(MODEL_FIELDS)}: it does not describe a model (axk1 reads "
                             "A.X K1's config.json, model_type 'axk1', with its sizes); fix the file or re-export the "
                             "folder")
        try:
            return cls.from_dict(raw)
        except (ValueError, TypeError) as e:  # TypeError: a field name the dataclass lacks (e.g. `extra`)
            raise ValueError(f"{file}: {e}; fix the file or re-export the folder") from e

    def save_pretrained(self, path: str | Path, dtype: torch.dtype | str | None = None) -> Path:
        """`path`/config.json, the one writer of it (export, `axk1 plan`, its sweeps); `dtype` is the weights' dtype
        the folder stores (transformers' "dtype" key), for readers that load in it."""
        content = self.to_dict()
        if dtype is not None:
            content["dtype"] = str(parse_dtype(str(dtype), "config.json dtype")).removeprefix("torch.")
        with atomic_writer(Path(path) / CONFIG_NAME) as f:  # whole or not at all: a cut one is no model folder
            f.write(json.dumps(content, indent=2, sort_keys=True) + "\n")
        return Path(path) / CONFIG_NAME

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)


def _check_positive_float(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
