"""`axk1 export`: a training checkpoint (DCP step folder) → the released Hugging Face layout.

As the release does, the export leaves out what only training needs: the MTP module, and the balancing bias, which
it writes as zeros (the released routers route with b = 0; vLLM's loader expects the tensor). Post-training is the
exception: it routes with the bias its base model came with (a DeepSeek-style or transformers-trained model's is not
zero) and never moves it, so its export writes that bias (`keep_router_bias`, recorded in its checkpoints): zeros
there would be another model than the one trained. keep_mtp writes the MTP module to
mtp.safetensors beside the main files, where the released layout keeps it and inference loaders skip it: speculative
decoding drafts with it (axk1/infer/speculative.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist

from axk1.checkpoint.dcp import (KEEP_ROUTER_BIAS, TRAIN_STATE, barrier, check_model_keys, latest_step, load_tensors,
                                  step_dir)
from axk1.checkpoint import checksums
from axk1.checkpoint.dcp_safe import SafeReader, corrupt
from axk1.checkpoint.folder import begin_replacing, replace_folder, staging_folder
from axk1.checkpoint.hf import save_pretrained
from axk1.checkpoint.mtp_order import EMBEDDING_FIRST, MTP_ORDER, hidden_first, is_eh_proj, swap_halves
from axk1.checkpoint.state_dict_adapter import EXPERT_KEY
from axk1.checkpoint.tokenizer_extras import complete_tokenizer_files
from axk1.config import ModelConfig
from axk1.json_text import JsonError, parse_json, read_json_file
from axk1.model import AXK1ForCausalLM
from axk1.output_folder import discard
from axk1.parallel.distributed import checkpoint_group
from axk1.presets import yarn_block
from axk1.rope_scaling import MAX_YARN_FACTOR
from axk1.text.tokenizer_file import PADDING_SIDE, tokenizer_hash
from axk1.user_file import read_bytes

log = logging.getLogger(__name__)
T = TypeVar("T")
BIAS = "e_score_correction_bias"  # the routers' balancing bias: the release's is 0 (post-training keeps its own)


def check_yarn_factor(factor: float) -> float:
    """`factor` when --yarn may take it (above 1, at most MAX_YARN_FACTOR), else a ValueError naming --yarn."""
    if not 1 < factor <= MAX_YARN_FACTOR:  # nan and inf too
        raise ValueError(f"--yarn takes a factor > 1 and at most {MAX_YARN_FACTOR} (the release's: 4), got {factor}")
    return factor


def with_yarn(config: ModelConfig, factor: float, original: int | None = None) -> ModelConfig:
    """`config` extended for serving by YaRN `factor` from `original`, the length it was trained at (the longest
    seq_len its stages trained: train/trained_length.py; None: its max_position_embeddings), with the release's
    other YaRN values, and factor x `original` as its max_position_embeddings: how A.X K1 serves 131,072 tokens
    after training at 32,768 with plain RoPE. The weights are unchanged; YaRN is applied at inference from
    config.json."""
    if config.rope_scaling is not None:
        raise ValueError(f"--yarn: the checkpoint already runs YaRN (factor {config.rope_scaling['factor']} from "
                         f"{config.rope_scaling['original_max_position_embeddings']}, a context-extension stage's): "
                         "its config.json carries that block; --yarn extends a model trained with plain RoPE")
    check_yarn_factor(factor)
    if original is None:
        original = config.max_position_embeddings
    elif not 1 <= original <= config.max_position_embeddings:
        raise ValueError(f"--yarn: the length trained, {original}, is not within the model's "
                         f"max_position_embeddings ({config.max_position_embeddings})")
    return config.replace(rope_scaling=yarn_block(factor, original), max_position_embeddings=int(factor * original))


def resolve_checkpoint(path: str | Path) -> Path:
    """A step folder, or a checkpoints folder (its newest complete step)."""
    path = Path(path)
    if (path / TRAIN_STATE).exists():
        return path
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a step-NNNNNN folder or a run's checkpoints folder "
                                "(e.g. out/train/checkpoints)")
    step = latest_step(path)
    if step is None:
        inside = path / "checkpoints"  # the run's own folder given (`axk1 export out/train ...`)
        hint = f"; its checkpoints are in {inside}: give that" if latest_step(inside) is not None else ""
        raise FileNotFoundError(f"{path} holds no complete training checkpoint (step-NNNNNN/ with {TRAIN_STATE}){hint}")
    return step_dir(path, step)


# what a model folder takes from its tokenizer's folder (all but tokenizer.json optional): the chat template and
# special tokens, and the generation defaults that travel with them
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "generation_config.json")


def check_tokenizer(source: str | Path, vocab_size: int) -> Path:
    """The folder holding `source`'s tokenizer.json, once it is known to parse and to fit the model's embedding."""
    from axk1.text.tokenizer_file import load_tokenizer

    source = Path(source)
    folder = source.parent if source.name == "tokenizer.json" else source
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"tokenizer {source}: no tokenizer.json there; give the folder `axk1 data run` "
                                "wrote it to (e.g. out/data/tokenizer) or the tokenizer.json file")
    size = load_tokenizer(folder / "tokenizer.json").get_vocab_size()
    if size > vocab_size:
        raise ValueError(f"tokenizer {source}: its vocabulary ({size} tokens) is larger than the model's "
                         f"({vocab_size}); it is not the tokenizer this model was trained with")
    return folder


def read_tokenizer(source: str | Path, vocab_size: int, trained_with: str | None = None) -> dict[str, bytes]:
    """tokenizer.json and the other TOKENIZER_FILES present in `source` (their folder, or tokenizer.json itself),
    by name, once the tokenizer is known to fit the model's embedding and, given `trained_with` (the digest the
    training data's manifest recorded), to be that tokenizer. Read into memory, so that the source may be the very
    folder a model is about to be written to (clearing it first would delete them)."""
    folder = check_tokenizer(source, vocab_size)
    if trained_with is not None and (digest := tokenizer_hash(folder)) != trained_with:
        raise ValueError(f"tokenizer {source} (digest {digest}) is not the one the model's training data was "
                         f"tokenized with (digest {trained_with}, from its token-shard manifest): its ids mean other "
                         "text, so every generation would be garbled; give the tokenizer folder of the data run "
                         "that made the shards (e.g. out/data/tokenizer)")
    return {name: read_bytes(folder / name) for name in TOKENIZER_FILES if (folder / name).exists()}


def _write_tokenizer(files: dict[str, bytes], model_dir: str | Path, context: int | None = None) -> None:
    """The tokenizer's files into a model folder; `context` (the model's context_length) becomes
    tokenizer_config.json's model_max_length, which transformers truncates to: a tokenizer trained by `axk1 data`
    says 32,768 whatever model it ends up with (6,001 tokens kept for a 1,024-token model). A file that names no
    padding side gets the left (PADDING_SIDE): one trained before `axk1 data` wrote it made transformers' batched
    generate pad on the right."""
    for name, data in files.items():
        if name == "tokenizer_config.json" and context is not None:
            try:
                config = parse_json(data)
            except JsonError:
                config = None  # written as it is: loading it says what is wrong
            if isinstance(config, dict):
                data = json.dumps({"padding_side": PADDING_SIDE, **config, "model_max_length": context}, indent=2,
                                  ensure_ascii=False).encode()
        (Path(model_dir) / name).write_bytes(data)


def read_train_state(ckpt: Path) -> dict:
    """train_state.json, with the model_config an export needs."""
    file = ckpt / TRAIN_STATE
    saved = read_json_file(file, "the checkpoint is corrupt or incomplete: use another step folder, or re-save it",
                           what="checkpoint's train state")
    if not isinstance(saved, dict) or not isinstance(saved.get("model_config"), dict):
        raise corrupt(file, "no model_config object in it")
    if not isinstance(saved.get("mtp_depth", 0), int):
        raise corrupt(file, f"mtp_depth is {saved['mtp_depth']!r}, not an integer")
    if saved.get(MTP_ORDER, EMBEDDING_FIRST) != EMBEDDING_FIRST:
        raise corrupt(file, f"{MTP_ORDER} is {saved[MTP_ORDER]!r}; the trainer writes only {EMBEDDING_FIRST!r}")
    if not isinstance(saved.get(KEEP_ROUTER_BIAS, False), bool):
        raise corrupt(file, f"{KEEP_ROUTER_BIAS} is {saved[KEEP_ROUTER_BIAS]!r}, not true or false")
    return saved


_STORED = re.compile(r"^model\.lm\.(?:model\.layers|mtp)\.(\d+)\.")
_STORED_EXPERTS = re.compile(r"^model\.lm\.model\.layers\.\d+\.mlp\.experts\.gate_up_proj$")


def check_stored_counts(ckpt: Path, config: ModelConfig, with_mtp: bool, reader: SafeReader) -> None:
    """train_state.json's model_config against the tensors the checkpoint holds, in the counts that size the model's
    module lists and the export's loop over per-expert names (layers, routed experts, MTP layers): a model_config
    claiming 10**9 experts made the export loop for ever before any tensor was compared."""
    stored = reader.read_metadata().state_dict_metadata
    mtp = "model.lm.mtp."
    layers = {int(m.group(1)) for k in stored if not k.startswith(mtp) and (m := _STORED.match(k))}
    counts = [("num_hidden_layers", config.num_hidden_layers, len(layers))]
    experts = [meta.size[0] for k, meta in stored.items() if _STORED_EXPERTS.match(k) and getattr(meta, "size", None)]
    if experts:
        counts.append(("n_routed_experts", config.n_routed_experts, max(experts)))
    if with_mtp:
        counts.append(("num_nextn_predict_layers", config.num_nextn_predict_layers,
                       len({int(m.group(1)) for k in stored if k.startswith(mtp) and (m := _STORED.match(k))})))
    for field, said, held in counts:  # fewer layers than stored would drop the rest without a word
        if said > held or (field == "num_hidden_layers" and said != held):
            raise corrupt(ckpt / TRAIN_STATE, f"its model_config says {field} = {said}, but the checkpoint holds "
                          f"{held}")


def check_stored_shapes(ckpt: Path, shapes: dict[str, torch.Size], reader: SafeReader) -> None:
    """Every model tensor (state-dict key -> shape) is stored with that shape, before anything is written."""
    check_model_keys(ckpt, shapes, reader)
    stored = reader.read_metadata().state_dict_metadata
    for key, shape in shapes.items():
        size = getattr(stored[f"model.{key}"], "size", None)
        if size is not None and tuple(size) != tuple(shape):
            raise corrupt(ckpt / TRAIN_STATE, f"its model_config makes {key.removeprefix('lm.')} {tuple(shape)}, but "
                          f"the checkpoint stores {tuple(size)}")


def tokenizer_ids(config: ModelConfig, tokenizer_json: bytes) -> ModelConfig:
    """`config` with bos/eos/pad ids taken from an axk1 tokenizer's special tokens. The ids in a run's config need not
    be the tokenizer's (a planner's config has none; a preset may carry A.X K1's eos 163691, an ordinary merge in an
    axk1 tokenizer), and generate, serve, RL rollouts and transformers all stop at config.json's eos: a mismatch
    never stops at <|im_end|>. A tokenizer without axk1's special tokens (A.X K1's own) leaves the config as it is."""
    from tokenizers import Tokenizer

    from axk1.text.tokenizer_file import BOS, EOS, PAD

    vocab = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    wanted = {"bos_token_id": vocab.token_to_id(BOS), "eos_token_id": vocab.token_to_id(EOS),
              "pad_token_id": vocab.token_to_id(PAD)}
    if None in wanted.values():
        return config
    changed = {k: v for k, v in wanted.items() if getattr(config, k) != v}
    if changed:
        log.warning("export: config.json takes the tokenizer's special-token ids (%s; the run's config said %s)",
                    ", ".join(f"{k} = {v}" for k, v in changed.items()),
                    ", ".join(f"{k} = {getattr(config, k)}" for k in changed))
    return dataclasses.replace(config, **changed)


class StepRemoved(ValueError):
    """The step folder an export was reading no longer exists: a run pruning its checkpoints (keep_latest) deleted
    it mid-read, which is not damage (the files read as "corrupt or incomplete ... re-save it")."""


def export_newest(checkpoint: str | Path, distributed: bool, export: Callable[[Path], T]) -> tuple[Path, T]:
    """(the step, `export(step)`) for the step `checkpoint` names (agreed_checkpoint). Where that step folder is gone
    once the export failed, the failure is StepRemoved; given a checkpoints folder (not a step), in one process, the
    export is tried once more with the step now newest, since the run that pruned it keeps that one."""
    step = agreed_checkpoint(checkpoint, distributed)
    for last in (False, True):
        try:
            return step, export(step)
        except (ValueError, OSError) as e:
            if step.is_dir():
                raise
            removed = StepRemoved(f"{step} was removed while reading: a run is pruning this folder; export a step "
                                  "it keeps, or rerun")
            if last or distributed or step == Path(checkpoint):  # every rank would have to agree on the retry
                raise removed from e
            print(f"note: {removed}; exporting the newest step instead", file=sys.stderr, flush=True)
            step = resolve_checkpoint(checkpoint)
    raise AssertionError("unreachable")


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, dtype: torch.dtype | None = None,
                      keep_mtp: bool = False, tokenizer: str | Path | None = None,
                      max_shard_size: int | str = "5GB", distributed: bool = False,
                      yarn: float | None = None, yarn_from: int | None = None,
                      keep_router_bias: bool | None = None, verify_checksums: bool = True,
                      chat_template: str | None = None) -> Path:
    """`_export_step` of the step `checkpoint` names: a step removed while it was read is StepRemoved, and a
    checkpoints folder's newest step removed so is followed by the next newest (export_newest)."""
    return export_newest(checkpoint, distributed, lambda step: _export_step(
        step, out_dir, dtype, keep_mtp, tokenizer, max_shard_size, distributed, yarn, yarn_from, keep_router_bias,
        verify_checksums, chat_template))[1]


