"""A compressed file's bytes as a stream, the one opener of gzip, zstd, bzip2 and xz files: `open_bytes` tells the
compression by the file's suffix, `codec_by_head` by its first bytes (post-training's chat and task readers);
`read_lines` gives a line-based file's lines (JSON Lines) and turns a stream cut short or damaged into one ValueError
naming the file and what to do (`damaged`), whatever the codec; `ZstdStream` is the one zstd reader."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path
from typing import Iterator


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


# what reading a compressed stream raises when the file is cut short or damaged: gzip and bzip2 an OSError
# (gzip.BadGzipFile is one) or EOFError, zlib.error for a damaged deflate block, xz lzma.LZMAError, zstd
# ZstdStream's EOFError and OSError
STREAM_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)

SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bzip2", ".xz": "xz"}
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


def codec_by_name(path: Path) -> str:
    """The compression a file's name says ("gzip", "zstd", "bzip2", "xz"), "" for none; OSError naming what to do
    for a compression not read here."""
    suffix = Path(path).suffix.lower()
    if suffix in (".lz4", ".br", ".snappy"):
        raise OSError(f"{suffix} compression is not read here: decompress it, or recompress as .gz, .zst, .bz2 "
                      "or .xz")
    return SUFFIXES.get(suffix, "")


def codec_by_head(head: bytes) -> str:
    """The compression a file's first bytes say, "" for none (a name says less: a .json is as often gzipped)."""
    return next((codec for magic, codec in MAGIC.items() if head.startswith(magic)), "")


def open_codec(path: Path, codec: str) -> io.BufferedIOBase:
    """The file's bytes, decompressed with `codec` (codec_by_name, codec_by_head; "" reads it as it is)."""
    if codec == "gzip":
        return gzip.open(path, "rb")
    if codec == "zstd":
        return io.BufferedReader(ZstdStream(path))  # BufferedReader adds line iteration
    if codec == "bzip2":
        return bz2.open(path, "rb")
    if codec == "xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def open_bytes(path: Path) -> io.BufferedIOBase:
    """A data file's bytes, decompressed by its name's suffix (.gz, .zst, .bz2, .xz); OSError naming what to do
    for a compression not read here."""
    return open_codec(path, codec_by_name(path))


def damaged(path: Path, codec: str, error: BaseException, advice: str, *, what: str = "",
            after: int = 0) -> ValueError:
    """The one error for a compressed file that cannot be read to its end: `[what ]path is a <codec> stream that is
    cut short or damaged[ after line N] (the codec's words): advice`."""
    name = f"{what} {path}" if what else str(path)
    where = f" after line {after}" if after else ""
    return ValueError(f"{name} is a {codec} stream that is cut short or damaged{where} "
                      f"({str(error) or type(error).__name__}): {advice}")


def read_lines(path: Path, advice: str, *, what: str = "") -> Iterator[bytes]:
    """A line-based file's lines as bytes, decompressed by its name's suffix (open_bytes). A
    compressed stream cut short or damaged is a ValueError (`damaged`, with `what`, the last whole line and
    `advice`): gzip's bare EOFError named no file, and a reader that stopped there would lose the rest without a
    word. Opening the file (missing, a folder, no permission) and a plain file's read errors raise as they are:
    those are the disk's, not the data's."""
    codec = codec_by_name(path)
    n = 0
    with open_codec(path, codec) as f:
        try:
            for n, line in enumerate(f, 1):
                yield line
        except STREAM_ERRORS as e:
            if not codec:
                raise
            raise damaged(path, codec, e, advice, what=what, after=n) from None
