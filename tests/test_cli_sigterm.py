"""SIGTERM outside a training loop (`kill`, a scheduler's stop between the demo's stages, during a merge): the command
ended at once with no line and without its clean-ups. Now it ends as Ctrl-C does: a line, exit 143, clean-ups run;
forked workers still end at once. SIGHUP the same (129), unless the command was started to ignore it (nohup).
(Inside a training loop the trainer's own stop takes SIGTERM: test_train_faults.py.)"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.warm_ranks import WarmProcess, code_main, start, terminal_signals

# A verb that stands still until signalled: `axk1 params` with its function swapped for one that holds a staging
# folder (removed by its clean-up) and, when asked, a forked worker (which reports its exit code).
SLOW_VERB = textwrap.dedent("""
    import multiprocessing, sys, time
    from pathlib import Path
    import axk1.cli as cli

    folder, fork = Path(sys.argv[1]), sys.argv[2] == "fork"

    def nap(ready):
        ready.set()  # in the worker's own code: a signal that came sooner, between fork and the child's start-up,
        time.sleep(60)  # would be dropped (Python clears pending signals in a forked child)

    def slow(args):
        staging = folder / "staging"
        staging.mkdir()
        try:
            if fork:
                context = multiprocessing.get_context("fork")
                ready = context.Event()
                worker = context.Process(target=nap, args=(ready,))
                worker.start()
                ready.wait()
                print(f"worker {worker.pid}", flush=True)
                worker.join()
                print(f"worker exit {worker.exitcode}", flush=True)
                return 0
            print("ready", flush=True)
            time.sleep(60)
        finally:
            staging.rmdir()
        return 0

    cli.cmd_params = slow
    sys.exit(cli.main(["params", "axk1-tiny"]))
""")


class _Verb(WarmProcess):
    """The verb in a process forked from the warm server (tests/warm_ranks.py: torch, which axk1.cli.main loads, is
    imported once a worker, not per start), its stdout and stderr into files: subprocess.Popen's calls the tests make."""

    def __init__(self, tmp_path, args: list[str], hup, script: str = SLOW_VERB) -> None:
        n = len(list(tmp_path.glob("verb*.out")))
        self.out, self.err = tmp_path / f"verb{n}.out", tmp_path / f"verb{n}.err"
        self.out.touch()
        super().__init__(start(_verb_main, (script, args, hup), dict(os.environ), stderr=self.err, stdout=self.out))

    @property
    def returncode(self) -> int | None:
        return self.poll()

    def first_line(self, holding: str = "") -> str:
        """Its first line of stdout (holding `holding`), once written; "" if it ended without one."""
        def found() -> list[str]:
            return [line for line in self.out.read_text().split("\n")[:-1] if holding in line]

        while not found() and self.poll() is None:
            time.sleep(0.05)
        return (found() or [""])[0]

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.out.read_text(), self.err.read_text()


def _verb_main(script: str, args: list[str], hup) -> None:
    """A terminal's signal dispositions (SIGHUP's `hup`: SIG_IGN as `nohup` starts it), then the verb as
    `python -c script args...` runs it."""
    terminal_signals(hup)
    code_main(script, args)


def _start(tmp_path, mode: str, hup=signal.SIG_DFL) -> tuple[_Verb, str]:
    """The verb, started with SIGHUP's disposition `hup` (SIG_IGN: as `nohup` starts it)."""
    proc = _Verb(tmp_path, [str(tmp_path), mode], hup)
    first = proc.first_line()  # the verb is running (its import of torch can take a while on a busy machine)
    assert first, proc.communicate()[1][-2000:]
    return proc, first.strip()


def test_sigterm_ends_a_command_with_a_line_and_its_clean_ups(tmp_path):
    proc, first = _start(tmp_path, "sleep")
    assert first == "ready"
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "axk1 params: stopped by SIGTERM" in err and "Traceback" not in err, err
    assert not (tmp_path / "staging").exists()  # the command's `finally` ran (the default action skipped it)


