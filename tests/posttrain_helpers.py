"""Shared by the post-training tests: minimal SFT and RL recipes, JSONL files written as given, files joined with
their byte-order marks, and a folder laid out as the released A.X K1's weights (headers over holes)."""

import json
from pathlib import Path

from axk1.config import ModelConfig
from axk1.posttrain.tasks import generate_tasks, write_jsonl


def minimal_sft_recipe(tmp: Path, folder: Path) -> dict:
    """A one-epoch non-think SFT recipe (as a dict) on 16 small chat rows written under `tmp`, from `folder`."""
    data = tmp / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"What is {i} plus 2?"},
                                                     {"role": "assistant", "content": f"It is {i + 2}."}]}) + "\n"
                            for i in range(16)))
    return {"model": {"init_from": str(folder), "mtp_depth": 0},
            "sft": {"data": [str(data)], "mode": "non-think", "seq_len": 96, "epochs": 1},
            "optimizer": {"lr": 3e-3}, "schedule": {"kind": "constant"},
            "batch": {"global_sequences": 4, "micro_batch": 4},
            "logging": {"progress": False}, "run": {"out_dir": str(tmp / "run"), "threads": 1}}


def minimal_rl_recipe(tmp: Path, folder: Path) -> dict:
    """An RL recipe (as a dict) with only what it needs: `folder`, 4 math tasks written under `tmp`, its out_dir."""
    tasks = tmp / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(4, seed=0, kinds=("math",), levels=(1,)))
    return {"model": {"init_from": str(folder), "mtp_depth": 0}, "rl": {"tasks": [str(tasks)]},
            "run": {"out_dir": str(tmp / "rl")}}


def joined_with_cat(*files: bytes) -> bytes:
    """Files that each start with a UTF-8 byte-order mark (as Windows editors save them), joined as `cat` joins
    them: the marks land at the start of later lines."""
    return b"".join(b"\xef\xbb\xbf" + f for f in files)


def jsonl_file(path: Path, rows: list) -> Path:
    """`rows` written to `path` one JSON a line, as given (UTF-8, no ASCII escapes)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def header_only_weights(folder, config, shard_bytes: int = 4 * 10**9) -> None:
    """The released tensor names and bf16 shapes of `config` as safetensors shards whose data are holes (sparse
    files of ~4 GB, each memory-mapped alone as the loader maps them): the dry run checks names and shapes on the
    headers and reads no weight, so a 519B folder costs a few MB of disk."""
    import struct

    import torch

    from axk1.checkpoint.hf import hf_tensors
    from axk1.model import AXK1ForCausalLM

    with torch.device("meta"):
        shapes = {name: t.shape for name, t in hf_tensors(AXK1ForCausalLM(config)).items()}
    shards, weight_map = [{}], {}
    for name, shape in shapes.items():
        size = 2 * shape.numel()
        if shards[-1] and sum(b - a for a, b in (h["data_offsets"] for h in shards[-1].values())) + size > shard_bytes:
            shards.append({})
        end = max((h["data_offsets"][1] for h in shards[-1].values()), default=0)
        shards[-1][name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [end, end + size]}
    for k, header in enumerate(shards):
        file = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        weight_map.update(dict.fromkeys(header, file))
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / file, "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            f.truncate(8 + len(raw) + max(h["data_offsets"][1] for h in header.values()))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def release_folder(parent: Path) -> Path:
    """parent/A.X-K1 laid out as the released A.X K1's weights are: config.json and safetensors headers over holes."""
    folder = parent / "A.X-K1"
    folder.mkdir()
    config = ModelConfig.from_preset("axk1-519b")
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    header_only_weights(folder, config)
    return folder
