"""`axk1 merge`: a weighted average of two model folders, θ = α·θ_A + (1 − α)·θ_B ("Think-Fusion").

Post-training ends with two fine-tunes of the same base model, one trained to think before answering and one
trained to answer directly; averaging their weights (α = 0.8 towards the thinking model) gives one model that does
both. An average is only meaningful between models of the same architecture and tensor set, so everything that
could make it meaningless is checked on the files' headers, before anything is written: config.json values,
tensor names, shapes and dtypes.

The merge streams: each output shard is built from one tensor of A and one of B at a time, read from the
memory-mapped files, so peak memory is about one output shard, never a whole model (the full model is ~1 TB in
bfloat16). The output keeps A's shard layout, index and every non-weight file (tokenizer, chat template,
generation config); B's layout does not matter. Sums are taken in float32 (or wider) and rounded once to the
stored dtype: bfloat16 arithmetic would round each product as well. Integer buffers cannot be averaged; they
must agree and are copied.
"""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from pathlib import Path

import torch
from tqdm import tqdm

from axk1.checkpoint.folder import (INDEX_FILE, MTP_FILE, Header, begin_replacing, mtp_file, open_safetensors,
                                    discard, read_headers, replace_folder, save_weights, weight_files)
from axk1.config import CONFIG_NAME, ModelConfig, model_config_file
from axk1.json_text import read_json_file

MERGE_RECORD = "merge.json"
# config.json keys that describe where or how a folder was written, not the weights
_BOOKKEEPING = {"_name_or_path", "_commit_hash", "transformers_version"}
_DTYPE_KEYS = {"dtype", "torch_dtype"}  # compared through the tensors' own dtypes instead
# Weight files this merge did not write must not ride along into OUT unmerged.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")


def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" (and {len(names) - n} more)" if len(names) > n else "")


def _check_folder(path: Path, role: str) -> list[Path]:
    """The folder's safetensors files: the main ones (from the index when there is one), then mtp.safetensors."""
    try:
        model_config_file(path)
        files = weight_files(path)
    except (OSError, ValueError) as e:  # a merge refuses its inputs with ValueError, whatever is wrong
        raise ValueError(f"merge input {role}: {e}") from e
    extra = mtp_file(path)
    return files + ([extra] if extra is not None else [])


def _headers(path: Path, files: list[Path], role: str) -> dict[str, Header]:
    """tensor name -> Header (file, safetensors dtype, shape), from the headers alone (no tensor data is read)."""
    try:
        return read_headers(files, ModelConfig.from_pretrained(path))
    except ValueError as e:
        raise ValueError(f"merge input {role}: {e}") from e


def _read_config(path: Path) -> dict:
    return read_json_file(path / CONFIG_NAME, "fix or re-export the folder")


def _check_compatible(a: Path, b: Path, head_a: dict, head_b: dict) -> None:
    raw_a, raw_b = _read_config(a), _read_config(b)
    differ = [f"{k}: A={raw_a.get(k, '<absent>')!r}, B={raw_b.get(k, '<absent>')!r}"
              for k in sorted(raw_a.keys() | raw_b.keys())
              if k not in _BOOKKEEPING | _DTYPE_KEYS and raw_a.get(k) != raw_b.get(k)]
    if differ:
        raise ValueError(f"cannot merge {a} and {b}: their {CONFIG_NAME} files differ in {'; '.join(differ)}. "
                         "Merge only fine-tunes of the same base model (make the configs agree if a difference "
                         "is known not to matter)")
    only_a, only_b = sorted(head_a.keys() - head_b.keys()), sorted(head_b.keys() - head_a.keys())
    if only_a or only_b:
        sides = [f"only in A: {_few(only_a)}" if only_a else "", f"only in B: {_few(only_b)}" if only_b else ""]
        one_mtp = (a / MTP_FILE).exists() != (b / MTP_FILE).exists()
        mtp = f" (only one folder has {MTP_FILE})" if one_mtp else ""
        raise ValueError(f"cannot merge {a} and {b}: their tensor sets differ{mtp}; "
                         f"{'; '.join(s for s in sides if s)}. Merge two fine-tunes of the same model")
    for name, (_, dtype, shape) in head_a.items():
        _, dtype_b, shape_b = head_b[name]
        if shape != shape_b:
            raise ValueError(f"cannot merge: tensor {name!r} has shape {shape} in A but {shape_b} in B; "
                             "the two models do not share an architecture")
        if dtype != dtype_b:
            raise ValueError(f"cannot merge: tensor {name!r} is {dtype} in A but {dtype_b} in B; save both folders in "
                             "the same dtype first (e.g. `axk1 export --dtype bfloat16`)")


