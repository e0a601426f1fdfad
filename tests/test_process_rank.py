"""process_rank: torchrun's RANK before a process group exists, the group's rank after."""

from __future__ import annotations

import subprocess
import sys

from axk1.process_rank import process_rank


def test_rank_from_torchrun_environment_without_a_process_group(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    assert process_rank() == 3
    monkeypatch.setenv("RANK", "")
    assert process_rank() == 0
    monkeypatch.setenv("RANK", "not-a-rank")
    assert process_rank() == 0
    monkeypatch.delenv("RANK")
    assert process_rank() == 0


def test_process_group_rank_wins_and_torch_is_not_imported_to_ask(tmp_path):
    # a one-process gloo group of rank 0 while RANK says 5: the group's rank is the answer once it is up
    code = ("import os, sys\nos.environ['RANK'] = '5'\nfrom axk1.process_rank import process_rank\n"
            "assert process_rank() == 5 and 'torch' not in sys.modules\n"
            "import torch.distributed as dist\n"
            f"dist.init_process_group('gloo', init_method='file://{tmp_path}/store', rank=0, world_size=1)\n"
            "print(process_rank())\ndist.destroy_process_group()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
