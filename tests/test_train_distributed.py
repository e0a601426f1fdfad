"""`axk1 train` on 2 ranks with FSDP2 + expert parallelism + activation recompute (gloo, CPU), stopped after 2 steps
and resumed from its sharded, asynchronously written checkpoint, follows the single-process run of the same recipe.
The ranks are forked with torchrun's environment (tests/warm_ranks.py); the tests of what torchrun's agent adds
(restarts, the error summary) launch real torchrun."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from axk1.checkpoint.checksums import file_crc32
from axk1.checkpoint.dcp import list_steps
from axk1.json_text import read_metrics_rows
from tests.train_helpers import (TORCHRUN_RENDEZVOUS, init_recipe, launch_env, ranks_train, torchrun_train,
                                 write_recipe)

pytestmark = pytest.mark.distributed


def test_torchrun_fsdp_ep_matches_single_process(tmp_path, reference):
    # with activation recompute (composed with EP and FSDP2) and checkpoints written in the background
    recipe = init_recipe(tmp_path / "two", "[parallelism]\ndp_shard = 2\nep = 2\nactivation_checkpointing = \"full\"",
                         reference / "init", sections={"checkpointing": "async = true"})
    # 2 steps, then resume the sharded (FSDP2 + EP) checkpoint for 2 more
    ranks_train(recipe, "--max-steps", "2")
    ranks_train(recipe, "--max-steps", "4", "--resume")
    one, two = reference / "one", tmp_path / "two"
    want = [r for r in read_metrics_rows(one / "run" / "metrics.jsonl")]
    got = [r for r in read_metrics_rows(two / "run" / "metrics.jsonl")]
    assert len(got) == len(want) == 4
    # the rows per domain describe the whole step (8 sequences), not rank 0's half of it
    assert [r["domains"] for r in got] == [r["domains"] for r in want]
    assert all(sum(r["domains"].values()) == 8 for r in got)
    # The two runs sum gradients in different orders (float noise ~1e-7), and Adam amplifies that noise until it
    # flips a top-k routing decision with a margin that small: from then on they part at ~1e-4 (grad norm ~1e-2;
    # benchmarks/RESULTS.md, "Trainer": the drift and the MTP weighting bug that used to start it at step 3). Steps 1-3,
    # which include the first one after the resume, agree to the noise; step 4 only to what a flip leaves, as a flip
    # there depends on the CPU's rounding (seen once on this code's development). The noise by step 3 depends on the
    # rows drawn: 1.15e-5 of step 3's grad norm on one draw.
    for key in ("loss", "mtp_loss", "grad_norm"):
        assert [r[key] for r in got[:3]] == pytest.approx([r[key] for r in want[:3]], rel=3e-5), key
        assert got[3][key] == pytest.approx(want[3][key], rel=3e-2 if key == "grad_norm" else 2e-3), key
    assert list_steps(two / "run" / "checkpoints") == [2, 4]


def test_torchrun_async_saves_overlapping_steps_resume_to_same_losses(tmp_path):
    """A checkpoint every step, written in the background while the next steps run their FSDP2 collectives: the
    save's own collectives (DCP's plan gather) must not share a group with them (they once crossed on gloo:
    "Received data size doesn't match expected size", or a hang after the first save). The run finishes, and a run
    stopped at step 2 and resumed follows it (its two steps after the resume: the second one's loss also depends on
    the optimizer moments the resume read)."""
    runs = {}
    for name in ("whole", "resumed"):
        folder = tmp_path / name
        folder.mkdir()
        path = write_recipe(folder, extra="[parallelism]\ndp_shard = 2", sections={"checkpointing": "async = true"})
        path.write_text(path.read_text().replace("interval_steps = 2", "interval_steps = 1"))
        runs[name] = path
    out = ranks_train(runs["whole"], "--max-steps", "4", timeout=120, stdout=True)  # a hang ends
    assert out.count("step 4  stage s1  loss") == 1, out  # said by rank 0, not by each rank
    ranks_train(runs["resumed"], "--max-steps", "2", timeout=120)  # at the timeout, its ranks killed
    assert list_steps(tmp_path / "resumed" / "run" / "checkpoints") == [1, 2]
    _damaged_shard_is_found_by_the_rank_that_checks_it(tmp_path, runs["resumed"])
    ranks_train(runs["resumed"], "--max-steps", "4", "--resume", timeout=120)
    want = read_metrics_rows(tmp_path / "whole" / "run" / "metrics.jsonl")
    got = read_metrics_rows(tmp_path / "resumed" / "run" / "metrics.jsonl")
    assert [r["step"] for r in want] == [r["step"] for r in got] == [1, 2, 3, 4]
    # same layout, same reduction order: the resumed steps repeat the whole run's to float noise
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in want], rel=1e-6)
    assert list_steps(tmp_path / "whole" / "run" / "checkpoints") == [3, 4]


def _damaged_shard_is_found_by_the_rank_that_checks_it(tmp_path, recipe):
    """Each rank records the CRC-32 of the files it wrote, rank 0 gathers them into train_state.json, and a resume
    splits the check over its ranks: rank 1 checks rank 0's file (sorted names, every other one), and both ranks
    refuse (none goes on into the load alone)."""
    copy = tmp_path / "damaged"
    shutil.copytree(tmp_path / "resumed" / "run", copy)
    step = copy / "checkpoints" / "step-000002"
    table = json.loads((step / "train_state.json").read_text())["crc32"]
    assert sorted(table) == [".metadata", "__0_0.distcp", "__1_0.distcp"], table
    assert all(file_crc32(step / name) == crc for name, crc in table.items())
    with open(step / "__0_0.distcp", "r+b") as f:  # checked by rank 1 of 2
        f.seek(f.seek(0, 2) // 2)
        f.write(b"\xff\xff\xff\x7f")
    err = ranks_train(recipe, "--out", str(copy), "--resume", "--max-steps", "3", fails=True)
    said = (f"{step / '__0_0.distcp'}: corrupt or incomplete checkpoint (CRC-32 ")
    assert err.count(said) >= 1 and "to resume from step 1, the one before it" in err, err[-3000:]


@pytest.mark.parametrize("args, said", [
    ((), ["axk1 train: error: recipe.run: unknown key 'bogus_key' (known: collective_timeout_s, device, "
          "max_bad_steps, max_steps, out_dir, seed, spike_zscore, threads)"]),
    (("--max-steps", "abc"), ["usage: axk1 train [-h] [--resume [auto]] [--out OUT] [--max-steps MAX_STEPS]",
                              "axk1 train: error: argument --max-steps: 'abc' is not a whole number"]),
    # found when the trainer has its ranks: 5 validation rows on 2 ranks used to hang at the first validation
    (("--parallelism.dp_shard", "2", "--validation.held_out", "0.1", "--validation.sequences", "5"),
     ["axk1 train: error: [validation] sequences = 5 does not divide over 2 data-parallel ranks (every rank measures "
      "as many rows): make it a multiple of 2"]),
])
def test_torchrun_recipe_error_is_printed_once(tmp_path, args, said):
    """Every rank reads the same recipe and command line and fails on them the same way: the user reads the error
    once (not once per rank), torchrun's closing summary names it, and the launch exits non-zero."""
    recipe = write_recipe(tmp_path, extra="bogus_key = 3" if not args else "")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", *TORCHRUN_RENDEZVOUS, "-m",
           "axk1.cli", "train", str(recipe), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=launch_env(tmp_path))
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    for line in said:
        assert lines.count(line) == 1, proc.stderr[-3000:]
    assert f"traceback : {said[0]}" in proc.stderr  # torchrun's summary, not "To enable traceback see: ..."


FAILING_RANK = """
import atexit, os, sys
import torch.distributed as dist
from axk1.cli import main

dist.init_process_group("gloo", rank=0, world_size=1, init_method="tcp://127.0.0.1:0")  # (a port the OS picks)
atexit.register(lambda: print("interpreter shutdown ran", flush=True))
sys.exit(main(["train", "no-such-recipe.toml"]))
"""


@pytest.mark.parametrize("launched", [True, False])
def test_a_failed_rank_leaves_without_destroying_its_process_group(tmp_path, launched):
    """A torchrun rank that fails after joining its process group prints its error and ends at once (os._exit):
    destroying the group, or its destructor at interpreter shutdown, can wait for ever on ranks still inside a
    collective (NCCL), which would keep torchrun from seeing the failure and stopping the others. Outside torchrun
    the process ends as any other."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHELASTIC_RUN_ID"}
    if launched:
        env["TORCHELASTIC_RUN_ID"] = "test"
    proc = subprocess.run([sys.executable, "-c", FAILING_RANK], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "axk1 train: error:" in proc.stderr and "no-such-recipe.toml" in proc.stderr
    assert ("interpreter shutdown ran" in proc.stdout) is not launched


STALE_LISTING_RANK = """
import os, sys
import axk1.checkpoint.dcp as dcp
import axk1.train.trainer as trainer

