"""The files of a model folder, checked before any tensor is read or any module is built.

A model folder may come from anyone (a download, a colleague's export), so its index, file names and tensor
headers are checked first: the index may name only plain files of the folder (never `../x`, `/dev/zero` or ""),
every weight file must be a regular file (a FIFO would block a read forever), each tensor must be stored once,
mtp.safetensors may hold only MTP layers, and config.json's counts that size the model's module lists and the
loops over its tensors (layers, routed experts, MTP layers) must match what the files hold — so a config.json
claiming 10**9 layers or experts is refused before a single module is built (check_counts). The other sizes
(widths, heads, the vocabulary) are compared with the headers on a model built on the meta device, which costs
nothing whatever they say.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from axk1.checkpoint.state_dict_adapter import is_mtp, mtp_shared_copies
from axk1.config import ModelConfig
from axk1.json_text import read_json_file
from axk1.output_folder import discard, named, sort_entries, swap_siblings
from axk1.user_file import not_broken, regular_file

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MTP_FILE = "mtp.safetensors"
# the floating formats a weight may be stored in; the others safetensors names (F8_E4M3, F8_E5M2, F8_E8M0, F6_*,
# F4) are quantized formats, whose values mean something only with scale tensors and a quantization_config
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
_LAYER = re.compile(r"^model\.layers\.(\d+)\.")
_EXPERT = re.compile(r"^model\.layers\.\d+\.mlp\.experts\.(\d+)\.")
# What `axk1 export` and `axk1 merge` write or copy into a model folder; an earlier model's copies are removed
# before a new model is written there, so none of them can outlive it.
MODEL_FOLDER_FILES = ("config.json", INDEX_FILE, MTP_FILE, "merge.json", "tokenizer.json", "tokenizer_config.json",
                      "chat_template.jinja", "chat_template.json", "special_tokens_map.json", "generation_config.json",
                      "pytorch_model.bin", "pytorch_model.bin.index.json", "added_tokens.json", "vocab.json",
                      "merges.txt", "README.md")
_MODEL_FOLDER_PATTERNS = ("*.safetensors", "pytorch_model-*.bin")
# What a person writes into a model folder (its model card, its sampling defaults) and an export or merge writes only
# when its source has one: carried from the model replaced into the new one, with a note, never deleted with it
CARRIED_FILES = ("README.md", "generation_config.json")
# A conversion of the weights (llama.cpp's GGUF): it would describe the old model beside the new weights, and deleting
# it unasked loses what may have taken hours to make, so a folder holding one is refused
CONVERSIONS = "*.gguf"


class Header(NamedTuple):
    file: Path
    dtype: str  # safetensors' name: "F32", "BF16", "I64", ...
    shape: tuple[int, ...]


def folder_file(folder: Path, name: object, source: Path) -> Path:
    """folder/name, where `name` (read from `source`) must be a plain file name and the file a regular file."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{source} names {name!r} as a weight file: only plain file names of the folder are allowed "
                         "(no paths); fix the index or re-export the folder")
    return regular_file(folder / name)


def read_json_object(file: Path) -> dict:
    """An optional JSON file of a model folder (tokenizer_config.json, generation_config.json) as a dict; a file that
    is no JSON object is a ValueError naming it and what to do."""
    return read_json_file(file, "fix it or delete it (it is optional)", need_object=True)


def _read_index(path: Path) -> dict:
    file = path / INDEX_FILE
    index = read_json_file(file, "fix or re-export the folder", what="safetensors index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{file} is not a valid safetensors index: it needs a non-empty \"weight_map\" object of "
                         "tensor name -> file name; fix or re-export the folder")
    return weight_map


