"""Reading a DCP checkpoint's `.metadata` without trusting it.

torch's FileSystemReader reads `.metadata` with a plain `pickle.load`, so a hostile checkpoint folder (one
downloaded, or shared on a cluster file system) could run any code the moment `axk1 export` or `--resume` opened
it. Here `.metadata` is unpickled by an Unpickler that can build only the classes a real checkpoint's metadata is
made of (listed below from one written by torch 2.13), and every storage entry must name a plain file in the
folder, large enough for the bytes it is said to hold. SafeReader is FileSystemReader with that read, so DCP's
loads never unpickle the file themselves. (The tensors in `.distcp` files are raw bytes; the few non-tensor items
there, such as the optimizer's param_groups, torch reads with `torch.load(weights_only=True)`.)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta

from axk1.parallel.failure_chain import causes

METADATA = ".metadata"

# (module, name) pairs found in the metadata of axk1's checkpoints (pickletools over a saved step folder), plus
# the other pathlib flavours a checkpoint written on another system could carry. Torch dtypes are allowed apart.
_ALLOWED = {
    ("torch.distributed.checkpoint.metadata", name) for name in (
        "Metadata", "MetadataIndex", "StorageMeta", "BytesStorageMetadata", "ChunkStorageMetadata",
        "TensorProperties", "TensorStorageMetadata", "_MEM_FORMAT_ENCODING")
} | {
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),  # looks a torch.layout up by its name
    ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"), ("pathlib", "WindowsPath"), ("pathlib", "PureWindowsPath"),
    ("collections", "OrderedDict"),
}


class RefusedPickle(ValueError):
    """The metadata names a class outside the allow-list."""


def corrupt(file: Path, why: str) -> ValueError:
    return ValueError(f"{file}: corrupt or incomplete checkpoint ({why}); use another step folder, or re-save it")


def read_failure(e: BaseException) -> str:
    """A failed DCP read in one line: the first rank's own error (a CheckpointException holds (error, stack) per
    rank, whose repr ran to 1,300 characters of FrameSummary objects), its first sentence (torch's zip reader adds
    a paragraph of guesses)."""
    first = next((c for c in causes(e) if not isinstance(c, CheckpointException)), e)
    text = (str(first).splitlines() or [""])[0].split(". ")[0].rstrip(".")
    return f"{type(first).__name__}: {text}"[:300]


class _MetadataUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) not in _ALLOWED:
            raise RefusedPickle(f"{self._path} refers to {module}.{name}: not a checkpoint's metadata; refusing to "
                             "unpickle it (delete the folder unless you know who wrote it)")
        return super().find_class(module, name)


def read_metadata(folder: str | Path) -> Metadata:
    """The checkpoint's Metadata, unpickled with the allow-list above, its storage entries checked against the
    folder's files. Raises ValueError naming the file on anything else."""
    folder = Path(folder)
    path = folder / METADATA
    if not path.is_file():
        raise corrupt(path, "missing")
    with open(path, "rb") as f:
        try:
            metadata = _MetadataUnpickler(f, path).load()
        except RefusedPickle:
            raise
        except Exception as e:  # a truncated or garbled pickle fails in many ways (EOFError, UnpicklingError, ...)
            raise corrupt(path, f"cannot read it: {type(e).__name__}: {e}") from e
    if not isinstance(metadata, Metadata) or not isinstance(metadata.storage_data, dict):
        raise corrupt(path, f"it holds a {type(metadata).__name__}, not DCP Metadata")
    _check_storage(folder, path, metadata.storage_data)
    return metadata


def _check_storage(folder: Path, path: Path, storage_data: dict) -> None:
    """Every item's bytes lie inside a plain file of this folder (no '../', no absolute path): a truncated or
    missing .distcp file is named here instead of failing deep inside DCP's read."""
    need: dict[str, int] = {}
    for info in storage_data.values():
        name = getattr(info, "relative_path", None)
        offset, length = getattr(info, "offset", None), getattr(info, "length", None)
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise corrupt(path, f"a storage entry names {name!r}, not a file of this folder")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            raise corrupt(path, f"a storage entry of {name} has offset {offset!r}, length {length!r}")
        need[name] = max(need.get(name, 0), offset + length)
    for name, size in sorted(need.items()):
        file = folder / name
        if not file.is_file():
            raise corrupt(file, "missing")
        if file.stat().st_size < size:
            raise corrupt(file, f"{file.stat().st_size} bytes, the metadata says at least {size}: truncated")


class SafeReader(FileSystemReader):
    """FileSystemReader whose metadata comes from read_metadata, not from pickle.load; read once per reader, so a
    reader kept for many loads of parts of one checkpoint (`axk1 export`, a shard at a time) parses it once (A.X K1's
    holds ~1.4M chunk entries: ~19 s a read)."""

    _metadata: Metadata | None = None

    def read_metadata(self, *args, **kwargs) -> Metadata:
        if self._metadata is None:
            self._metadata = read_metadata(Path(self.path))
        metadata = self._metadata
        if getattr(metadata, "storage_meta", None) is None:  # as FileSystemReader.read_metadata does
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata
