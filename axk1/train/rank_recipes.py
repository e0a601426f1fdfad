"""Under torchrun every rank reads the recipe and command line for itself: the launch's ranks must agree on them.

A rank given another recipe (a copy edited on one node, a wrapper script that passes other options) does not fail on
its own: with another learning rate it trains its shards at that rate and the run ends "well"; with another batch
size or architecture the ranks' collectives no longer match, and they hang or abort with gloo's or NCCL's words.
So, as soon as the process group is up, the ranks compare their recipes and refuse to start if they differ.
"""

from __future__ import annotations

from dataclasses import asdict

import torch.distributed as dist

from axk1.config import ModelConfig
from axk1.json_text import json_digest
from axk1.settings_snapshot import flat_settings, json_safe, setting_diffs
from axk1.train.recipe import Recipe

# what may differ between ranks: the file the recipe was read from (its values are compared), and the CPU threads
# each process uses
PER_RANK = ("path", "run.threads")


def check_ranks_agree(r: Recipe, config: ModelConfig) -> None:
    """Raises ValueError on every rank, with one and the same line, when any rank's recipe (with its command-line
    options, layout and step cap included) or model architecture differs from rank 0's. Collective: every rank of
    the default group calls it once, right after joining it. Only a digest travels unless they differ."""
    settings = json_safe({**asdict(r), "model_architecture": config.to_dict()})
    mine = {k: v for k, v in flat_settings(settings).items() if k not in PER_RANK}
    digest = json_digest(mine)
    digests: list = [None] * dist.get_world_size()
    dist.all_gather_object(digests, digest)
    odd = [rank for rank, d in enumerate(digests) if d != digests[0]]
    if not odd:
        return
    everyone: list = [None] * len(digests)  # the settings themselves, to name what differs (a failing launch only)
    dist.all_gather_object(everyone, mine)
    diffs = setting_diffs(everyone[0], everyone[odd[0]])
    others = f" (and {len(odd) - 1} more rank(s): {', '.join(map(str, odd[1:8]))}{' ...' if len(odd) > 8 else ''})"
    raise ValueError(f"rank {odd[0]}'s recipe differs from rank 0's: {'; '.join(diffs)[:2000]}"
                     f"{others if len(odd) > 1 else ''}. Every rank of a launch must be given the same recipe and "
                     "options: start them all with the same command")
