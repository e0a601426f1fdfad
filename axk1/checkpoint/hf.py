"""Read and write model folders in the released A.X K1 Hugging Face layout.

A folder holds `config.json` and either `model.safetensors` or shards `model-0000k-of-0000n.safetensors` with
`model.safetensors.index.json`. Tensor names are the release's (per-expert
`model.layers.{i}.mlp.experts.{j}.{gate,up,down}_proj.weight`), mapped from and to axk1's stacked experts by
axk1.checkpoint.state_dict_adapter. MTP weights (training only; the release has none) go to `mtp.safetensors`,
so transformers, which reads only the main files, sees no unexpected keys. Loading streams one tensor at a time
into a model built on the meta device, so peak memory stays near one copy of the model. safetensors only: nothing
is ever unpickled.
"""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError

from axk1.checkpoint.folder import (INDEX_FILE, MTP_FILE, SINGLE_FILE, Header, check_counts, check_finite,
                                    check_mtp_order, mtp_file, no_mtp_weights, open_safetensors, read_headers,
                                    save_weights, weight_files)
from axk1.checkpoint.state_dict_adapter import is_mtp, may_be_absent, mtp_shared_copies, to_hf
from axk1.config import ModelConfig, config_dtype, model_config_file
from axk1.model import AXK1ForCausalLM

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def hf_tensors(model: AXK1ForCausalLM) -> dict[str, torch.Tensor]:
    """Released name → view of the model's tensor (experts split per expert), by the state-dict adapter."""
    return to_hf(model.state_dict(keep_vars=True), model.config)


def parse_size(size: int | str) -> int:
    if isinstance(size, int):
        return size
    m = _SIZE.match(size)
    if m is None:
        raise ValueError(f"cannot read shard size {size!r}: write e.g. '5GB', '500MB' or a number of bytes")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").lower()])


def save_pretrained(model: AXK1ForCausalLM, path: str | Path, max_shard_size: int | str = "5GB",
                    dtype: torch.dtype | None = None,
                    tensors_for: Callable[[list[str]], dict[str, torch.Tensor]] | None = None,
                    part: tuple[int, int] | None = None) -> Path:
    """Write config.json + safetensors in the released layout (shards of at most `max_shard_size`, MTP weights
    apart in mtp.safetensors); `dtype` casts the floating tensors except the fp32 balancing bias.

    `tensors_for`: for a model on the meta device, the function that gives the real tensors of a list of its
    state-dict keys (`axk1 export` reads them from the checkpoint). The folder is written shard by shard, each
    shard's tensors made only then, so a model of any size is written in about one shard's memory.

    `part` = (i, n): write only the i-th of n contiguous runs of the shards, so n processes write one folder
    together (`axk1 export` under torchrun); (n, n) writes what describes them, the index, MTP file and
    config.json, which the caller does once every run is written (a folder whose writing failed part-way must not
    look complete). The caller clears the folder first."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    limit = parse_size(max_shard_size)
    config = model.config
    state = model.state_dict(keep_vars=True)
    source = {name: key for key, t in state.items() for name in to_hf({key: t}, config)}  # released name -> key
    main, mtp = [], []
    for name, tensor in hf_tensors(model).items():
        (mtp if is_mtp(name, config) else main).append((name, tensor))
    # each MTP layer's copies of the embedding and head, which vLLM's DeepSeek MTP loader reads from that layer
    copies = mtp_shared_copies(config, len(model.mtp) if model.mtp is not None else 0)
    source.update(copies)
    mtp += [(name, state[key]) for name, key in copies.items()]

    def prepare(name: str, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.detach()
        if dtype is not None and tensor.is_floating_point() and not name.endswith("e_score_correction_bias"):
            tensor = tensor.to(dtype)
        return tensor.to("cpu").contiguous()

    def materialize(names: list[str]) -> dict[str, torch.Tensor]:
        """The released tensors `names`, from the model or, one shard at a time, from `tensors_for`."""
        keys = sorted({source[n] for n in names})
        real = tensors_for(keys) if tensors_for is not None else {k: state[k] for k in keys}
        views = to_hf(real, config)
        # a copy is cloned: two names on one storage (the embedding and a tied head) cannot be written to one file
        return {n: prepare(n, real[copies[n]]).clone() if n in copies else prepare(n, views[n]) for n in names}

    # Greedy sharding by byte size; a tensor larger than the limit gets a shard of its own.
    shards: list[list[str]] = [[]]
    shard_bytes = 0
    out_itemsize = None if dtype is None else torch.empty((), dtype=dtype).element_size()
    sizes = {}  # bytes each released tensor takes in its file (the index's total_size)
    for name, tensor in main:
        kept = dtype is None or not tensor.is_floating_point() or name.endswith("e_score_correction_bias")
        sizes[name] = tensor.numel() * (tensor.element_size() if kept else out_itemsize)
        nbytes = tensor.numel() * (out_itemsize or tensor.element_size())
        if shards[-1] and shard_bytes + nbytes > limit:
            shards.append([])
            shard_bytes = 0
        shards[-1].append(name)
        shard_bytes += nbytes

    if part is None:
        for stale in [*path.glob("model-*-of-*.safetensors"), path / SINGLE_FILE, path / INDEX_FILE, path / MTP_FILE]:
            stale.unlink(missing_ok=True)
    i, n = part or (0, 1)
    mine = range(len(shards) * i // n, len(shards) * (i + 1) // n) if i < n else range(0)  # contiguous: a
    # layer's experts are read once
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        filename = SINGLE_FILE if len(shards) == 1 else f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        weight_map.update(dict.fromkeys(shard, filename))
        total += sum(sizes[name] for name in shard)
        if k in mine:
            save_weights(materialize(shard), path / filename, metadata={"format": "pt"})
    if part is not None and i < n:
        return path
    if len(shards) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (path / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    if mtp:
        save_weights(materialize([n for n, _ in mtp]), path / MTP_FILE, metadata={"format": "pt"})

    model.config.save_pretrained(path, dtype=dtype or model.lm_head.weight.dtype)
    return path


def tie_weights_(model: AXK1ForCausalLM) -> None:
    """Ties lm_head to the embedding again when the config asks for it: to_empty() gives every parameter new
    storage, which undoes the tie made in AXK1ForCausalLM.__init__, and a folder stores only the embedding."""
    if model.config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight


def _check_headers(path: Path, headers: dict[str, Header], targets: dict[str, torch.Tensor], config: ModelConfig,
                   with_mtp: bool, copies: dict[str, str]) -> list[str]:
    """The names of `headers` to load, once each is known to fit its target (name, shape, floating dtype).
    `copies`: the MTP layers' copies of the embedding and head (mtp_shared_copies), let through to be checked."""
    use = []
    for name, (file, dtype, shape) in headers.items():
        dst = targets.get(copies.get(name, name))  # a copy is checked as the tensor it copies
        if dst is None:
            if not with_mtp and is_mtp(name, config, depth=config.num_nextn_predict_layers):
                continue  # DeepSeek-style checkpoints keep MTP layers inline; not asked for (a layer past them is
                # no layer of this model: refused below, as a load with MTP refuses it)
            if 0 in shape:
                continue  # holds nothing: transformers saves n_shared_experts = 0 as a zero-width shared expert
            raise ValueError(f"unexpected tensor {name!r} in {file.name}: the config has no such weight")
        if shape != tuple(dst.shape):
            raise ValueError(f"shape mismatch for tensor {name!r} in {file.name}: file has {shape}, "
                             f"config.json implies {tuple(dst.shape)}")
        if dst.is_floating_point() and not dtype.startswith(("F", "BF")):
            raise ValueError(f"tensor {name!r} in {file} is stored as {dtype}, but the weight is floating point: "
                             "the file is not a model's weights; re-export the folder")
        use.append(name)
    missing = [n for n in targets if n not in headers and not may_be_absent(n, config)]
    if missing and with_mtp and all(is_mtp(n, config) for n in missing):
        raise ValueError(no_mtp_weights(path))
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise ValueError(f"missing tensor(s) in {path}: {', '.join(missing[:5])}{more}")
    return use


