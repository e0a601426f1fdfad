"""A torchrun launch that goes wrong around its ranks: ranks started with different recipes, a rank waiting for peers
that never come, a peer killed. Each ends with a line that says what happened, and nothing hangs."""


import re
import signal
import time
from pathlib import Path

import pytest

from tests.train_helpers import (launch_env, lock_held_elsewhere, ranks_train, start_ranks_without_torchrun,
                                 torchrun_train, write_recipe)
from tests.warm_ranks import WarmPopen, agent_store

pytestmark = pytest.mark.distributed

# rank 1 reads the other recipe (a copy edited on one node, a wrapper script with other options)
OTHER_RECIPE_ON_RANK_1 = """
import os, sys
from axk1.cli import main

if os.environ["RANK"] == "1":
    sys.argv[2] = sys.argv[2].replace("recipe.toml", "other.toml")
sys.exit(main())
"""


def test_ranks_given_different_recipes_refuse_to_start(tmp_path):
    """Rank 1's recipe differs in two settings, each once a defect of its own: another learning rate used to train to
    the end (rank 1's shards at the other rate), another global batch used to hang before the first step. The
    launch stops before any step with one line naming both (one launch for both: a check that missed either setting
    would leave it out of the line, and one that came after the first step's collectives would hang)."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    (tmp_path / "other.toml").write_text(recipe.read_text().replace("lr = 3e-3", "lr = 2e-3")
                                         .replace("global_sequences = 8", "global_sequences = 4"))
    runner = tmp_path / "runner.py"
    runner.write_text(OTHER_RECIPE_ON_RANK_1)
    err = torchrun_train(recipe, "--max-steps", "2", script=runner, fails=True, timeout=120)
    line = ("axk1 train: error: rank 1's recipe differs from rank 0's: batch.global_sequences: 8 -> 4; "
            "optimizer.lr: 0.003 -> 0.002.")
    assert sum(x.startswith(line) for x in err.splitlines()) == 1, err[-3000:]  # every rank refuses, one line
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def _rank_0_alone(tmp: Path, *args: str, **env: str) -> tuple[WarmPopen, int, Path]:
    """Rank 0 of a 2-rank launch started alone (`axk1 train` as a terminal starts it, forked from the warm server:
    tests/warm_ranks.py), its stdout and stderr into tmp/rank0.log, its rendezvous store hosted here as torchrun's
    agent hosts it; returns it, the store's port and its log."""
    recipe = write_recipe(tmp, sections={"parallelism": "dp_shard = 2"})
    store, store_env = agent_store()
    env = launch_env(tmp, RANK="0", LOCAL_RANK="0", WORLD_SIZE="2", **store_env, **env)
    log = tmp / "rank0.log"
    log.touch()  # (WarmPopen reads it from the start)
    proc = WarmPopen(["train", str(recipe), *args], env, log)
    proc.keep = store  # (its server stops when collected)
    return proc, store.port, log


def test_a_rank_waiting_for_peers_that_never_come_says_so_and_stops_on_a_signal(tmp_path):
    """Rank 0 of 2 started alone waits for rank 1 inside C++ (the store, for 30 minutes), where axk1's handlers
    cannot run: it said nothing, and SIGTERM and Ctrl-C did nothing. It now says what it waits for, and either signal
    ends it as the kernel does (a shell's 143 and 130). (One launch per signal, both waiting at once.)"""
    waiting = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        (tmp_path / sig.name).mkdir()
        waiting[sig] = _rank_0_alone(tmp_path / sig.name)
    try:
        for sig, (proc, port, log) in waiting.items():
            words = f"rank 0: waiting for the launch's 2 ranks to join at 127.0.0.1:{port}"
            assert _said_within(proc, log, words, 60), f"no word of the wait: {log.read_text()[-3000:]}"
        for sig, (proc, port, log) in waiting.items():
            proc.send_signal(sig)
            assert proc.wait(timeout=20) == -sig, log.read_text()[-3000:]
    finally:
        for proc, _, _ in waiting.values():
            proc.kill()
            proc.wait()


