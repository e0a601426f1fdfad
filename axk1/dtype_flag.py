"""Every verb's `--dtype` (generate, export, serve, eval): one flag taking config.py's DTYPES names, and its one
reading. Not in cli_args.py: that leaf imports no torch (`axk1 data` needs none of the model stack)."""

from __future__ import annotations

import argparse

# config.DTYPES' names, written out: building the parser imports no torch (`axk1 --help` in well under a second; the
# table's torch dtypes are read only when a flag is, in flag_dtype). tests/test_dtype_names.py checks they agree.
DTYPE_NAMES = ("bfloat16", "float16", "float32")


def add_dtype_flag(parser: argparse.ArgumentParser, default: str = "the dtype in config.json") -> None:
    """`--dtype NAME`, one of DTYPES' names (a wrong one is argparse's error, listing them); None when not given."""
    parser.add_argument("--dtype", choices=list(DTYPE_NAMES), default=None, help=f"default: {default}")


def flag_dtype(name: str | None):
    """The torch dtype a `--dtype` flag named; None when it was not given (the model folder's own dtype)."""
    if not name:
        return None
    from axk1.config import DTYPES

    return DTYPES[name]