def _check_integers(head_a: dict, head_b: dict) -> None:
    """Integer buffers (counts, indices) would be meaningless averaged: they must agree. They are small, so they
    are compared up front, and a refusal still writes nothing."""
    with ExitStack() as stack:
        handles: dict[Path, object] = {}
        for name, (file_a, dtype, _) in head_a.items():
            if dtype.startswith(("F", "BF")):
                continue
            file_b = head_b[name][0]
            for file in (file_a, file_b):
                if file not in handles:
                    handles[file] = open_safetensors(file, stack)
            if not torch.equal(handles[file_a].get_tensor(name), handles[file_b].get_tensor(name)):
                raise ValueError(f"cannot merge: integer tensor {name!r} differs between A and B and cannot be "
                                 "averaged; make it equal in both folders (or drop it) first")


def _combine(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    if not a.is_floating_point():  # equal in both (checked up front): copied
        return a
    work = torch.promote_types(a.dtype, torch.float32)  # one rounding to the stored dtype, at the end
    merged = a.to(work, copy=True).mul_(alpha)  # in place: one working copy per input, not three
    merged.add_(b.to(work), alpha=1.0 - alpha)
    return merged.to(a.dtype)


def merge_folders(a: str | Path, b: str | Path, out: str | Path, alpha: float, progress: bool = True) -> dict:
    """Write alpha·A + (1 − alpha)·B for every floating-point tensor of model folders A and B into OUT.

    OUT gets A's shard layout, index and non-weight files, plus merge.json recording the inputs. Raises
    ValueError, before writing anything, when the folders cannot be merged (configs, tensor names, shapes or
    dtypes differ; alpha outside [0, 1]; OUT is A or B; a folder or weight file is missing). Returns
    {"tensors_merged", "tensors_copied", "bytes_written", "files", "skipped"}.
    """
    a, b, out = Path(a), Path(b), Path(out)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1] (the weight of A; 0.8 for Think-Fusion), got {alpha!r}")
    alpha = float(alpha)
    files_a, files_b = _check_folder(a, "A"), _check_folder(b, "B")
    for role, path in (("A", a), ("B", b)):
        if out.resolve() == path.resolve():
            raise ValueError(f"the output folder {out} is input {role}: write the merge to a new folder")
    head_a, head_b = _headers(a, files_a, "A"), _headers(b, files_b, "B")
    _check_compatible(a, b, head_a, head_b)
    _check_integers(head_a, head_b)

    # written beside OUT and swapped in whole (folder.replace_folder): a merge that fails (a full disk) leaves an
    # earlier model in OUT as it was, and none of its files (weights, tokenizer, template) outlives the new one
    target, (out, stale) = out, begin_replacing(out)
    discard(stale)
    try:
        summary = {"tensors_merged": 0, "tensors_copied": 0, "bytes_written": 0, "files": [], "skipped": []}
        main_bytes = 0  # tensor bytes of the main files: the index's total_size
        with ExitStack() as stack, tqdm(total=len(head_a), desc="merge", unit="tensor", disable=not progress) as bar:
            # B is read by name, whatever its layout
            handles_b = {file: open_safetensors(file, stack) for file in files_b}
            for file in files_a:
                with ExitStack() as shard_stack:
                    f = open_safetensors(file, shard_stack)
                    metadata = f.metadata() or {"format": "pt"}
                    shard: dict[str, torch.Tensor] = {}
                    for name in f.keys():
                        # Both inputs are temporaries here: only the merged tensor outlives the call.
                        tensor = _combine(f.get_tensor(name), handles_b[head_b[name][0]].get_tensor(name), alpha)
                        shard[name] = tensor
                        summary["tensors_merged" if tensor.is_floating_point() else "tensors_copied"] += 1
                        bar.update(1)
                nbytes = sum(t.numel() * t.element_size() for t in shard.values())
                if file.name != MTP_FILE:
                    main_bytes += nbytes
                save_weights(shard, out / file.name, metadata=metadata)
                del shard
                summary["bytes_written"] += (out / file.name).stat().st_size
                summary["files"].append(file.name)

        if (a / INDEX_FILE).exists():  # built from what was written: A's index could name files that are not A's
            weight_map = {name: file.name for name, (file, _, _) in sorted(head_a.items()) if file.name != MTP_FILE}
            index = {"metadata": {"total_size": main_bytes}, "weight_map": weight_map}
            (out / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
        written = {f.name for f in files_a} | {INDEX_FILE, MERGE_RECORD}
        for path in sorted(a.iterdir()):
            if path.name in written:
                continue
            if path.is_file() and not path.name.endswith(_WEIGHT_SUFFIXES):
                shutil.copy2(path, out / path.name)
            else:  # folders and weights this merge did not combine: copying them would ship unmerged weights
                summary["skipped"].append(path.name)
        record = {"a": str(a.resolve()), "b": str(b.resolve()), "alpha": alpha, "formula": "alpha*A + (1-alpha)*B",
                  "tensors": len(head_a), **{k: summary[k] for k in ("tensors_merged", "tensors_copied", "skipped")}}
        (out / MERGE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    discard(replace_folder(out, target))
    return summary
