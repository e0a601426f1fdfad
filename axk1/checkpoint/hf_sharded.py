"""Loading a model folder in the released A.X K1 layout (axk1.checkpoint.hf: config.json + safetensors, experts
stored one per tensor) into a model that may be sharded (expert parallelism, FSDP2) — the trainer's
`[model] init_from`, for continued pretraining from the released weights.

Each rank reads only the slices its own shards need, straight from the memory-mapped files (safetensors slicing):
no rank ever holds the whole model, nothing is broadcast, and each rank's I/O is about its shard. (The usual
alternative, set_model_state_dict(full_state_dict, broadcast_from_rank0), makes rank 0 read every tensor and
sends them all over the network.) Every rank runs the same checks on the files' headers — names and shapes
against the recipe's model — so a bad folder fails identically everywhere instead of hanging a collective.
Where each rank's shard sits in the full tensor comes from axk1.parallel.init (the checkpoint layer builds on the
parallel one, never the other way round).

Legend: E routed experts, F expert width, D hidden.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import torch
from axk1.checkpoint.folder import (Header, check_counts, check_finite, check_mtp_order, mtp_file, open_safetensors,
                                    read_headers, weight_files)
from axk1.checkpoint.hf import hf_tensors
from axk1.checkpoint.state_dict_adapter import (EXPERT_KEY, expert_names, hf_name, is_mtp, may_be_absent,
                                                mtp_shared_copies)
from axk1.config import CONFIG_NAME, ModelConfig, model_config_file
from axk1.model import AXK1ForCausalLM
from axk1.parallel.init import shard_regions
from axk1.process_rank import process_rank

BIAS = "e_score_correction_bias"  # the routers' balancing bias
# config.json fields that say nothing about the weights
_NOT_ARCHITECTURE = {"architectures", "dtype", "torch_dtype", "transformers_version", "num_nextn_predict_layers",
                     "bos_token_id", "eos_token_id", "pad_token_id", "initializer_range"}


def _config_diff(folder: Path, config: ModelConfig) -> list[str]:
    """'field: folder value -> recipe value' for each config.json field that differs from the recipe's model."""
    theirs, ours = ModelConfig.from_pretrained(folder).to_dict(), config.to_dict()
    return [f"{k}: {theirs.get(k)!r} -> {ours.get(k)!r}" for k in sorted(set(theirs) | set(ours))
            if k not in _NOT_ARCHITECTURE and theirs.get(k) != ours.get(k)]


def _own_shapes(folder: Path, theirs: ModelConfig, headers: dict[str, Header]) -> None:
    """The folder's tensors against the shapes its own config.json implies, as load_model (generate, serve) checks
    them: a config.json that contradicts its weights (vocab_size 10**12 over a 512-row embedding) is refused here
    too, not loaded because the recipe's model happens to fit the weights."""
    with torch.device("meta"):
        implied = {name: tuple(t.shape) for name, t in hf_tensors(AXK1ForCausalLM(theirs, with_mtp=False)).items()}
    for name, (file, _, shape) in headers.items():
        if name in implied and shape != implied[name] and 0 not in shape:
            raise ValueError(f"[model] init_from: tensor {name!r} in {file} has shape {shape}, but "
                             f"{folder}/{CONFIG_NAME} implies {implied[name]}: config.json does not describe these "
                             "weights (generate and serve refuse the folder too); fix it or re-export the folder")


def _note(text: str, notes: list[str] | None) -> None:
    """A one-line note of the check: kept in `notes` when given (the dry run's), else printed as the CLI's notes
    are, by the first process only (every rank runs the same check)."""
    if notes is not None:
        notes.append(text)
    elif process_rank() == 0:
        print(f"note: {text}", file=sys.stderr, flush=True)