def _export_step(ckpt: Path, out_dir: str | Path, dtype: torch.dtype | None, keep_mtp: bool,
                 tokenizer: str | Path | None, max_shard_size: int | str, distributed: bool, yarn: float | None,
                 yarn_from: int | None, keep_router_bias: bool | None, verify_checksums: bool,
                 chat_template: str | None) -> Path:
    """The checkpoint (a step folder, or the newest in a checkpoints folder) as a model folder; `tokenizer`: a
    folder with tokenizer.json to copy in (without one the folder takes token ids only). Streamed: the model is
    built on the meta device and each safetensors shard's tensors are read from the checkpoint when that shard is
    written, so memory holds about one shard (and one layer's stacked experts), not the model (2 TB in fp32 for
    A.X K1, which the previous whole-model export needed, after initialising it). `distributed`: every rank of
    the process group calls this and writes its own share of the shards. `yarn`: a factor to serve past the trained
    length, `yarn_from` (`with_yarn`'s `original`). `keep_router_bias`: write the routers' balancing bias as the
    checkpoint holds it (post-training's) rather than as zeros (pretraining's, as the release); None: as the
    checkpoint's train_state.json records (KEEP_ROUTER_BIAS; absent: zeros). `verify_checksums`: the files' CRC-32s
    checked first, as a resume checks them (off only for a checkpoint this process has just written).
    `chat_template`: the template the model was trained to, written where the tokenizer's folder has none; a folder
    without tokenizer_config.json gets one naming config.json's special tokens (tokenizer_extras.py)."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    saved = read_train_state(ckpt)
    # bytes changed in place, as a resume finds them, before any is read: torch reads tensor bytes unchecked, so a
    # flipped byte was exported as a model with one wrong weight (the whole checkpoint is read once for it)
    if verify_checksums:
        checksums.verify(ckpt, saved.get(checksums.CHECKSUMS), checkpoint_group() if distributed else None,
                         alone=not distributed)
    if keep_router_bias is None:
        keep_router_bias = saved.get(KEEP_ROUTER_BIAS, False)
    try:
        config = ModelConfig.from_dict(saved["model_config"])
    except (ValueError, TypeError) as e:
        raise corrupt(ckpt / TRAIN_STATE, f"its model_config is not valid: {e}") from e
    if yarn is not None:
        config = with_yarn(config, yarn, yarn_from)
    # before anything is written: a bad tokenizer must not leave a half-made folder; and read now, since the
    # tokenizer's folder may be out_dir itself, which the new model replaces below. By the one rank that writes
    # it and config.json: another would read while that rank clears the folder
    tokenizer_files = read_tokenizer(tokenizer, config.vocab_size, saved.get("tokenizer_hash")) \
        if tokenizer is not None and rank == 0 else {}
    if tokenizer_files:
        config = tokenizer_ids(config, tokenizer_files["tokenizer.json"])
        tokenizer_files = complete_tokenizer_files(tokenizer_files, config, chat_template)
    trained_mtp = saved.get("mtp_depth", 0) > 0
    if keep_mtp and not trained_mtp:
        raise ValueError(f"{ckpt} was trained without MTP ([model] mtp_depth = 0): there is no MTP module to keep")
    reader = SafeReader(str(ckpt))  # one for every shard's read: the checkpoint's metadata is parsed once
    check_stored_counts(ckpt, config, trained_mtp, reader)  # before a model of that many modules is built
    with torch.device("meta"):  # names, shapes and dtypes only: the tensors are read shard by shard below
        model = AXK1ForCausalLM(config, with_mtp=trained_mtp)
    # all there and of the shapes the config says, before anything is written
    check_stored_shapes(ckpt, {f"lm.{k}": t.shape for k, t in model.state_dict().items()}, reader)
    if not keep_mtp:
        model.mtp = None  # training only: the release ships no MTP weights
    convert = keep_mtp and hidden_first(saved)
    if convert and rank == 0:
        log.warning("export: %s trained its MTP module with eh_proj reading [hidden state, embedding] (axk1's order "
                    "before it took DeepSeek-V3's released one); eh_proj is written with its halves swapped, the same "
                    "function in the embedding-first order", ckpt)
    meta = model.state_dict()
    stacks: dict[str, torch.Tensor] = {}  # the stacked experts the shard before read: the next shard's experts

    def tensors_for(keys: list[str]) -> dict[str, torch.Tensor]:
        """The checkpoint's tensors `keys` (model state-dict keys; the trainer checkpoints its loss module, which
        holds the model under `lm.`); the balancing bias as zeros unless kept, since the release routes without it. A
        layer's stacked experts span several shards (A.X K1: ~7 of 5 GB), so they are kept from one shard to the next
        instead of read again for each (9.7 TB read for 2.1 TB of weights)."""
        out = {k: torch.zeros(meta[k].shape, dtype=meta[k].dtype) for k in keys
               if k.endswith(BIAS) and not keep_router_bias}
        out.update({k: stacks[k] for k in keys if k in stacks})
        wanted = {f"lm.{k}": torch.empty(meta[k].shape, dtype=meta[k].dtype) for k in keys if k not in out}
        if wanted:
            load_tensors(ckpt, wanted, reader)
        out.update({k.removeprefix("lm."): swap_halves(t) if convert and is_eh_proj(k) else t
                    for k, t in wanted.items()})
        stacks.clear()
        stacks.update({k: t for k, t in out.items() if EXPERT_KEY.match(k)})
        return out

    # Written beside out_dir and swapped in whole (folder.replace_folder): a failed export leaves an earlier model
    # there as it was. Distributed, every rank writes its own run of the shards (A.X K1's 2 TB read and written by
    # one process takes hours), then rank 0 what describes them; otherwise this process writes them all.
    out = Path(out_dir)
    staging, stale = begin_replacing(out) if rank == 0 else (staging_folder(out), None)
    try:
        if not distributed:
            save_pretrained(model, staging, max_shard_size, dtype=dtype, tensors_for=tensors_for)
        else:
            barrier()
            save_pretrained(model, staging, max_shard_size, dtype=dtype, tensors_for=tensors_for, part=(rank, world))
            barrier()  # every run of shards written before the index and config.json say the folder is whole
            if rank == 0:
                save_pretrained(model, staging, max_shard_size, dtype=dtype, tensors_for=tensors_for,
                                part=(world, world))
        if rank == 0:
            _write_tokenizer(tokenizer_files, staging, config.context_length)
    except BaseException as e:
        # any end, not only a full disk's: Ctrl-C or SIGTERM (axk1's Terminated) mid-write left the hidden staging
        # folder of shards behind (terabytes at scale), found by nobody until the next export into `out`
        if rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
            discard(stale)
        if not isinstance(e, OSError):
            raise
        kept = "the model that was there is unchanged" if out.exists() else "nothing was left behind"
        raise OSError(e.errno, f"{e.strerror or e}: exporting to {out} failed ({kept}); free space or fix the "
                      "cause and export again") from e  # no file name: it would be the staging folder's
    old = replace_folder(staging, out) if rank == 0 else None
    if distributed:
        barrier()  # the folder whole before any rank reads or reports it
    for path in (old, stale):  # after the last barrier: no rank waits on rank 0 deleting an earlier model
        discard(path)
    return out


def agreed_checkpoint(checkpoint: str | Path, distributed: bool) -> Path:
    """resolve_checkpoint as rank 0 resolves it, on every rank when `distributed` (collective): ranks listing a
    checkpoints folder each on their own (one starting later while a save appears, a lagging NFS cache) exported
    different steps into one folder, which loaded as a model mixed from both."""
    if not distributed:
        return resolve_checkpoint(checkpoint)
    box = [str(resolve_checkpoint(checkpoint)) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0, group=checkpoint_group())
    return Path(box[0])