def test_a_rank_whose_peers_never_come_stops_after_the_collective_timeout_with_a_line(tmp_path):
    """Rank 0 of 2 started alone (rank 1's node failed to start it, or it stopped before joining: a run folder its
    node does not share) waited 30 minutes, then printed the store's traceback ("DistStoreError: wait timeout after
    ...ms, keys: /default_pg/..."). It waits [run] collective_timeout_s, then says what did not happen."""
    proc, port, log = _rank_0_alone(tmp_path, "--run.collective_timeout_s", "3", TORCHELASTIC_RUN_ID="alone")
    try:
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    said = (f"axk1 train: error: rank 0: the launch's 2 ranks did not all join at 127.0.0.1:{port} within 3 s "
            "([run] collective_timeout_s)")
    out = log.read_text()
    assert code == 2 and said in out and "Traceback" not in out, out[-3000:]


def _said_within(proc: WarmPopen, log: Path, words: str, seconds: float) -> bool:
    """Whether `log` holds `words` within `seconds` (False as soon as proc has ended without them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if words in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return words in log.read_text(errors="replace")
        time.sleep(0.1)
    return False


KILLED_RANK_1 = """
import os, signal, sys
from axk1.train.trainer import Trainer
from axk1.cli import main

if os.environ["RANK"] == "1":
    real = Trainer.train_step
    def train_step(self, step):
        if step == 2:  # out of memory, a node lost: the rank is gone without a word
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, step)
    Trainer.train_step = train_step
sys.exit(main())
"""


def test_a_killed_rank_is_the_root_cause_torchrun_names(tmp_path):
    """The survivor of a killed peer says it lost it, and torchrun's summary names the killed rank as the root cause:
    it named the survivor (an error file dated as early as the kill), and the survivor pointed at an error "above"
    that a killed rank never prints."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    runner = tmp_path / "runner.py"
    runner.write_text(KILLED_RANK_1)
    err = torchrun_train(recipe, "--max-steps", "4", script=runner, fails=True, timeout=120)
    # rank 0 says it lost its peer, unless torchrun (which polls every 0.1 s) stopped it first, as it stops every
    # rank once one fails: on a loaded machine either comes first
    assert "axk1 train: rank 0 stopped: it lost the connection to another rank of the launch" in err or \
        "stopped by SIGTERM from torchrun" in err, err[-3000:]
    root = err.split("Root Cause (first observed failure):", 1)[1]
    assert "rank      : 1 (local_rank: 1)" in root and "SIGKILL" in root, root


RANK_1_FAILS_WHILE_RANK_0_STARTS = """
import os, sys, time
from axk1.train import trainer
from axk1.cli import main

if os.environ["RANK"] == "1":
    def fail(*args, **kwargs):
        raise ValueError("rank 1's own error")
    trainer.launched_with_torchrun = fail
else:  # rank 0 is still starting (reading shards, building the model) when torchrun stops it
    def slow(*args, **kwargs):
        time.sleep(60)
    trainer.launched_with_torchrun = slow
sys.exit(main())
"""


def test_a_rank_torchrun_stops_before_training_points_at_the_failed_rank(tmp_path):
    """torchrun SIGTERMs the other ranks when one fails: rank 0, stopped while it started, said "no checkpoint was
    saved yet: run the command again", which sent the reader away from rank 1's error."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    runner = tmp_path / "runner.py"
    runner.write_text(RANK_1_FAILS_WHILE_RANK_0_STARTS)
    err = torchrun_train(recipe, script=runner, fails=True, timeout=120)
    assert "axk1 train: error: rank 1's own error" in err, err[-3000:]
    assert "axk1 train: stopped by SIGTERM from torchrun, which stops every rank when one fails" in err, err[-3000:]
    assert "run the command again" not in err


FULL_DISK_AT_STEP_4 = """
import shutil, sys
from pathlib import Path
import torch.distributed.checkpoint as dcp
from axk1.cli import main

real_save, real_usage = dcp.save, shutil.disk_usage
ckpts = Path(sys.argv[-1])

def save(state, checkpoint_id, **kw):
    if checkpoint_id.endswith(".step-000004.tmp"):  # part written, then torch's zip writer's word for a full disk
        (Path(checkpoint_id) / "__0_0.distcp").write_bytes(bytes(1000))
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    return real_save(state, checkpoint_id=checkpoint_id, **kw)

