"""Shared by the trainer tests: a small two-stage recipe over synthetic shards."""

import contextlib
import textwrap
from pathlib import Path

import torch

from tests.synthetic_shards import write_synthetic_shards


def one_step_checkpoint(root: Path, config, with_mtp: bool) -> Path:
    """A DCP step folder as the trainer writes it (the loss module holds the LM as `lm`), after one AdamW step."""
    from axk1 import AXK1ForCausalLM
    from axk1.checkpoint.dcp import save_checkpoint
    from axk1.checkpoint.mtp_order import EMBEDDING_FIRST, MTP_ORDER

    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config, with_mtp=with_mtp)
    optimizer = torch.optim.AdamW(holder.parameters())
    holder.lm(torch.tensor([[1, 2, 3]])).float().sum().backward()
    optimizer.step()
    return save_checkpoint(root, 1, holder, optimizer, {"model_config": config.to_dict(), "mtp_depth": int(with_mtp),
                                                        MTP_ORDER: EMBEDDING_FIRST})


def write_recipe(tmp_path: Path, steps_tokens: int = 8 * 32 * 6, extra: str = "",
                 sections: dict[str, str] | None = None) -> Path:
    """A two-stage recipe over synthetic web/code shards; `extra` lines go into [run], `sections` adds lines to
    other sections by name (e.g. {"logging": 'tensorboard = "tb"'}), creating a section it lacks."""
    write_synthetic_shards(tmp_path / "tokens", vocab_size=512)
    text = textwrap.dedent(f"""
        [model]
        preset = "axk1-tiny"
        mtp_depth = 1
        mtp_loss_weight = [0.3, 0.1]
        [data]
        manifest = "tokens/manifest.json"
        seed = 7
        [optimizer]
        lr = 3e-3
        weight_decay = 0.01
        [schedule]
        kind = "wsd"
        warmup_steps = 2
        decay_starts_at_stage = 2
        [batch]
        global_sequences = 8
        micro_batch = 4
        [moe]
        bias_update_rate = 1e-2
        [checkpointing]
        interval_steps = 2
        keep_latest = 2
        [logging]
        every_steps = 1
        progress = false
        [run]
        out_dir = "run"
        threads = 1
        device = "cpu"  # the suite's runs are CPU runs (gloo, exact references), on a GPU box too
        {extra}
        [[stages]]
        name = "s1"
        tokens = {steps_tokens}
        seq_len = 32
        mixture = {{ web = 0.7, code = 0.3 }}
        [[stages]]
        name = "s2"
        tokens = {steps_tokens}
        seq_len = 32
        mixture = {{ code = 1.0 }}
    """)
    for section, lines in (sections or {}).items():
        if f"[{section}]\n" in text:
            text = text.replace(f"[{section}]\n", f"[{section}]\n{lines}\n", 1)
        else:  # a section the recipe leaves at its defaults
            text += f"[{section}]\n{lines}\n"
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def init_recipe(folder: Path, extra: str, init_from: Path, sections: dict[str, str] | None = None) -> Path:
    """write_recipe into `folder` (made if missing), its model's weights read from `init_from`: a distributed run
    initialises on the meta device (counter-based draws, axk1.parallel.init), which is not the single-process
    trainer's torch.manual_seed stream, so runs compared with each other start from the same saved weights."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write_recipe(folder, extra=extra, sections=sections)
    preset = 'preset = "axk1-tiny"\n'
    path.write_text(path.read_text().replace(preset, f'{preset}init_from = "{init_from}"\n'))
    return path


def single_process_reference(root: Path) -> Path:
    """`root` holding `init` (axk1-tiny with MTP, drawn after torch.manual_seed(0)) and `one`: write_recipe's run
    from those weights in this process, 4 steps (metrics in one/run/metrics.jsonl, checkpoints of steps 2 and 4),
    the uninterrupted run the distributed tests compare with. tests/conftest.py makes it once per test process (the
    `reference` fixture: the same run in each test cost ~3 CPU-s); callers only read it."""
    from axk1 import AXK1ForCausalLM, ModelConfig, save_pretrained
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer

    torch.manual_seed(0)
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True), root / "init")
    Trainer(load_recipe(init_recipe(root / "one", "max_steps = 4", root / "init"))).fit()
    return root


def launch_env(tmp: Path, **extra: str) -> dict:
    """os.environ and `extra`, for a torchrun launch a test builds itself, with TMPDIR in `tmp` (the test's tmp_path):
    torchrun's agent leaves a torchelastic_* folder in TMPDIR per launch, which piled up in /tmp; under tmp_path
    pytest removes them with the test's other files. One thread per rank unless `extra` says otherwise."""
    import os

    folder = tmp / "torchrun-tmp"
    folder.mkdir(exist_ok=True)
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra, "TMPDIR": str(folder)}