def check_weights(folder: Path, config: ModelConfig, with_mtp: bool,
                  notes: list[str] | None = None) -> dict[str, Header]:
    """Released tensor name -> header for every tensor the folder provides to a model of `config` (with or without
    its MTP module), from the files' headers alone: no weight is read and no model allocated, so `axk1 train|sft|rl
    --dry-run` runs the very check the run makes when it loads the folder. Raises on a layer count other than the
    recipe's, a missing, unexpected or mis-shaped tensor, and on a config.json that differs from the recipe's model
    and does not describe the folder's own weights. MTP tensors may be absent altogether: the MTP module then keeps
    its init. The folder's MTP layers the recipe does not train (all without MTP, the deeper ones with a smaller
    mtp_depth) are left unused; a layer past those its config.json declares is refused. What it notes (no MTP
    weights, config.json fields that differ) goes to `notes` when given (the dry run's), else is printed."""
    model_config_file(folder, role="[model] init_from")
    theirs = ModelConfig.from_pretrained(folder)
    with torch.device("meta"):  # the released names and full shapes, by the mapping save_pretrained uses
        ref = AXK1ForCausalLM(config, with_mtp=with_mtp)
    want = {name: tuple(t.shape) for name, t in hf_tensors(ref).items()}
    files = weight_files(folder)
    if (extra := mtp_file(folder)) is not None:
        files.append(extra)
    headers = read_headers(files, theirs)  # the folder's own config: its MTP layers, its quantization_config
    # config.json's counts against the files first, as load_model checks them: everything below reads the folder's
    # config whole (_config_diff lists each layer's type), and 10**9 layers took a minute and 2.4 GB to MemoryError
    check_counts(folder, theirs, headers, with_mtp=False)
    if theirs.num_hidden_layers != config.num_hidden_layers:  # the names alone would let the folder's MTP layer
        # (index num_hidden_layers) fill a deeper recipe's last layer, or drop a layer a shallower recipe lacks
        raise ValueError(f"[model] init_from: {folder}/{CONFIG_NAME} has num_hidden_layers = "
                         f"{theirs.num_hidden_layers}, the recipe's model {config.num_hidden_layers}"
                         f"{_hint(folder, config)}")
    if with_mtp:
        check_mtp_order(folder, config, headers)
    copies = mtp_shared_copies(config, config.num_nextn_predict_layers)
    depth = theirs.num_nextn_predict_layers
    use = {}
    for name, (file, dtype, shape) in headers.items():
        if name not in want:
            trained = with_mtp and is_mtp(name, config, depth=config.num_nextn_predict_layers)
            if is_mtp(name, theirs, depth=depth) and not trained:
                continue  # an MTP layer the recipe does not train: all of them without MTP, else those past its depth
            if name in copies:
                continue  # an MTP layer's copy of the embedding or head (for vLLM): the MTP module uses the main one
            if 0 in shape:
                continue  # holds nothing: transformers saves n_shared_experts = 0 as a zero-width shared expert
            past = is_mtp(name, theirs) and not is_mtp(name, theirs, depth=depth)
            raise ValueError(f"[model] init_from: unexpected tensor {name!r} in {file}: " + (
                f"its layer is past the {theirs.num_hidden_layers} layers and {depth} MTP layer(s) that "
                f"{folder}/{CONFIG_NAME} declares (num_hidden_layers, num_nextn_predict_layers), so config.json "
                "does not describe these weights; fix it or re-export the folder" if past else
                f"the recipe's model has no such weight{_hint(folder, config)}"))
        if shape != want[name]:
            raise ValueError(f"[model] init_from: tensor {name!r} in {file} has shape {shape}, the recipe's model "
                             f"needs {want[name]}{_hint(folder, config)}")
        if not dtype.startswith(("F", "BF")):
            raise ValueError(f"[model] init_from: tensor {name!r} in {file} is stored as {dtype}, not floating "
                             "point: the folder does not hold a model's weights")
        use[name] = headers[name]
    mtp_names = [n for n in want if is_mtp(n, config)]
    if mtp_names and not any(n in use for n in mtp_names):
        _note(f"[model] init_from {folder} has no MTP weights: the MTP module starts from the random init", notes)
        want = {n: s for n, s in want.items() if not is_mtp(n, config)}
    missing = [n for n in want if n not in use and not may_be_absent(n, config)]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise ValueError(f"[model] init_from: missing tensor(s) in {folder}: {', '.join(missing[:5])}{more}"
                         f"{_hint(folder, config)}")
    diff = _config_diff(folder, config)
    if diff:
        _own_shapes(folder, theirs, headers)  # the recipe's model fits the weights; config.json must too
        _note(f"[model] init_from: {folder}/{CONFIG_NAME} differs from the recipe's model in {'; '.join(diff)}; "
              "its weights have the recipe's model's shapes, so they are used as they are", notes)
    return use