if os.environ["RANK"] == "1":  # this rank's listing lags: its cache does not show the newest step yet (NFS)
    listed = dcp.list_steps
    dcp.list_steps = lambda root: listed(root)[:-1]
resume_run = trainer.resume_run

def said(*args, **kwargs):
    step, saved = resume_run(*args, **kwargs)
    print(f"rank {os.environ['RANK']} resumed from step {step}", file=sys.stderr, flush=True)
    return step, saved

trainer.resume_run = said
from axk1.cli import main
sys.exit(main())
"""


def test_ranks_resume_from_the_step_rank_0_lists(tmp_path):
    """Every rank resumes from the newest step as rank 0 lists it: one whose listing lagged (a file-system cache)
    used to load the step before, and the run went on with mixed weights and torn checkpoints."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    # a checkpoint every step: two steps leave the two a lagging listing tells apart
    recipe.write_text(recipe.read_text().replace("interval_steps = 2", "interval_steps = 1"))
    runner = tmp_path / "runner.py"
    runner.write_text(STALE_LISTING_RANK)
    ranks_train(recipe, "--max-steps", "2", script=runner)
    assert list_steps(tmp_path / "run" / "checkpoints") == [1, 2]
    err = ranks_train(recipe, "--resume", "--max-steps", "3", script=runner)
    assert "rank 0 resumed from step 2" in err and "rank 1 resumed from step 2" in err, err[-3000:]


CRASH_ONCE = """
import os, sys
from axk1.train.trainer import Trainer
from axk1.cli import main

if os.environ["TORCHELASTIC_RESTART_COUNT"] == "0" and os.environ["RANK"] == "1":
    real = Trainer.train_step
    def train_step(self, step):
        if step == 3:  # after the checkpoint of step 2: the node is lost
            os._exit(1)
        return real(self, step)
    Trainer.train_step = train_step
sys.exit(main())
"""


def test_a_launch_torchrun_restarts_goes_on_from_its_checkpoint(tmp_path, reference):
    """`torchrun --max-restarts 1`: the restarted attempt runs the same command, which refused the folder its first
    attempt had filled ("already holds checkpoints ... pass --resume"), so torchrun's own fault tolerance could not
    recover a run. A restarted attempt now resumes from the newest checkpoint, to the uninterrupted run's losses;
    its process group is set up under a prefix of its own (a rank read a dead rank's address from the failed
    attempt's keys and failed to connect, or hung)."""
    crash = tmp_path / "crash.py"
    crash.write_text(CRASH_ONCE)
    # steps 3 and 4 after the restart (step 4's loss also depends on the optimizer moments the resume read)
    recipe = init_recipe(tmp_path / "two", "max_steps = 4\n[parallelism]\ndp_shard = 2", reference / "init")
    err = torchrun_train(recipe, script=crash, timeout=300, restarts=1)
    # the rank whose peer died says so in a line; gloo's traceback ("GLHF") sent readers to the wrong rank
    assert "rank 0 stopped: it lost the connection to another rank of the launch" in err and "Traceback" not in err, err[-3000:]
    want = [r["loss"] for r in read_metrics_rows(reference / "one" / "run" / "metrics.jsonl")]
    got = {r["step"]: r["loss"] for r in read_metrics_rows(tmp_path / "two" / "run" / "metrics.jsonl")}
    assert sorted(got) == list(range(1, 5))
    assert [got[s] for s in range(1, 5)] == pytest.approx(want, rel=1e-5)


def test_a_launch_into_a_folder_another_run_holds_fails_with_one_error(tmp_path):
    """Only the first rank takes the folder's lock; the others looked at the checkpoints at once and failed with
    their own error ("already holds checkpoints ... pass --resume", advice to resume a run that is live), which
    torchrun could pick as the launch's root cause. They wait for the first rank's lock now."""
    from axk1.checkpoint.run_lock import RunLock

    recipe = write_recipe(tmp_path, extra="max_steps = 2\n[parallelism]\ndp_shard = 2")
    # an earlier run's checkpoint, as the folder check lists it (a step folder with its train state): training one
    # in this process only cost time
    (tmp_path / "run" / "checkpoints" / "step-000002").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step-000002" / "train_state.json").write_text("{}")
    with RunLock(tmp_path / "run"):  # a live run holds the folder
        err = ranks_train(recipe, fails=True)
    assert "is in use by another training run" in err and "already holds checkpoints" not in err, err[-3000:]
