"""What the demos share (`axk1 demo`, its post-training, `axk1 demo-long`): a recipe read from the repository's
recipes/ folder, and the end of a demo whose stage a signal stopped. A leaf, below the capabilities, because the
post-training demo lives in posttrain/ and the others above it."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from axk1.toml_file import read_toml

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def shipped_recipe(name: str) -> dict:
    """recipes/<name> (e.g. "demo.toml", "posttrain/sft-think.toml") as a dict, for the demo to move its paths."""
    path = RECIPES / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the demo from a checkout of the axk1 repository")
    return read_toml(path, "recipe")  # the one TOML reader: a broken file is named with its line


def end_if_stopped(stopped_by: str | None, stage: str, verb: str = "axk1 demo") -> None:
    """A stage stopped by SIGTERM (or a signal on another rank) has a checkpoint and no finished model: nothing
    after it may run on a model that is not there, and the demos' stages start over (start_over), so the checkpoint
    cannot be resumed from here either. The demo ends as the stage did: exit 143 and a line saying to run it again."""
    if stopped_by:
        print(f"{verb}: {stage} stopped by {stopped_by}; the demo's stages start over, so run it again",
              file=sys.stderr, flush=True)
        raise SystemExit(128 + signal.SIGTERM)