def check_folder(folder: Path, lm: AXK1ForCausalLM, stack: ExitStack) -> dict[str, object]:
    """Released tensor name -> open file handle for every tensor the folder provides to `lm` (check_weights)."""
    handles: dict[Path, object] = {}
    where = {}
    for name, header in check_weights(folder, lm.config, lm.mtp is not None).items():
        if header.file not in handles:
            handles[header.file] = open_safetensors(header.file, stack)
        where[name] = handles[header.file]
    return where


def _hint(folder: Path, config: ModelConfig) -> str:
    try:
        diff = _config_diff(folder, config)
    except (OSError, ValueError):
        diff = []
    # no difference: the recipe's model is the one config.json describes, and the weights are not that model
    return ("; its config.json differs from the recipe's model in " + "; ".join(diff[:8]) +
            ". Make [model] preset/config/overrides match it, or give init_from alone to use its config.json"
            if diff else f"; {folder}/{CONFIG_NAME} describes the recipe's model, so it does not describe these "
            "weights: fix it or re-export the folder")


def router_bias_in(folder: str | Path) -> bool:
    """Whether the folder's routers route with a non-zero balancing bias (e_score_correction_bias): a DeepSeek-style,
    transformers-trained or axk1 post-trained model's. The release has none (b = 0), like a pretraining export's
    zeros. Only those small tensors are read (one float per expert and layer)."""
    with ExitStack() as stack:
        for file in weight_files(Path(folder)):
            f = open_safetensors(file, stack)
            if any(name.endswith(BIAS) and f.get_tensor(name).count_nonzero() for name in f.keys()):
                return True
    return False


def read_region(where: dict[str, object], key: str, index: tuple[slice, ...], config: ModelConfig) -> torch.Tensor | None:
    """The block `index` of axk1 tensor `key` (stacked experts as [E, 2F, D] / [E, D, F]) read from the files, or
    None when the folder lacks it; `where` is check_folder's name -> open file map."""

    def read(name: str, idx: tuple[slice, ...]) -> torch.Tensor | None:
        f = where.get(name)
        return None if f is None else f.get_slice(name)[idx]

    expert = EXPERT_KEY.match(key)
    if expert is None:
        return read(hf_name(key, config), index)
    # stacked experts: slice e of gate_up [E, 2F, D] is the file's gate rows then up rows; down [E, D, F]
    prefix, width = hf_name(expert.group(1), config), config.moe_intermediate_size
    experts, rows, cols = index
    lo, hi = rows.start, rows.stop
    blocks = []
    for e in range(experts.start, experts.stop):
        gate, up, down = expert_names(prefix, e)
        if expert.group(2) == "down_proj":
            parts = [read(down, (rows, cols))]
        else:  # rows [lo, hi) of gate ‖ up: those below `width` from gate, the rest from up
            parts = []
            if lo < width:
                parts.append(read(gate, (slice(lo, min(hi, width)), cols)))
            if hi > width:
                parts.append(read(up, (slice(max(lo, width) - width, hi - width), cols)))
        if any(part is None for part in parts):
            return None
        blocks.append(torch.cat(parts))
    return torch.stack(blocks)


@torch.no_grad()
def load_hf_sharded_(lm: AXK1ForCausalLM, folder: str | Path) -> None:
    """Overwrites this rank's shards of `lm` (sharded or not, already materialised) with the folder's weights;
    tensors the folder may lack (balancing bias, dense layers' unused post-MoE norm, all of MTP) keep their init."""
    folder = Path(folder)
    with ExitStack() as stack:
        where = check_folder(folder, lm, stack)
        for key, reg in shard_regions(lm).items():
            if reg.local.is_meta or reg.local.numel() == 0:
                continue
            src = read_region(where, key, tuple(slice(o, o + n) for o, n in zip(reg.offset, reg.local.shape)), lm.config)
            if src is not None:
                # this rank's part only (no rank reads a whole tensor): a rank that finds NaN ends the job, as any
                # rank's error does under torchrun
                check_finite(src, f"[model] init_from: tensor {key!r} (the part this rank reads) in {folder}")
                reg.local.copy_(src)
