"""`axk1 merge`: a weighted average of two model folders, θ = α·θ_A + (1 − α)·θ_B ("Think-Fusion").

Post-training ends with two fine-tunes of the same base model, one trained to think before answering and one
trained to answer directly; averaging their weights (α = 0.8 towards the thinking model) gives one model that does
both. An average is only meaningful between models of the same architecture and tensor set, so everything that
could make it meaningless is checked on the files' headers, before anything is written: the model configs (as
parsed: a folder saved by transformers and one saved by axk1 spell one model's config.json differently), tensor
names, shapes and dtypes. A routing bias (e_score_correction_bias) that one folder lacks is zeros there, as every
loader reads it (the release has none; axk1 writes zeros): the other's is averaged with zeros. A dense layer's
post-MoE norm, unused and not saved by transformers, may be missing from one too.

The merge streams: each output shard is built from one tensor of A and one of B at a time, read from the
memory-mapped files, so peak memory is about one output shard, never a whole model (the full model is ~1 TB in
bfloat16). The output keeps A's shard layout, index and the files a model folder carries (tokenizer, chat
template, generation config, model card: any other file of A is left out and named, and one linking outside A is
refused); B's layout does not matter. The two must read tokens alike: tokenizers whose ids name other tokens are
refused, a chat template that differs is a warning (axk1/checkpoint/merge_tokenizers.py). Sums are taken in float32 (or wider) and rounded once to the
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

from axk1.checkpoint.folder import (FLOAT_DTYPES, INDEX_FILE, MODEL_FOLDER_FILES, MTP_FILE, Header,
                                    begin_replacing, mtp_file, open_safetensors, discard, read_headers,
                                    replace_folder, save_weights, weight_files)
from axk1.checkpoint.merge_tokenizers import check_tokenizers
from axk1.checkpoint.state_dict_adapter import may_be_absent
from axk1.config import CONFIG_NAME, ModelConfig, model_config_file

MERGE_RECORD = "merge.json"
BIAS = ".mlp.gate.e_score_correction_bias"  # the routing bias: a folder without it routes with zeros
# parsed config fields that say nothing about the model a folder holds (its weights' dtype is compared on the
# tensors; config.json keys axk1 does not read, such as transformers' use_cache or head_dim, are not compared)
_NOT_THE_MODEL = {"initializer_range"}
# Weight files this merge did not write must not ride along into OUT unmerged.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")
# What OUT takes from A besides the weights: the files a model folder carries (tokenizer, chat template, generation
# config, model card). Any other file is left out and named: OUT is a model someone will upload, and a file of A's
# folder that is no part of the model (a key, notes, a colleague's script) must not travel with it unasked.
_SIDE_FILES = tuple(n for n in MODEL_FOLDER_FILES if n not in (INDEX_FILE, MTP_FILE, MERGE_RECORD)
                    and not n.endswith(_WEIGHT_SUFFIXES) and n != "pytorch_model.bin.index.json")


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


def _side_files(a: Path, written: set[str]) -> tuple[list[Path], list[str]]:
    """(A's side files OUT takes, copied whatever they link to; the names of everything else in A, left out).
    A side file that is a symlink to a file outside A is refused: copying it would put that file (a private key
    behind README.md) into OUT as an ordinary file. A Hugging Face cache's snapshot links each file to the repo's
    blobs/ (snapshots/REV/x -> ../../blobs/SHA): those are the snapshot's own files."""
    root = a.resolve()
    inside = [root] + ([root.parent.parent / "blobs"] if root.parent.name == "snapshots" else [])
    copy, skipped = [], []
    for path in sorted(a.iterdir()):
        if path.name in written:
            continue
        if path.name not in _SIDE_FILES or not path.is_file():  # a weight, a folder, a FIFO or any other file
            skipped.append(path.name)
            continue
        target = path.resolve()
        if not any(target.is_relative_to(place) for place in inside):
            raise ValueError(f"merge input A: {path} is a symlink to {target}, outside {a}: the merge would copy "
                             f"that file into the output as {path.name}. Put the file itself in {a} (or delete "
                             "the link)")
        copy.append(path)
    return copy, skipped


def _check_compatible(a: Path, b: Path, head_a: dict, head_b: dict) -> ModelConfig:
    """The model A and B both hold (its config), or a ValueError naming how they differ."""
    # the configs as axk1 reads them (ModelConfig: transformers' and DeepSeek's spellings resolved), not as written
    config = ModelConfig.from_pretrained(a)
    config_a, config_b = config.to_dict(), ModelConfig.from_pretrained(b).to_dict()
    differ = [f"{k}: A={config_a.get(k, '<absent>')!r}, B={config_b.get(k, '<absent>')!r}"
              for k in sorted(config_a.keys() | config_b.keys())
              if k not in _NOT_THE_MODEL and config_a.get(k) != config_b.get(k)]
    if differ:
        raise ValueError(f"cannot merge {a} and {b}: their {CONFIG_NAME} files differ in {'; '.join(differ)}. "
                         "Merge only fine-tunes of the same base model (make the configs agree if a difference "
                         "is known not to matter)")
    only_a, only_b = (sorted(n for n in mine.keys() - theirs.keys() if not _may_lack(n, mine, config))
                      for mine, theirs in ((head_a, head_b), (head_b, head_a)))
    if only_a or only_b:
        sides = [f"only in A: {_few(only_a)}" if only_a else "", f"only in B: {_few(only_b)}" if only_b else ""]
        one_mtp = (a / MTP_FILE).exists() != (b / MTP_FILE).exists()
        mtp = f" (only one folder has {MTP_FILE})" if one_mtp else ""
        raise ValueError(f"cannot merge {a} and {b}: their tensor sets differ{mtp}; "
                         f"{'; '.join(s for s in sides if s)}. Merge two fine-tunes of the same model")
    for name, (_, dtype, shape) in head_a.items():
        if name not in head_b:  # one B may lack (_may_lack)
            continue
        _, dtype_b, shape_b = head_b[name]
        if shape != shape_b:
            raise ValueError(f"cannot merge: tensor {name!r} has shape {shape} in A but {shape_b} in B; "
                             "the two models do not share an architecture")
        if dtype != dtype_b:
            raise ValueError(f"cannot merge: tensor {name!r} is {dtype} in A but {dtype_b} in B; save both folders in "
                             "the same dtype first (e.g. `axk1 export --dtype bfloat16`)")
    return config


def _may_lack(name: str, head: dict[str, Header], config: ModelConfig) -> bool:
    """Whether the other folder may lack `name`, as the loader reads folders (may_be_absent): a routing bias (zeros
    there: the release has none) or a dense layer's post-MoE norm (unused; transformers does not save it)."""
    return may_be_absent(name, config) and head[name].dtype in FLOAT_DTYPES


def _biases_only_in_b(head_a: dict[str, Header], head_b: dict[str, Header]) -> dict[str, Path]:
    """The routing biases B holds and A lacks (zeros) -> the file of A's their average goes to: their router's
    weight's (an MTP layer's: mtp.safetensors). A dense layer's norm only B holds is unused and left out."""
    first = next(iter(head_a.values()), None)
    return {n: (head_a.get(n.removesuffix("e_score_correction_bias") + "weight") or first).file
            for n in sorted(head_b.keys() - head_a.keys()) if n.endswith(BIAS)}


def _read_pair(name: str, f, handles_b: dict, head_b: dict[str, Header], b_only: dict[str, Path]):
    """A's and B's tensor `name` (`f`: A's file holding it). A routing bias one folder lacks is zeros there; a dense
    layer's unused norm B lacks is A's, kept as it is."""
    t_b = handles_b[head_b[name][0]].get_tensor(name) if name in head_b else None
    t_a = torch.zeros_like(t_b) if name in b_only else f.get_tensor(name)
    if t_b is None:
        t_b = torch.zeros_like(t_a) if name.endswith(BIAS) else t_a
    return t_a, t_b


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

    OUT gets A's shard layout, index and side files (tokenizer, chat template, generation config, model card:
    _SIDE_FILES; A's other files are named in "skipped"), plus merge.json recording the inputs. Raises
    ValueError, before writing anything, when the folders cannot be merged (configs, tensor names, shapes or
    dtypes differ; their tokenizers map an id to other tokens; alpha outside [0, 1]; OUT is A or B; a folder or
    weight file is missing; a side file of A is a symlink to a file outside A). Returns
    {"tensors_merged", "tensors_copied", "bytes_written", "files", "skipped", "warnings"}: warnings say what
    the merge went on despite (chat templates that differ, a tokenizer only B has).
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
    warnings = check_tokenizers(a, b)
    _check_integers(head_a, head_b)
    b_only = _biases_only_in_b(head_a, head_b)  # averaged with A's zeros
    layout = {**{name: file for name, (file, _, _) in head_a.items()}, **b_only}
    side_files, skipped = _side_files(a, {f.name for f in files_a} | {INDEX_FILE, MERGE_RECORD})

    # written beside OUT and swapped in whole (folder.replace_folder): a merge that fails (a full disk) leaves an
    # earlier model in OUT as it was, and none of its files (weights, tokenizer, template) outlives the new one
    target, (out, stale) = out, begin_replacing(out)
    discard(stale)
    try:
        summary = {"tensors_merged": 0, "tensors_copied": 0, "bytes_written": 0, "files": [], "skipped": skipped,
                   "warnings": warnings}
        main_bytes = 0  # tensor bytes of the main files: the index's total_size
        with ExitStack() as stack, tqdm(total=len(layout), desc="merge", unit="tensor", disable=not progress) as bar:
            # B is read by name, whatever its layout
            handles_b = {file: open_safetensors(file, stack) for file in files_b}
            for file in files_a:
                with ExitStack() as shard_stack:
                    f = open_safetensors(file, shard_stack)
                    metadata = f.metadata() or {"format": "pt"}
                    shard: dict[str, torch.Tensor] = {}
                    for name in [*f.keys(), *(n for n, where in b_only.items() if where == file)]:
                        # Both inputs are temporaries here: only the merged tensor outlives the call.
                        tensor = _combine(*_read_pair(name, f, handles_b, head_b, b_only), alpha)
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
            weight_map = {name: file.name for name, file in sorted(layout.items()) if file.name != MTP_FILE}
            index = {"metadata": {"total_size": main_bytes}, "weight_map": weight_map}
            (out / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
        for path in side_files:  # a link's file, as a file of its own (a cache's blob, under its name)
            shutil.copy2(path, out / path.name)
        record = {"a": str(a.resolve()), "b": str(b.resolve()), "alpha": alpha, "formula": "alpha*A + (1-alpha)*B",
                  "tensors": len(layout), **{k: summary[k] for k in ("tensors_merged", "tensors_copied", "skipped", "warnings")}}
        (out / MERGE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    discard(replace_folder(out, target))
    return summary