# torchrun's rendezvous on ports the OS picks: the c10d backend's store binds port 0 on 127.0.0.1, and its agent hosts
# the ranks' store (MASTER_PORT) on another port 0 (torch/distributed/elastic/rendezvous/dynamic_rendezvous.py,
# next_rendezvous), with MASTER_ADDR --local-addr. `--master-port P` took a port picked free here and bound by the
# agent later, which another xdist worker's launch or server could take in between.
TORCHRUN_RENDEZVOUS = ["--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:0", "--local-addr", "127.0.0.1"]


def torchrun_train(recipe: Path, *args: str, nproc: int = 2, timeout: int = 150, script: Path | None = None,
                   restarts: int = 0, fails: bool = False) -> str:
    """`torchrun --nproc-per-node nproc -m axk1.cli train recipe args...` on CPU (gloo, one thread per rank), or
    `script` (which ends by calling axk1.cli.main) in axk1.cli's place; fails the test with the ranks' stderr when
    it does not exit 0, else returns that stderr."""
    return torchrun_cli("train", str(recipe), *args, nproc=nproc, timeout=timeout, script=script, restarts=restarts,
                        fails=fails)


def torchrun_cli(*args: str, nproc: int = 2, timeout: int = 150, script: Path | None = None,
                 fails: bool = False, restarts: int = 0) -> str:
    """`torchrun --nproc-per-node nproc -m axk1.cli args...`, as torchrun_train; `fails`: the launch must fail
    instead (its stderr is returned all the same); `restarts`: torchrun's --max-restarts."""
    import os
    import subprocess
    import sys
    import tempfile

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), *TORCHRUN_RENDEZVOUS,
           "--max-restarts", str(restarts),
           *(["-m", "axk1.cli"] if script is None else [str(script)]),
           *args]
    # torchrun's agent leaves a torchelastic_* folder in TMPDIR per launch (250 in /tmp after a few suites): each
    # launch gets its own, removed after
    with tempfile.TemporaryDirectory(prefix="axk1-torchrun-") as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1", "TMPDIR": tmp}  # faulthandler: a
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)  # native crash says where
    assert (proc.returncode != 0) == fails, proc.stderr[-3000:]
    return proc.stderr


def ranks_train(recipe: Path, *args: str, nproc: int = 2, timeout: int = 150, script: Path | None = None,
                fails: bool = False, stdout: bool = False) -> str:
    """`axk1 train recipe args...` on `nproc` ranks forked from a warm server (tests/warm_ranks.py: torchrun's
    environment without its agent, ~8 s less a launch); as torchrun_train otherwise (`stdout`: returns that)."""
    return ranks_cli("train", str(recipe), *args, nproc=nproc, timeout=timeout, script=script, fails=fails,
                     stdout=stdout)


def ranks_cli(*args: str, nproc: int | None = 2, timeout: int = 150, script: Path | None = None,
              fails: bool = False, env: dict[str, str] | None = None, stdout: bool = False) -> str:
    """`axk1 args...` as torchrun_cli runs it, on ranks forked from a warm server (tests/warm_ranks.py; nproc None:
    one process outside torchrun); `env`: variables set for the ranks beside this process's. Fails the test with
    the ranks' stderr when a rank does not exit 0 (or, `fails`, when all do); returns their stderr (their stdout
    with `stdout`)."""
    import tempfile

    from tests.warm_ranks import run_cli

    with tempfile.TemporaryDirectory(prefix="axk1-ranks-") as tmp:
        codes, err, out = run_cli(list(args), nproc, launch_env(Path(tmp), **(env or {})), Path(tmp), timeout,
                                  script)
    assert any(codes) == fails, f"exit codes {codes}\n{err[-3000:]}"
    return out if stdout else err


def tear_metrics_row_at(monkeypatch, step: int):
    """Metrics writes fail at `step` as on a full disk: half of the row is appended, then ENOSPC. Returns the real
    JsonlLog.write, to put back before the resume."""
    import errno

    from axk1.train.metrics import JsonlLog

    real_write = JsonlLog.write

    def write(self, row):
        if row["step"] == step:
            with self.path.open("a") as f:
                f.write('{"step": %d, "loss": 0.1' % step)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, row)

    monkeypatch.setattr(JsonlLog, "write", write)
    return real_write


