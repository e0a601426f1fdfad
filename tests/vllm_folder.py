"""Serving at scale elsewhere: what an exported axk1 folder must hold for vLLM (and transformers) to serve it. The
test suite's check of the folders axk1 writes (no command runs it: `axk1 export` writes them this way).

`axk1 serve` is for laptops, tests and synthetic-data jobs on small models; the 519B model is served by vLLM on
many GPUs. vLLM reads the same Hugging Face folder axk1 writes:

* `config.json`: `architectures: ["AXK1ForCausalLM"]` picks vLLM's A.X K1 implementation (vLLM PR #32407);
  `model_type: "axk1"` is transformers 5's spelling (some vLLM builds register the config as "AXK1"; the
  architecture name is what selects the model). vLLM's MoE layer also reads `scoring_func` ("sigmoid"),
  `topk_method` ("noaux_tc": the router has `e_score_correction_bias`), `n_group`, `topk_group`,
  `norm_topk_prob`, `routed_scaling_factor`, `hidden_act` ("silu"), `first_k_dense_replace`, the MLA ranks and
  head dims, and the rope parameters.
* Weights: safetensors with the released tensor names, experts one tensor each
  (`model.layers.{i}.mlp.experts.{j}.{gate,up,down}_proj.weight`); vLLM fuses gate/up itself. MTP layers
  (`model.layers.{num_hidden_layers + k}.*`, in `mtp.safetensors`) are skipped by the main model's loader.
* Tokenizer: `tokenizer.json` (byte-level BPE) with `tokenizer_config.json` (`PreTrainedTokenizerFast`, eos
  `<|im_end|>`), and the chat template (`chat_template.jinja`, also kept in tokenizer_config.json) honouring
  `enable_thinking`; `<think>`/`</think>` must be single tokens so the reasoning parser can find them, and
  `<tool_call>`/`</tool_call>` so the hermes tool parser starts at all (it refuses a tokenizer without them).

Command line that serves such a folder the way SK Telecom's integrator tested it (docs/model.md, "Serving"):

    vllm serve <folder> --tensor-parallel-size 8 --reasoning-parser deepseek_v3 \\
        --enable-auto-tool-choice --tool-call-parser hermes

`check_vllm_folder` lists what is missing or wrong; `axk1.text.tokenizer_file.write_tokenizer_files` writes the
tokenizer side. The test suite loads such a folder with transformers (config, weights with no missing or
unexpected keys, tokenizer, the same rendered chat prompt as `axk1 serve`).
"""

from __future__ import annotations

from pathlib import Path

from axk1.config import model_config_file
from axk1.text.chat_template import read_chat_template
from axk1.json_text import read_json_file
from axk1.text.tokenizer_file import THINK_TAGS, TOOL_TAGS

CONFIG_VALUES = {"architectures": ["AXK1ForCausalLM"], "model_type": "axk1", "scoring_func": "sigmoid",
                 "topk_method": "noaux_tc", "hidden_act": "silu"}
CONFIG_KEYS = ["n_group", "topk_group", "norm_topk_prob", "routed_scaling_factor", "first_k_dense_replace",
               "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "moe_intermediate_size",
               "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
               "max_position_embeddings"]
FIX = "fix it or re-export the folder"


def check_vllm_folder(folder: str | Path) -> list[str]:
    """Problems that would stop vLLM (or transformers) from serving `folder` as A.X K1; [] when none."""
    folder = Path(folder)
    problems: list[str] = []
    try:
        config = read_json_file(model_config_file(folder), FIX, need_object=True)
    except (OSError, ValueError) as e:  # not a model folder, or no config in it: nothing else can be checked
        return [str(e)]
    for key, value in CONFIG_VALUES.items():
        if config.get(key) != value:
            problems.append(f"config.json: {key} is {config.get(key)!r}, expected {value!r}")
    problems += [f"config.json: {key} is missing" for key in CONFIG_KEYS if key not in config]
    if not (config.get("rope_parameters") or config.get("rope_scaling") or "rope_theta" in config):
        problems.append("config.json: no rope parameters (rope_parameters / rope_scaling / rope_theta)")
    try:
        names = _tensor_names(folder)
    except (OSError, ValueError) as e:  # a broken index: its problem, and the tensors go unchecked
        problems.append(str(e))
    else:
        problems += _weight_problems(config, names)
    problems += _tokenizer_problems(folder)
    return problems


def _weight_problems(config: dict, names: set[str]) -> list[str]:
    problems = []
    if not names:
        problems.append("no model.safetensors or model.safetensors.index.json")
    else:
        layers = config.get("num_hidden_layers", 0)
        first_dense = config.get("first_k_dense_replace", 0)
        wanted = ["model.embed_tokens.weight", "model.norm.weight", "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"]
        if not config.get("tie_word_embeddings"):
            wanted.append("lm_head.weight")
        if layers > first_dense:
            moe = f"model.layers.{first_dense}.mlp"
            wanted += [f"{moe}.gate.weight", f"{moe}.gate.e_score_correction_bias", f"{moe}.experts.0.gate_proj.weight",
                       f"{moe}.shared_experts.down_proj.weight"]
        problems += [f"weights: tensor {name} is missing" for name in wanted if name not in names]
        stray = sorted(n for n in names if n.startswith(f"model.layers.{layers}."))
        if stray:
            problems.append(f"weights: MTP tensors ({stray[0]}, ...) belong in mtp.safetensors, not the main files")
    return problems


def _tensor_names(folder: Path) -> set[str]:
    if (folder / "model.safetensors.index.json").exists():
        file = folder / "model.safetensors.index.json"
        weight_map = read_json_file(file, FIX, what="safetensors index", need_object=True).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ValueError(f"safetensors index {file} has no \"weight_map\" object: {FIX}")
        return set(weight_map)
    if (folder / "model.safetensors").exists():
        from safetensors import safe_open

        with safe_open(folder / "model.safetensors", "pt") as f:
            return set(f.keys())
    return set()


def _tokenizer_problems(folder: Path) -> list[str]:
    if not (folder / "tokenizer.json").exists():
        return ["tokenizer.json is missing (write it with axk1.text.tokenizer_file.write_tokenizer_files)"]
    if not (folder / "tokenizer_config.json").exists():
        return ["tokenizer_config.json is missing"]
    from axk1.text.tokenizer_file import load_tokenizer

    try:
        config = read_json_file(folder / "tokenizer_config.json", FIX, need_object=True)
    except (OSError, ValueError) as e:
        return [str(e)]
    problems = []
    tokenizer = load_tokenizer(folder)
    eos = config.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    if not isinstance(eos, str) or not eos or tokenizer.token_to_id(eos) is None:  # a number: no token's text
        problems.append(f"tokenizer_config.json: eos_token {eos!r} is not a token of tokenizer.json")
    for mark in THINK_TAGS:
        if tokenizer.token_to_id(mark) is None:
            problems.append(f"tokenizer.json: {mark} is not a single token, so the reasoning parser cannot find it")
    for mark in TOOL_TAGS:
        if tokenizer.token_to_id(mark) is None:
            problems.append(f"tokenizer.json: {mark} is not a single token, so vLLM's hermes tool parser "
                            "(--tool-call-parser hermes) refuses to start")
    template = read_chat_template(folder, config)
    if not template:
        problems.append("no chat template (chat_template.jinja or tokenizer_config.json's chat_template)")
    elif "enable_thinking" not in template:  # the flag vLLM's chat requests pass to switch thinking
        problems.append("the chat template ignores enable_thinking: thinking cannot be switched off")
    return problems