def test_sighup_ends_a_command_as_sigterm_does_unless_it_runs_under_nohup(tmp_path):
    """SIGHUP (the terminal closed) ended a command at once, its clean-ups skipped; under nohup it must not end it."""
    proc, first = _start(tmp_path, "sleep")
    proc.send_signal(signal.SIGHUP)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGHUP and "axk1 params: stopped by SIGHUP" in err, err
    assert "Traceback" not in err and not (tmp_path / "staging").exists(), err
    proc, first = _start(tmp_path, "sleep", hup=signal.SIG_IGN)
    proc.send_signal(signal.SIGHUP)
    try:
        with pytest.raises(subprocess.TimeoutExpired):  # ignored: the verb sleeps on
            proc.communicate(timeout=3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err


def test_a_forked_worker_still_ends_at_once_on_sigterm(tmp_path):
    """A forked worker inherits the handler; it must die as SIGTERM kills (multiprocessing's terminate(), datatrove's
    pools), not raise into the worker's code and print a traceback."""
    proc, first = _start(tmp_path, "fork")
    worker = int(first.split()[1])  # running its target, with the handler it inherited
    os.kill(worker, signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"worker exit {-signal.SIGTERM}" in out, (out, err)
    assert "Traceback" not in err, err


def test_serve_shuts_down_on_sigterm_and_says_so(tmp_path):
    """uvicorn takes SIGTERM for its graceful shutdown and raises it again after: the command then ends as the
    others do (it used to die of the signal there, without a line)."""
    from tests.serve_helpers import ServerProcess, make_model_folder

    server = ServerProcess(make_model_folder(tmp_path / "model"))
    try:
        server.proc.send_signal(signal.SIGTERM)
        out = server.proc.communicate(timeout=60)[0]
    finally:
        server.stop()
    assert server.proc.returncode == 128 + signal.SIGTERM, out
    assert "axk1 serve: stopped by SIGTERM" in out and "Traceback" not in out, out


# A run that has finished, held in its teardown: the process groups' destroy ("destroy") or, once the run's
# outputs are written, the process's exit ("exit": an atexit function), each made slow here so that the signal lands
# there. As the `axk1`
# script calls it: main() on sys.argv. sft and rl return as a run that trained and exported does (what precedes is
# covered by their own tests); train runs for real.
FINISHED_VERB = textwrap.dedent("""
    import atexit, sys, time
    from types import SimpleNamespace
    import axk1.cli as cli
    import axk1.parallel.distributed as distributed
    import axk1.posttrain.rl, axk1.posttrain.rl_recipe, axk1.posttrain.sft

    moment, folder, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    result = {"rows": [], "model_dir": folder + "/model", "checkpoints": folder + "/checkpoints", "stopped_by": None,
              "is_main": True, "iterations": 2, "model_changed": True}
    recipe = SimpleNamespace(checkpointing=SimpleNamespace(dir=result["checkpoints"]))
    axk1.posttrain.sft.load_sft_recipe = axk1.posttrain.rl_recipe.load_rl_recipe = lambda *a, **k: recipe
    axk1.posttrain.sft.run_sft = axk1.posttrain.rl.run_rl = lambda recipe, resume: result

    def slow(what):
        print(what, flush=True)
        time.sleep(60)

    if moment == "destroy":
        distributed.shutdown_distributed = lambda: slow("destroying")
    else:
        atexit.register(slow, "exiting")
    sys.argv = ["axk1", *command]
    sys.exit(cli.main())
""")


def _finish(tmp_path, moment: str, sig: int, command: list[str]) -> tuple[str, str]:
    proc = _Verb(tmp_path, [moment, str(tmp_path), *command], signal.SIG_DFL, FINISHED_VERB)
    try:
        assert proc.first_line("destroying" if moment == "destroy" else "exiting"), proc.communicate()[1][-3000:]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, (proc.returncode, err[-3000:])
    assert "Traceback" not in err, err
    return out, err


@pytest.mark.parametrize("verb, moment, sig", [("sft", "exit", signal.SIGTERM), ("sft", "destroy", signal.SIGINT),
                                                ("rl", "exit", signal.SIGINT), ("rl", "destroy", signal.SIGHUP)])
def test_a_signal_in_a_finished_runs_teardown_exits_0_with_a_line(tmp_path, verb, moment, sig):
    """After its model folder was written (and, at "exit", announced), a Ctrl-C or SIGTERM in the teardown ended the
    run with 130 or 143: "interrupted ... run the same command with --resume" during the destroy, the signal's
    default action with no line once main had returned. The work is done: exit 0, and one line saying so."""
    out, err = _finish(tmp_path, moment, sig, [verb, "recipe.toml"])
    name = signal.Signals(sig).name
    said = f"axk1 {verb}: the run had finished (model folder: {tmp_path}/model) when {name} came, during its teardown"
    assert said in err and err.count("\n") <= 2, err  # the line alone (after a blank one)
    assert ("model folder:" in out) == (moment == "exit"), out


def test_axk1_train_ends_a_finished_run_as_sft_does(tmp_path):
    """`axk1 train` had the same end: its closing line said, then SIGTERM in the destroy of the process groups gave
    "stopped by SIGTERM (the newest checkpoint is step 1: run the same command with --resume to go on)" and 143."""
    from tests.train_helpers import write_recipe

    recipe = write_recipe(tmp_path)
    out, err = _finish(tmp_path, "destroy", signal.SIGTERM,
                       ["train", str(recipe), "--max-steps", "1", "--out", str(tmp_path / "run")])
    assert "checkpoints in" in out.splitlines()[-2], out  # the closing line, before the destroy's word
    assert (f"axk1 train: the run had finished (checkpoints in {tmp_path}/run/checkpoints) when SIGTERM came"
            in err), err


def test_a_finished_run_called_in_process_puts_every_handler_back(tmp_path, monkeypatch):
    """main(argv) called in-process ends with the handlers it found: a finished run's stay only for the process
    whose own command line it is (main()), where they would otherwise end the caller's next Ctrl-C with exit 0."""
    import types

    import axk1.posttrain.sft as sft
    from axk1.cli import main

    ckpt = str(tmp_path / "checkpoints")
    monkeypatch.setattr(sft, "load_sft_recipe", lambda *a, **k: types.SimpleNamespace(
        checkpointing=types.SimpleNamespace(dir=ckpt)))
    monkeypatch.setattr(sft, "run_sft", lambda recipe, resume: {
        "rows": [], "model_dir": str(tmp_path / "model"), "checkpoints": ckpt, "stopped_by": None, "is_main": True})
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = [signal.getsignal(s) for s in stops]
    assert main(["sft", "recipe.toml"]) == 0
    assert [signal.getsignal(s) for s in stops] == before


# The `axk1` command in a fresh interpreter (the warm processes above end without the interpreter's own exit), with
# an object only a reference cycle holds whose finalizer is slow: it is collected as the process exits, as torch's
# ~2 s of module teardown is, and says when it starts. Collection is off until then so that it waits for the exit
# (a one-process run calls no gc.collect of its own: that is the process groups' destroy, under torchrun).
SLOW_EXIT = textwrap.dedent("""
    import gc, sys, time

    gc.disable()

    class SlowTeardown:
        def __del__(self):
            print("tearing down", flush=True)
            time.sleep(60)

    slow = SlowTeardown()
    slow.cycle = slow
    del slow
    sys.argv = ["axk1", *sys.argv[1:]]
    from axk1.cli import main

    sys.exit(main())
""")


def _slow_exit(tmp_path, command: list[str]) -> subprocess.Popen:
    root = str(Path(__file__).resolve().parents[1])
    return subprocess.Popen([sys.executable, "-c", SLOW_EXIT, *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": root})


def _read_until(proc: subprocess.Popen, holding: str) -> str:
    """Its stdout up to the first line holding `holding` ("" and all of it if it ended without one)."""
    said = []
    for line in proc.stdout:
        said.append(line)
        if holding in line:
            return "".join(said)
    return ""


def test_a_signal_in_the_interpreters_exit_after_a_finished_train_run_exits_0_with_a_line(tmp_path):
    """Python's exit puts the default handlers of SIGTERM, SIGINT and SIGHUP back, then tears down its modules
    (~2 s for torch): a SIGTERM there, after the run's closing line, killed the process without a word (-15)."""
    from tests.train_helpers import write_recipe

    recipe = write_recipe(tmp_path)
    proc = _slow_exit(tmp_path, ["train", str(recipe), "--max-steps", "2", "--out", str(tmp_path / "run")])
    try:
        said = _read_until(proc, "tearing down")
        assert "checkpoints in" in said, (said, proc.communicate(timeout=60)[1][-3000:])
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, (proc.returncode, err[-3000:])
    assert (f"axk1 train: the run had finished (checkpoints in {tmp_path}/run/checkpoints) when SIGTERM came"
            in err and "Traceback" not in err), err


def test_a_second_ctrl_c_while_an_interrupted_run_exits_keeps_its_line_and_130(tmp_path):
    """A double Ctrl-C (two presses ~10 ms apart): the second, landing after the run's "interrupted" line, raised
    KeyboardInterrupt in an atexit function ("Exception ignored in atexit callback" and a traceback) or, in the
    module teardown, killed the process (-2, the line's exit code lost)."""
    from tests.train_helpers import write_recipe

    recipe = write_recipe(tmp_path, steps_tokens=8 * 32 * 200)  # far more steps than it takes to interrupt one
    proc = _slow_exit(tmp_path, ["train", str(recipe), "--out", str(tmp_path / "run")])
    try:
        while not list((tmp_path / "run" / "checkpoints").glob("step-*")) and proc.poll() is None:
            time.sleep(0.05)  # training: a checkpoint is written
        proc.send_signal(signal.SIGINT)
        assert _read_until(proc, "tearing down"), proc.communicate(timeout=60)[1][-3000:]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, (proc.returncode, err[-3000:])
    assert err.count("axk1 train: interrupted") == 1 and "Traceback" not in err and "Exception" not in err, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_in_the_exit_of_any_finished_verb_exits_with_its_code_and_a_line(tmp_path, sig):
    """Only train, sft and rl counted as finished: a Ctrl-C or SIGTERM in the exit of another verb whose work was
    done (`axk1 posttrain overlap` after its "N pairs" line, `export` after "exported", `eval` after "report:")
    turned it into 130 or 143 (-2, -15 here: the signal's default action) with no line. Every verb whose function
    has returned is finished now: its own exit code, and the line."""
    row = {"messages": [{"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a", "reasoning_content": "t"}]}
    (tmp_path / "think.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "pairs.jsonl"
    proc = _slow_exit(tmp_path, ["posttrain", "overlap", str(tmp_path / "think.jsonl"), "-o", str(out)])
    try:
        said = _read_until(proc, "tearing down")
        assert '"pairs": 1' in said, (said, proc.communicate(timeout=60)[1][-3000:])
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, (proc.returncode, err[-3000:])
    assert f"1 pairs (2 rows) from 1 rows -> {out}" in err  # the verb's own closing line, before the signal
    assert (f"axk1 posttrain overlap: the run had finished (exit code 0) when {signal.Signals(sig).name} came"
            in err and "Traceback" not in err), err
    assert len(out.read_text().splitlines()) == 2


# A verb that returned argv[2], and a signal (argv[1]) that lands as its return is being marked finished (cli_exit's
# `_returned`, made to send it once).
RETURN_GAP = textwrap.dedent("""
    import os, signal, sys
    import axk1.cli as cli
    import axk1.cli_exit as cli_exit

    real, sent, stop, code = cli_exit._returned, [], getattr(signal, sys.argv[1]), int(sys.argv[2])

    def late(args, code):
        if not sent:
            sent.append(stop)
            os.kill(os.getpid(), stop)
        return real(args, code)

    def verb(args):
        print("done", flush=True)
        return code

    cli_exit._returned, cli.cmd_params = late, verb
    sys.argv = ["axk1", "params", "axk1-tiny"]
    sys.exit(cli.main())
""")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 3), (signal.SIGINT, 3), (signal.SIGTERM, 0)])
def test_a_signal_as_a_verb_returns_is_the_finished_line_not_a_traceback(sig, code):
    """`axk1 eval` SIGTERMed right after its "report:" line, as its return was being marked finished: a traceback
    of Terminated and exit 1. The verb had returned: its exit code and the line, which says "finished" only for
    exit code 0 (a verb that returned a failure, after its error line, "had finished (exit code 1)")."""
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", RETURN_GAP, signal.Signals(sig).name, str(code)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": root})
    assert proc.returncode == code and proc.stdout == "done\n", (proc.returncode, proc.stderr[-3000:])
    assert proc.stderr.strip() == (f"axk1 params: the run had {'ended' if code else 'finished'} (exit code {code}) "
                                   f"when {signal.Signals(sig).name} came, during its teardown, which was cut short"), \
        proc.stderr
