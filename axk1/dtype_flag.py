"""Every verb's `--dtype` (generate, export, serve, eval): one flag taking config.py's DTYPES names, and its one
reading. Not in cli_args.py: that leaf imports no torch (`axk1 data` needs none of the model stack)."""

from __future__ import annotations

import argparse

import torch

from axk1.config import DTYPES


def add_dtype_flag(parser: argparse.ArgumentParser, default: str = "the dtype in config.json") -> None:
    """`--dtype NAME`, one of DTYPES' names (a wrong one is argparse's error, listing them); None when not given."""
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help=f"default: {default}")


def flag_dtype(name: str | None) -> torch.dtype | None:
    """The torch dtype a `--dtype` flag named; None when it was not given (the model folder's own dtype)."""
    return DTYPES[name] if name else None