def weight_files(path: Path) -> list[Path]:
    """The main safetensors files of a model folder, from the index when there is one. A folder holding both
    model.safetensors and an index of other files is refused: transformers (5.x) loads model.safetensors and
    ignores the index, vLLM loads the index's shards, so which model runs would depend on the loader."""
    for file in (path / INDEX_FILE, path / SINGLE_FILE):  # a dangling link is neither there nor absent
        not_broken(file)
    if (path / INDEX_FILE).exists():
        regular_file(path / INDEX_FILE)
        names = _read_index(path).values()
        # each shard checked once: the index names it for each of its tensors (35,476 at 519B, three stats each)
        unique = [*dict.fromkeys(n for n in names if isinstance(n, str)), *(n for n in names if not isinstance(n, str))]
        files = sorted({not_broken(folder_file(path, name, path / INDEX_FILE)) for name in unique})
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise FileNotFoundError(f"{path / INDEX_FILE} names shards that are not in the folder: {', '.join(missing)}")
        if (path / SINGLE_FILE).exists() and [f.name for f in files] != [SINGLE_FILE]:
            raise ValueError(f"{path} holds both {SINGLE_FILE} and {INDEX_FILE} naming other files: transformers "
                             f"loads {SINGLE_FILE}, axk1 and vLLM the index's shards, so they would run different "
                             "weights; delete whichever is not the model (or re-export the folder)")
        return files
    if (path / SINGLE_FILE).exists():
        return [regular_file(path / SINGLE_FILE)]
    found = sorted(p.name for p in path.glob("*.safetensors"))
    raise FileNotFoundError(
        f"no {SINGLE_FILE} or {INDEX_FILE} in {path}" + (f" (found {', '.join(found)})" if found else "")
        + ". axk1 reads safetensors only; convert .bin/.pt weights with a trusted tool first"
    )


def mtp_file(path: Path) -> Path | None:
    file = not_broken(path / MTP_FILE)
    return regular_file(file) if file.exists() else None


def open_safetensors(file: Path, stack: ExitStack):
    try:
        return stack.enter_context(safe_open(str(file), framework="pt", device="cpu"))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{file} is not a readable safetensors file (truncated or corrupt?): {e}") from e