def usage(path):  # room for more than one rank's share of a checkpoint, less than the whole
    whole = sum(f.stat().st_size for f in (ckpts / "step-000002").iterdir())
    return real_usage(path)._replace(free=int(0.6 * whole))

dcp.save, shutil.disk_usage = save, usage
sys.exit(main(sys.argv[1:-1]))
"""


def test_a_full_disk_under_a_launch_is_said_by_every_rank_with_the_whole_checkpoints_size(tmp_path):
    """Each rank counted its own share of the checkpoint as what it needs: with more room than a share and less
    than the whole, the ranks did not recognise a full disk behind torch's zip writer error ("unexpected pos"), and
    the one that did said it needed half of what the checkpoint takes. (What each rank says is its own: warm-forked
    ranks, tests/warm_ranks.py, stand for torchrun's.)"""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2\nep = 2"})
    ckpts = tmp_path / "run" / "checkpoints"
    runner = tmp_path / "runner.py"
    runner.write_text(FULL_DISK_AT_STEP_4)
    err = ranks_train(recipe, "--max-steps", "6", str(ckpts), script=runner, fails=True, timeout=150)
    said = [line for line in err.splitlines() if "writing the step 4 checkpoint" in line and "traceback" not in line]
    assert said and all(line.startswith("axk1 train: error: no space left on device:") for line in said), err[-3000:]
    whole = sum(f.stat().st_size for f in (ckpts / "step-000002").iterdir()) / 2**20
    needs = [float(m) for m in re.findall(r"the checkpoint needs about (\d+\.\d) MiB", "\n".join(said))]
    # the tensors' bytes: the files add their headers and DCP's metadata (a fifth more for this tiny model)
    assert needs and all(0.75 * whole <= n <= whole for n in needs), (needs, whole)


RANK_KILLED_IN_SAVE = """
import os, signal, sys
import torch.distributed.checkpoint as dcp
from axk1.cli import main

real_save = dcp.save

def save(state, checkpoint_id, **kw):
    if checkpoint_id.endswith(".step-000002.tmp"):  # mid-save, its peer inside the save's collectives
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(state, checkpoint_id=checkpoint_id, **kw)

dcp.save = save
sys.exit(main())
"""


def test_a_rank_killed_during_a_checkpoint_save_is_a_lost_rank_not_a_folder_problem(tmp_path):
    """The survivor of a peer killed mid-save said "writing the step 2 checkpoint ... failed: RuntimeError: [gloo]
    Connection reset by peer ... Check that the folder is writable" and exited 2: the save's error wrapper took the
    lost peer for the folder's failure. Ranks on nodes of their own: no torchrun agent stops the survivor first."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    runner = tmp_path / "runner.py"
    runner.write_text(RANK_KILLED_IN_SAVE)
    rank0, rank1 = start_ranks_without_torchrun(tmp_path, recipe, "--max-steps", "4", scripts={1: runner})
    try:
        assert rank1.wait(timeout=150) == -signal.SIGKILL
        code = rank0.wait(timeout=60)
    finally:
        for proc in (rank0, rank1):
            proc.kill()
            proc.wait()
    err = (tmp_path / "rank0.err").read_text()
    assert "axk1 train: rank 0 stopped: it lost the connection to another rank of the launch" in err, err[-3000:]
    assert "writable" not in err and code == 1, err[-3000:]


def test_a_hung_rank_stops_the_others_after_the_collective_timeout_with_a_line_naming_it(tmp_path):
    """A rank that stops answering (SIGSTOP here; a hung process, a node off the network) kept its peers waiting
    silently in their next collective for the process group's default timeout (gloo: 30 minutes). With
    [run] collective_timeout_s they stop after it, saying so."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    rank0, rank1 = start_ranks_without_torchrun(tmp_path, recipe, "--run.collective_timeout_s", "5")
    metrics = tmp_path / "run" / "metrics.jsonl"
    try:
        while '"step"' not in (metrics.read_text() if metrics.exists() else ""):  # training, not starting
            assert rank0.poll() is None and rank1.poll() is None, (tmp_path / "rank0.err").read_text()[-3000:]
            time.sleep(0.2)
        rank1.send_signal(signal.SIGSTOP)
        code = rank0.wait(timeout=120)  # (a hang guard only: the default would be 30 minutes)
    finally:
        for proc in (rank0, rank1):
            proc.kill()
            proc.wait()
    err = (tmp_path / "rank0.err").read_text()
    assert ("axk1 train: rank 0 stopped: another rank of the launch sent nothing for longer than the collective "
            "timeout (5 s, [run] collective_timeout_s)" in err and code == 1), err[-3000:]


RANK_KILLED_MAKING_THE_CHECKPOINT_GROUP = """
import os, signal, sys
import torch.distributed as dist
from axk1.cli import main

real = dist.new_group

def new_group(*args, **kwargs):  # axk1's checkpoint group (the mesh's groups are made by DeviceMesh's own import)
    if os.environ["RANK"] == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)

dist.new_group = new_group
sys.exit(main())
"""


def test_a_rank_killed_while_the_checkpoint_group_is_made_leaves_the_other_a_line(tmp_path):
    """The checkpoint group was made lazily, at the first save (or --resume): a rank killed then left its peer
    blocked in torch's store, where no Python handler runs (under torchrun: silent, deaf to SIGTERM, SIGKILLed after
    the grace period), and after the collective timeout it died with the store's traceback ("DistStoreError: wait
    timeout after 5000ms, keys: /default_pg/0//9//cpu//0/1"). The group is now made with the default one, where the
    launch's handling of a missing rank applies: a line, exit 2."""
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    runner = tmp_path / "runner.py"
    runner.write_text(RANK_KILLED_MAKING_THE_CHECKPOINT_GROUP)
    rank0, rank1 = start_ranks_without_torchrun(tmp_path, recipe, "--max-steps", "2", "--run.collective_timeout_s",
                                                "5", scripts={1: runner})
    try:
        assert rank1.wait(timeout=150) == -signal.SIGKILL
        code = rank0.wait(timeout=120)
    finally:
        for proc in (rank0, rank1):
            proc.kill()
            proc.wait()
    err = (tmp_path / "rank0.err").read_text()
    assert "axk1 train: error: rank 0: the launch's 2 ranks did not all join" in err, err[-3000:]
    assert code == 2 and "Traceback" not in err and not (tmp_path / "run" / "metrics.jsonl").exists(), err[-3000:]


def test_a_checkpoints_folder_in_use_is_refused_once_by_the_first_rank(tmp_path):
    """A launch whose [checkpointing] dir (outside its --out) another live run holds: rank 0 refused it ("in use"),
    but rank 1, which waited for rank 0's lock on --out only, went on and said the folder "already holds checkpoints
    of an earlier run ... pass --resume", advice to resume a run that is still going. Rank 1 now waits for that
    lock too (and says so); the ranks run on one-rank nodes, so no torchrun agent stops rank 1 before it speaks."""
    shared = tmp_path / "checkpoints-shared"  # locked before the run's --out (tmp_path/run): paths in sorted order
    (shared / "step-000002").mkdir(parents=True)
    (shared / "step-000002" / "train_state.json").write_text("{}")  # the other run's checkpoint
    recipe = write_recipe(tmp_path, sections={"parallelism": "dp_shard = 2"})
    with lock_held_elsewhere(shared):
        rank0, rank1 = start_ranks_without_torchrun(tmp_path, recipe, "--checkpointing.dir", str(shared))
        rank1_err = tmp_path / "rank1.err"
        try:
            assert rank0.wait(timeout=120) == 2
            while rank1.poll() is None and "waiting for the launch's first rank" not in rank1_err.read_text():
                time.sleep(0.2)
        finally:
            for proc in (rank0, rank1):
                proc.kill()
                proc.wait()
    said = (tmp_path / "rank0.err").read_text() + rank1_err.read_text()
    assert f"axk1 train: error: {shared} is in use by another training run" in said, said[-3000:]
    assert f"rank 1: waiting for the launch's first rank to lock {shared} " in said and "already holds" not in said, \
        said[-3000:]
