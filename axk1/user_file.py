"""Reading a file of a user's folder: regular files only, opened so that nothing else can block the read.

A model folder, a checkpoint or a recipe's folder may come from anyone. A FIFO (or a device, a socket) in place of
one of its files blocked `open()` for ever, waiting for a writer, and SIGTERM could not end it (Python runs signal
handlers between bytecodes, not inside the blocked system call). Every file axk1 reads from such a folder is opened
here: with O_NONBLOCK, so the open returns at once whatever the file is, then refused unless fstat says it is a
regular file (the check is made on the open file, so nothing can be swapped in between). A path that names no
file raises FileNotFoundError as open() does: a missing optional file means something else to the caller.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def not_regular(file: Path) -> ValueError:
    return ValueError(f"{file} is not a regular file (a folder, device or pipe), which axk1 does not read: put the "
                      "file itself there")


def regular_file(file: Path) -> Path:
    """`file`, unless something other than a regular file is there (a missing file is the caller's to refuse)."""
    if file.exists() and not file.is_file():
        raise not_regular(file)
    return file


def not_broken(file: Path) -> Path:
    """`file`, unless it is a symlink that leads nowhere (its target is missing, or the links loop): a reader that
    treats it as missing says "no such file" while the listing shows one, so the error names the link's target."""
    if file.is_symlink() and not file.exists():
        raise FileNotFoundError(f"{file} is a broken symlink (-> {os.readlink(file)}): put the file itself there, or a "
                                "link to it")
    return file


def read_bytes(file: str | Path) -> bytes:
    """The bytes of a regular file; ValueError naming it when it is a FIFO, a device, a socket or a folder."""
    file = Path(file)
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a folder with its own bare error
        os.close(fd)
        raise not_regular(file)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read_text(file: str | Path, what: str = "") -> str:
    """The UTF-8 text of a regular file; bytes that are not UTF-8 are a ValueError naming the file (and `what` it
    is) and the byte's offset."""
    data = read_bytes(file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        name = f"{what} {file}" if what else str(file)
        raise ValueError(f"{name} is not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}): save it as UTF-8") \
            from None


def not_utf8(file: str | Path, advice: str) -> ValueError:
    """The error for a text file a decoder refused: its first undecodable byte, by line and offset in the file (a
    decoder reading in chunks knows neither), then `advice`. Reads the file again: only on this error path."""
    offset, number = 0, 1
    with open(file, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return ValueError(f"{file}:{number}: not UTF-8 text (byte {offset + e.start} of the file is "
                                  f"0x{line[e.start]:02x}); {advice}")
            offset += len(line)
    return ValueError(f"{file}: not UTF-8 text; {advice}")