def load_model(path: str | Path, dtype: torch.dtype | None = None, device: torch.device | str = "cpu",
               with_mtp: bool | None = None) -> AXK1ForCausalLM:
    """Build the model from `config.json` and stream its safetensors into place.

    dtype defaults to the dtype recorded in config.json; with_mtp defaults to "if mtp.safetensors exists".
    device="meta" builds the model's shapes only and reads no weights (a folder with just config.json will do).
    Raises with the tensor's name on a missing, unexpected or mis-shaped tensor.
    """
    path = Path(path)
    config = ModelConfig.from_pretrained(model_config_file(path))  # a folder, not a config.json alone
    if torch.device(device).type == "meta":
        with torch.device("meta"):
            return AXK1ForCausalLM(config, with_mtp=bool(with_mtp)).to(dtype or config_dtype(config))
    files = weight_files(path)
    extra = mtp_file(path)
    with_mtp = extra is not None if with_mtp is None else with_mtp
    if with_mtp and config.num_nextn_predict_layers == 0:
        raise ValueError(f"with_mtp=True but {path}/config.json has num_nextn_predict_layers=0")
    if with_mtp and extra is not None:
        files = [*files, extra]
    dtype = dtype or config_dtype(config)
    # Everything about the files is checked on their headers, before the model is built or allocated.
    headers = read_headers(files, config)
    check_counts(path, config, headers, with_mtp)  # what sizes the build and the name mapping below
    if with_mtp:
        check_mtp_order(path, config, headers)
    with torch.device("meta"):
        shapes = hf_tensors(AXK1ForCausalLM(config, with_mtp=with_mtp))
    copies = mtp_shared_copies(config, config.num_nextn_predict_layers) if with_mtp else {}
    names = _check_headers(path, headers, shapes, config, with_mtp, copies)

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = AXK1ForCausalLM(config, with_mtp=with_mtp)
    finally:
        torch.set_default_dtype(previous)
    model.to_empty(device=device)
    tie_weights_(model)
    model.reset_derived_state()  # in case the files lack norms or the bias

    targets = hf_tensors(model)
    with torch.no_grad(), ExitStack() as stack:
        handles, copied = {}, {}
        for name in names:
            file = headers[name].file
            if file not in handles:
                handles[file] = open_safetensors(file, stack)
            try:
                src = handles[file].get_tensor(name)
            except SafetensorError as e:
                raise ValueError(f"cannot read tensor {name!r} from {file} (truncated or corrupt?): {e}") from e
            check_finite(src, f"tensor {name!r} in {file}")
            if name in copies:
                copied[name] = (src, file)
            else:
                targets[name].copy_(src)
        for name, (src, file) in copied.items():  # after the loop: the main tensor may come later in the files
            main = targets[copies[name]]
            if not torch.equal(src.to(main.dtype), main):
                raise ValueError(f"tensor {name!r} in {file} is not a copy of {copies[name]!r}: an MTP layer's "
                                 "embedding and head must be the main model's (axk1's MTP shares them, as "
                                 "DeepSeek-V3's does); this folder's MTP was trained with its own, which axk1 cannot "
                                 "run. Load it without MTP (with_mtp=False, no --speculative)")
    return model.eval()