def check_finite(tensor: torch.Tensor, what: str) -> None:
    """Refuses a floating-point weight holding NaN or infinity, naming it (`what`: "tensor 'x' in FILE"): a model
    trained into NaN (or a damaged file) loaded without a word and generated empty text, or trained on NaN."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{what} holds {bad:,} NaN or infinite values of {tensor.numel():,}: the weights are broken "
                         "(a training run that diverged, or a damaged file); export an earlier checkpoint")


def _quantized(file: Path, what: str) -> ValueError:
    return ValueError(f"{file}: {what}: axk1 runs float32/bfloat16/float16 weights only; dequantize the model to "
                      "bfloat16 first")


def read_headers(files: list[Path], config: ModelConfig) -> dict[str, Header]:
    """Tensor name -> Header, from the files' headers alone. Refuses a tensor stored twice, any but MTP layers in
    mtp.safetensors (it is read after the main files, so it would silently replace their weights), and quantized
    weights (a quantization_config in config.json, an FP8 tensor): loaded without their scales they are another
    model, and FP8 crashed the NaN check with a traceback."""
    if files and config.extra.get("quantization_config") is not None:
        method = config.extra["quantization_config"]
        method = method.get("quant_method", "?") if isinstance(method, dict) else method
        raise _quantized(files[0].parent / "config.json", f"its quantization_config ({method!r}) says the weights "
                         "are quantized")
    found: dict[str, Header] = {}
    for file in files:
        with ExitStack() as stack:
            f = open_safetensors(file, stack)
            for name in f.keys():
                if name in found:
                    raise ValueError(f"tensor {name!r} is in both {found[name].file} and {file}: each tensor must be "
                                     "stored once; remove one copy or re-export the folder")
                if file.name == MTP_FILE and not is_mtp(name, config):
                    raise ValueError(f"{file} holds {name!r}, which is not an MTP layer (those are layers >= "
                                     f"num_hidden_layers = {config.num_hidden_layers}): {MTP_FILE} may hold only "
                                     "MTP weights; re-export the folder")
                part = f.get_slice(name)
                found[name] = Header(file, part.get_dtype(), tuple(part.get_shape()))
                if found[name].dtype.startswith("F") and found[name].dtype not in FLOAT_DTYPES:
                    raise _quantized(file, f"tensor {name!r} is stored as {found[name].dtype}, a quantized format")
    return found


def _count_held(folder: Path, field: str, n: int, held: set[int], what: str) -> None:
    """Refuses config.json's `field` = n unless each of 0..n-1 is in `held` (`n > len(held)` first: a count of
    10**9 is refused without a loop of 10**9)."""
    if n > len(held) or any(i not in held for i in range(n)):
        holds = f"{what} 0..{max(held)}" if held else f"no {what}"
        raise ValueError(f"{folder}/config.json says {field} = {n}, but the weight files hold {holds}: "
                         "config.json does not describe these weights; fix it or re-export the folder")


def check_layer_count(folder: Path, config: ModelConfig, headers: dict[str, Header]) -> None:
    """config.json's num_hidden_layers against the layers the files hold (each of 0..n-1 must appear), before a
    model of that many layers is built."""
    layers = {int(m.group(1)) for name in headers if (m := _LAYER.match(name))}
    _count_held(folder, "num_hidden_layers", config.num_hidden_layers, layers, "layers")


def no_mtp_weights(folder: Path) -> str:
    """The error of a folder whose MTP weights a drafting run needs and does not find, and what to do."""
    return (f"{folder} has no MTP weights (no {MTP_FILE}, and none inline), and drafting needs them: export the "
            "training checkpoint with `axk1 export --keep-mtp`, or run without --speculative")


def check_counts(folder: Path, config: ModelConfig, headers: dict[str, Header], with_mtp: bool) -> None:
    """Every count of config.json that sizes a module list or a loop over tensor names, against the files'
    headers: layers, routed experts (the released names list each expert; a count of 10**7 made the name mapping
    loop for ever), and, when MTP is loaded, the MTP layers (one module each)."""
    check_layer_count(folder, config, headers)
    n_layers = config.num_hidden_layers
    if any(config.is_moe_layer(i) for i in range(n_layers)):
        experts = {int(m.group(1)) for name in headers if (m := _EXPERT.match(name))}
        _count_held(folder, "n_routed_experts", config.n_routed_experts, experts, "experts")
    if with_mtp:
        mtp = {int(m.group(1)) - n_layers for name in headers if (m := _LAYER.match(name))
               and int(m.group(1)) >= n_layers}
        if not mtp:  # the usual case: a folder exported without its drafter (config.json still counts it)
            raise ValueError(no_mtp_weights(folder))
        _count_held(folder, "num_nextn_predict_layers", config.num_nextn_predict_layers, mtp, "MTP layers")


def check_mtp_order(folder: Path, config: ModelConfig, headers: dict[str, Header]) -> None:
    """Refuses MTP layers without their copies of the embedding and head: every writer of DeepSeek-V3's layout has
    written them since axk1 took its released input order, so such a layer is an axk1 export from before, whose
    eh_proj reads [hidden state, embedding] (axk1/checkpoint/mtp_order.py). Read in the new order it would draft
    from swapped inputs; the training checkpoint exports again converted."""
    copies = mtp_shared_copies(config, config.num_nextn_predict_layers)
    for k in range(config.num_nextn_predict_layers):
        layer = f"model.layers.{config.num_hidden_layers + k}."
        held = layer + "eh_proj.weight" in headers
        lacking = [n for n in copies if n.startswith(layer) and n not in headers]
        if held and lacking:
            raise ValueError(f"{headers[layer + 'eh_proj.weight'].file}: MTP layer {layer[:-1]} lacks "
                             f"{', '.join(lacking)}: it was written by `axk1 export --keep-mtp` before axk1's MTP "
                             "took DeepSeek-V3's released input order (embedding first), so its eh_proj reads the "
                             "two halves the other way round. Export the training checkpoint again (the export "
                             "converts it), or load the folder without MTP (no --speculative)")


def check_output_folder(out: Path) -> list[Path]:
    """Whether a model can be written to `out`: nothing there, or a folder holding only an earlier model's files
    (returned); anything else is refused, as it may not be a model folder at all. SFT and RL ask before they train,
    so that the export at their end cannot be refused after hours of training."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"the output {out} exists and is not a folder: choose another output path")
    if not out.exists():
        return []
    conversions = sorted(p.name for p in out.glob(CONVERSIONS))
    if conversions:
        raise ValueError(f"the output folder {out} holds {named(conversions)}, a conversion of the model there that "
                         "the new weights would leave stale: move it out (or delete it) and run again, or write to "
                         "a new folder")
    stale, other = sort_entries(out, MODEL_FOLDER_FILES, _MODEL_FOLDER_PATTERNS)
    if other:
        raise ValueError(f"the output folder {out} holds {named(other)}, "
                         "which is not part of a model folder: write to a new or empty folder (or delete those)")
    return stale