def strict_json_rows(path: Path) -> list[dict]:
    """Every line of a metrics file read by orjson, which holds to the JSON standard (no NaN or Infinity), as jq and
    JavaScript's JSON.parse do; a line it refuses fails the test."""
    import orjson

    return [orjson.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def try_lock_from_another_process(folder: Path, model_folder: bool = False) -> str:
    """What a second run's lock on `folder` gets (`model_folder`: an `axk1 export` into `folder`), from a process of
    its own (lockf locks are per process, so this process could always take its own): "taken", or the FolderInUse
    message."""
    import os
    import subprocess
    import sys

    take = "model_folder_lock(sys.argv[1], 'OUT')" if model_folder else "RunLock(sys.argv[1])"
    probe = (f"import sys\nfrom axk1.checkpoint.run_lock import FolderInUse, RunLock, model_folder_lock\ntry:\n"
             f"    {take}\n    print('taken')\nexcept FolderInUse as e:\n    print(e)\n")
    repo = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", probe, str(folder)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=repo))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# A process that takes a run folder's lock (argv[1]), a training run's locks on its output and checkpoints folders
# (argv[1], argv[2]), or the lock `axk1 export` takes on a model folder (--model, argv[2]), says "locked" and holds
# them for two minutes or until killed.
_LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    from axk1.checkpoint.run_lock import RunLock, model_folder_lock, run_locks
    if sys.argv[1] == "--model":
        lock = model_folder_lock(sys.argv[2], "OUT")
    else:
        lock = RunLock(sys.argv[1]) if len(sys.argv) == 2 else run_locks(sys.argv[1], sys.argv[2], 0)
    print("locked", flush=True)
    time.sleep(120)
""")


@contextlib.contextmanager
def lock_held_elsewhere(folder: Path, checkpoints: Path | None = None, model_folder: bool = False):
    """`folder`'s run lock (with `checkpoints`: a training run's locks on `folder` as its --out and on its
    checkpoints folder; with `model_folder`: the lock an `axk1 export` into `folder` takes) held by another process
    (a live run, as a second one sees it) while the block runs; yields that process (its pid is the one the refusal
    names), SIGKILLed at the end, as a lost node's would be, so its lock file stays behind."""
    import os
    import subprocess
    import sys

    args = (["--model"] if model_folder else []) + [str(folder)] + ([str(checkpoints)] if checkpoints else [])
    holder = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, *args], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


# Faults the fault tests' driver processes inject (their DRIVER programs import these): the fault is real, only its
# moment is chosen.
def sigterm_during_step(step: int) -> None:
    """The trainer sends itself SIGTERM (Slurm's notice) during training step `step` (1-based)."""
    import os
    import signal

    from axk1.train.trainer import Trainer

    real_step = Trainer.train_step

    def train_step(self, s):
        if s == step - 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, s)

    Trainer.train_step = train_step


def kill_half_written(folder: str | Path) -> None:
    """A checkpoint write cut short: the largest tensor file in `folder` loses its second half, then SIGKILL."""
    import os
    import signal

    big = max(Path(folder).iterdir(), key=lambda p: p.stat().st_size)
    os.truncate(big, big.stat().st_size // 2)
    os.kill(os.getpid(), signal.SIGKILL)


def start_ranks_without_torchrun(tmp: Path, recipe: Path, *args: str, world: int = 2,
                                 scripts: dict[int, Path] | None = None) -> list:
    """The ranks of a launch as one-rank nodes run them: each `axk1 train recipe args...` (or `scripts[rank]`, which
    ends by calling axk1.cli.main) in a process of its own (forked from the warm server, tests/warm_ranks.py), with
    torchrun's environment but no torchrun agent, so that nothing stops a survivor when a peer dies or hangs (an
    agent stops all its node's ranks once one fails): what the survivor says is its own. Each rank's stderr goes to
    tmp/rank{N}.err; returns objects with the Popen calls the tests make (wait, poll, send_signal, kill)."""
    from tests.warm_ranks import WarmProcess, agent_store, cli_main, start

    store, store_env = agent_store()  # (as node 0's agent would host it)
    procs = []
    for rank in range(world):
        env = launch_env(tmp, RANK=str(rank), LOCAL_RANK="0", WORLD_SIZE=str(world), LOCAL_WORLD_SIZE="1",
                         TORCHELASTIC_RUN_ID="no-agent", **store_env)
        script = (scripts or {}).get(rank)
        procs.append(WarmProcess(start(cli_main, (["train", str(recipe), *args], script), env,
                                       stderr=tmp / f"rank{rank}.err", stdout=Path("/dev/null")), keep=store))
    return procs
