"""A compressed file's bytes as a stream: `open_bytes` (by the file's suffix) opens the data pipeline's line-based
sources (jsonl); `ZstdStream` is the one zstd reader, post-training's chat and task readers' too (they tell the
compression by the first bytes: chat_formats.decompressor)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path


class ZstdStream(io.RawIOBase):
    """A zstd file's decompressed bytes, frame after frame. zstandard's own stream reader ends quietly inside a cut
    frame (a file cut to 75% gave no record and no error: 20 records lost without a trace); this one raises EOFError.
    A damaged frame is an OSError ("ZstdError: ..."), as gzip's and bzip2's are, so readers catch one kind."""

    def __init__(self, path: Path) -> None:
        import zstandard

        self._zstd, self._file, self._out = zstandard, open(path, "rb"), b""
        self._frame = zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            chunk = self._file.read(1 << 16)
            if not chunk:
                if not self._frame.eof:
                    raise EOFError("the zstd stream ends inside a frame: the file is cut short")
                return 0
            if self._frame.eof:  # the next frame of a multi-frame file
                self._frame = self._zstd.ZstdDecompressor().decompressobj()
            try:
                self._out = self._frame.decompress(chunk)
                rest = self._frame.unused_data if self._frame.eof else b""
                while rest:  # frames that began inside this chunk
                    self._frame = self._zstd.ZstdDecompressor().decompressobj()
                    self._out += self._frame.decompress(rest)
                    rest = self._frame.unused_data if self._frame.eof else b""
            except self._zstd.ZstdError as e:
                raise OSError(f"ZstdError: {e}") from None
        n = min(len(buffer), len(self._out))
        buffer[:n], self._out = self._out[:n], self._out[n:]
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def open_bytes(path: Path) -> io.BufferedIOBase:
    """A data file's bytes, decompressed by its name's suffix (.gz, .zst, .bz2, .xz); OSError naming what to do
    for a compression not read here."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(ZstdStream(path))  # BufferedReader adds line iteration
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".xz"):
        return lzma.open(path, "rb")
    if name.endswith((".lz4", ".br", ".snappy")):
        raise OSError(f"{path.suffix} compression is not read here: decompress it, or recompress as .gz, .zst, .bz2 "
                      "or .xz")
    return open(path, "rb")