def staging_folder(out: Path) -> Path:
    """Where a model for `out` is written before it takes `out`'s place: beside it (one filesystem, so the rename
    is atomic), hidden, named after it. A re-export that cleared `out` first and then failed (a full disk) left
    nothing where a good model had been."""
    return swap_siblings(out)[0]


def restore_replaced(out: Path) -> None:
    """Puts the earlier model back where a command killed between replace_folder's two renames left no `out`
    (the earlier model in `.out.replaced`, the new one in the staging folder): `axk1 generate out` said only
    "does not exist", and the next export deleted `.out.replaced` unasked. The earlier model is the one put back,
    not the new one: it was a whole folder where it stood, while nothing records that a staging folder was
    finished (the rerun writes the new model again)."""
    old = swap_siblings(out)[1]
    if out.exists() or out.is_symlink() or not old.is_dir():
        return
    old.rename(out)
    print(f"note: {out} was missing and {old} held the model that was there (a command replacing it was stopped "
          "between its two renames): put it back", file=sys.stderr, flush=True)


def begin_replacing(out: Path) -> tuple[Path, Path | None]:
    """(the staging folder for a new model of `out`, empty; what a killed export left there, renamed aside for the
    caller to `discard` once no rank waits on this one, or None). `out` is checked first (a folder holding
    anything but a model's files is refused, check_output_folder) and left as it is until replace_folder; where a
    killed swap left no `out`, the earlier model is put back first (restore_replaced)."""
    restore_replaced(out)
    check_output_folder(out)
    staging, stale = staging_folder(out), None
    if staging.exists() or staging.is_symlink():
        stale = staging.with_name(f"{staging.name}-old-{uuid.uuid4().hex[:12]}")
        staging.rename(stale)
    staging.mkdir(parents=True)
    return staging, stale


def replace_folder(staging: Path, out: Path) -> Path | None:
    """`staging`, written whole, becomes `out`; an earlier model there is renamed out of the way first (none of its
    files, a tokenizer or template, outlives it) and returned for the caller to `discard` once no rank waits on
    this one: deleting 2 TB can outlast a collective's timeout. A kill between the two renames leaves no `out`:
    the next begin_replacing or replace_folder puts the earlier model back, and a reader's error names both."""
    old = swap_siblings(out)[1]
    restore_replaced(out)  # never delete the only model there is
    discard(old)  # an earlier run's, killed before it deleted its own
    carry_written_files(out, staging)
    moved = None
    if out.exists() or out.is_symlink():
        out.rename(old)
        moved = old
    staging.rename(out)
    return moved


def carry_written_files(out: Path, staging: Path) -> None:
    """Copies `out`'s CARRIED_FILES that the new model in `staging` lacks into it, and says so: a re-export deleted
    a hand-written model card and sampling defaults with the old weights, silently."""
    kept = [name for name in CARRIED_FILES if (out / name).is_file() and not (staging / name).exists()]
    for name in kept:
        shutil.copy2(out / name, staging / name)
    if kept:
        print(f"note: kept {' and '.join(kept)} of the model that was in {out} (the new model brings none): edit "
              f"{'them' if len(kept) > 1 else 'it'} if {'they describe' if len(kept) > 1 else 'it describes'} "
              "the earlier weights", file=sys.stderr, flush=True)


def save_weights(tensors: dict, file: Path, metadata: dict[str, str]) -> None:
    """safetensors' save_file, then the permissions any other file written here gets (0o666 less the umask):
    save_file creates its files 0600, which left weights unreadable to the group that can read config.json."""
    try:
        save_file(tensors, str(file), metadata=metadata)
    except SafetensorError as e:  # how safetensors reports a failed write (a full disk): an OSError naming the file
        cause = str(e).splitlines()[0] if str(e) else "safetensors could not write it"
        full = "os error 28" in cause or "No space left" in cause
        raise OSError(errno.ENOSPC if full else errno.EIO, cause, str(file)) from e
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(file, 0o666 & ~umask)
