"""How an `axk1` command ends when its verb raises: the exit code and the one line a user reads (a bad value or a
missing file: `axk1 VERB: error: ...` and 2; Ctrl-C, SIGTERM and SIGHUP: a line, how to go on, 130, 143 and 129; a
failed torchrun rank: its traceback or a word that another rank failed, then out at once), SIGTERM or SIGHUP
raised as `Terminated` while a verb runs or the command starts (`starting`), and a stop signal after a verb has
finished (`run_verb`, `finished_run`: its exit code and a line, not a failure) or while a stopped one exits
(`exit_process`: the process's end, handlers kept). Split from axk1/cli.py, which parses and dispatches."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from axk1.cli_report import LOST_PEER_LATER_S, report_error, write_error_file
from axk1.parallel.failure_chain import causes, lost_peer, peer_timed_out
from axk1.process_rank import process_rank
from axk1.signal_handlers import swapped_handlers


def ended(args: argparse.Namespace, e: BaseException) -> int:
    """The exit code for a verb that raised `e` (re-raised when it is a bug outside torchrun: its traceback is what
    to read), after printing what the user needs."""
    if isinstance(e, BrokenPipeError) and e.filename is None:  # `axk1 ... | head`: the reader has what it wanted
        try:  # as a shell tool ends: quietly, and without Python's second complaint at exit (stdout flush)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE
    stop = _stopped_by(e)
    if stop is not None and finished_run() is not None:  # Ctrl-C in a finished run's teardown (SIGTERM: _terminate)
        _end_finished(stop)
    if stop is None:
        # not this rank's error, whatever it was raised as (a checkpoint write's OSError once hid it): the lost
        # rank's is the one to read
        if _launched() and lost_peer(e) is not None:
            line = (f"axk1 {args.command}: rank {os.environ.get('RANK')} stopped: it lost the connection to "
                    "another rank of the launch, which failed or was killed (torchrun's summary names it)")
            print(line, file=sys.stderr)
            # dated later than now: a killed rank writes no error file, and torchrun dates its failure when it
            # notices, so the lost rank stays the summary's root cause (it takes the earliest record, this one on a
            # tie). Noticing took over a second on a loaded machine (a CI run: a record one second on won), hence
            # LOST_PEER_LATER_S
            write_error_file(line, later=LOST_PEER_LATER_S)
            return leave(1)
        # a rank hangs: the others stop, saying why and how long (not a TimeoutError: RanksMissing, the ranks that
        # never all joined, whose cause is the store's timeout, says so in its own line below)
        if _launched() and not isinstance(e, TimeoutError) and peer_timed_out(e) is not None:
            from axk1.parallel.distributed import collective_timeout_s  # (torch is loaded: a launch is running)

            setting = "--collective-timeout-s" if args.command == "export" else "[run] collective_timeout_s"
            report_error(f"axk1 {args.command}: rank {os.environ.get('RANK')} stopped: another rank of the launch "
                         f"sent nothing for longer than the collective timeout ({collective_timeout_s():g} s, "
                         f"{setting}): it hangs (a stopped process, a node off the network) or is that much "
                         "slower; its node's log says which")
            return leave(1)
        if not isinstance(e, (ValueError, OSError)):
            if _launched():  # a failed rank: its traceback, then out at once (`leave`)
                traceback.print_exc()
                return leave(1)
            raise
        what = e
        if isinstance(e, OSError) and e.strerror and e.filename:  # a path as text: a library's bytes one read b'/a'
            what = f"{e.strerror}: {os.fsdecode(e.filename) if isinstance(e.filename, bytes) else e.filename}"
        # a bad value, a missing file, ...; a sub-verb that names itself (`axk1 plan fit`) is named in full
        report_error(f"axk1 {getattr(args, 'verb_name', None) or args.command}: error: {what}")
        return leave(2)
    # Ctrl-C or SIGTERM: a line, not a traceback, and for a run with checkpoints the way back. (Landing inside a
    # checkpoint save it surfaces as torch.save's RuntimeError, raised while the KeyboardInterrupt is handled, or as
    # DCP's CheckpointException, which carries it per rank.)
    _start_leaving(128 + stop)  # a second Ctrl-C from here on: `_leave_again`
    again = getattr(args, "interrupt_hint", "") or _resume_hint(args)  # a verb's own word on a rerun, if it has one
    what = "interrupted" if stop == signal.SIGINT else f"stopped by {signal.Signals(stop).name}"
    if stop == signal.SIGTERM and "TORCHELASTIC_RUN_ID" in os.environ:
        # most often torchrun's stop of the other ranks after one failed: "run the command again" sent the reader
        # away from that rank's error; a checkpoint to go on from is still worth a word
        what = ("stopped by SIGTERM from torchrun, which stops every rank when one fails (torchrun's summary names "
                "it; its error, if it printed one, is above) or when the launch itself is stopped")
        again = again if _newest_step(args) is not None else ""
    if process_rank() == 0:  # under torchrun every rank is interrupted: one line is enough
        print(f"\naxk1 {args.command}: {what}{again}", file=sys.stderr)
    if _leaving is not None:
        _leaving["said"] = True
    return leave(128 + stop)  # as a shell reports a command the signal ended: 130, 143, 129


def run_verb(args: argparse.Namespace) -> int:
    """The verb's exit code: what its function returned, or what `ended` makes of what it raised. Once the function
    has returned, the verb's work is complete: what is left is the interpreter's exit (~1 s of tearing down torch's
    modules), where a Ctrl-C or SIGTERM turned a finished `axk1 export`, `eval` or `posttrain overlap` into exit 130
    or 143 with no line (or a KeyboardInterrupt traceback from a module's finalizer and exit 0). Every verb now counts
    as finished there (`finished_run`: its own exit code and a line), unless it set its own word on the run in
    `args.finished` (train, sft, rl do, before their closing lines) or returned a stop signal's code itself (a
    training run SIGTERM stopped, its line said): a second signal then ends it with that code (`_leave_again`)."""
    global _args
    _args = args  # (sigterm_raises is entered before the command line is read)
    returned = []  # the verb's exit code, once its function has returned
    try:
        returned.append(args.func(args))
        return _returned(args, returned[0])
    except BaseException as e:
        if not returned:
            return ended(args, e)
        stop = _stopped_by(e)
        if stop is None:
            raise
        # the signal came as the verb returned, before _returned had marked it (a traceback and exit 1): finished
        code = _returned(args, returned[0])
        if finished_run() is not None:
            _end_finished(stop)
        return code


def _returned(args: argparse.Namespace, code: int | None) -> int:
    """The code of a verb whose function returned `code`, marked finished (run_verb) or, for a stop signal's code
    the verb returned itself, stopped with its line said."""
    code = 0 if code is None else code  # as sys.exit(None)
    if code in STOP_CODES:
        _start_leaving(code)
        if _leaving is not None:
            _leaving["said"] = True
    elif getattr(args, "finished", None) is None:
        args.finished = (f"exit code {code}", code)
    return code


STOP_CODES = {128 + s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}  # a shell's codes for the stops


@contextmanager
def starting() -> Iterator[None]:
    """Start-up (main inside sigterm_raises): the verbs' modules imported, the parser built, the command line read.
    A Ctrl-C there was a traceback of whatever import was under way, and a SIGTERM or SIGHUP (no handler of axk1's
    yet) ended the process with 143 or 129 and no word. Each is one line and the signal's exit code now. (Not
    before main: while axk1.cli itself is imported, a fraction of a second, no handler of axk1's is in force:
    docs/training.md.)"""
    try:
        yield
    except (KeyboardInterrupt, Terminated) as e:
        stop = _stopped_by(e)
        if process_rank() == 0:  # under torchrun every rank gets it: one line is enough
            what = "interrupted" if stop == signal.SIGINT else f"stopped by {signal.Signals(stop).name}"
            print(f"\naxk1: {what} while starting (nothing was done: run the same command to start again)",
                  file=sys.stderr)
        raise SystemExit(128 + stop) from None


@contextmanager
def sigterm_raises(args: argparse.Namespace | None = None, until_exit: bool = False) -> Iterator[None]:
    """While a verb runs, SIGTERM and SIGHUP raise Terminated in the main thread (see Terminated); the handlers
    before are put back after. SIGHUP (the terminal closed, `kill -HUP`) ended a verb at once, as SIGTERM used to
    (`axk1 serve` cut every stream); a SIGHUP the verb was started to ignore (`nohup`, which exists to keep a
    command running when its terminal closes) stays ignored.

    `args`: the verb's (run_verb binds it when the block starts before the command line is read), which is marked
    finished once its work is complete (`finished_run`). `until_exit`: the process exits
    after the block (main on the process's own command line); a finished run, or a verb a signal stopped, then
    keeps its handlers, Ctrl-C's too, to the process's end (`exit_process`) instead of getting the ones before back."""
    global _MAIN_PID, _args, _until_exit, _leaving
    _MAIN_PID, _args, _until_exit, _leaving = os.getpid(), args, until_exit, None
    signals = [signal.SIGTERM] + ([signal.SIGHUP] if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN else [])

    def keep() -> bool:  # a finished run, or a verb a signal stopped (`_start_leaving`), as the process exits
        return until_exit and (finished_run() is not None or _leaving is not None)

    try:
        with swapped_handlers(signals, _terminate, keep):
            yield
        # Ctrl-C's is Python's own while the verb runs (asyncio.run takes it over only then); taken here only where
        # it is that one (a command started in the background ignores Ctrl-C)
        if keep() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _interrupt)
    finally:
        if not keep():
            _args, _until_exit = None, False


def finished_run() -> tuple[str, int] | None:
    """What `args.finished` holds once the verb's run was complete and its outputs written: (what it left, e.g.
    "model folder: DIR", or "exit code 0" for a verb without a word of its own; the exit code it ends with). What is
    left then is teardown: destroying the process groups, the closing lines, the interpreter's shutdown. A Ctrl-C,
    SIGTERM or SIGHUP there failed the finished run: "interrupted ... run the same command with --resume" and 130 or
    143, or, once main had returned and the handlers before were back, the signal's default action: 143 and no line
    at all. Now the signal cuts the teardown short and the process exits with the run's code after one line saying
    so (`_end_finished`). None before, and outside a verb."""
    return getattr(_args, "finished", None)


_args: argparse.Namespace | None = None  # the running verb's (sigterm_raises, run_verb)
_until_exit = False  # whether the process exits once the verb has (sigterm_raises)
# a verb a signal stopped, on the process's own command line: the code it exits with, and whether its line is said
_leaving: dict | None = None


def _start_leaving(code: int) -> None:
    """A verb a signal stopped (ended) in a process that exits after it (main on its own command line): from here
    on a second Ctrl-C, SIGTERM or SIGHUP does not interrupt its end (`_leave_again`). A double Ctrl-C ~10 ms apart
    raised KeyboardInterrupt in an atexit function ("Exception ignored in atexit callback" and a traceback) or,
    once the interpreter's exit had put the default handlers back, killed the process (-2, no exit code)."""
    global _leaving
    if not _until_exit or os.getpid() != _MAIN_PID:
        return
    _leaving = {"code": code, "said": False}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # (SIGTERM's and SIGHUP's: _terminate)
        signal.signal(signal.SIGINT, _interrupt)


def _leave_again() -> None:
    """A second signal to a stopped verb: ignored while its line is being said (the process ends right after), then
    the exit code already decided, at once: a second Ctrl-C is most often sent because the exit takes long."""
    if _leaving["said"]:
        _flush_and_exit(_leaving["code"])


def exit_process(code: int) -> None:
    """The end of a process whose run finished (`finished_run`) or whose verb a signal stopped (`_start_leaving`),
    from main on its own command line: the interpreter's exit steps that matter (other threads joined, the atexit
    functions: multiprocessing's children reaped, logging flushed, ...), then os._exit(code). Python's own exit put
    the default handlers of SIGINT, SIGTERM and SIGHUP back before its ~2 s of tearing down modules, where a signal
    then killed the process without a line or the run's code (-15, -2); here the verb's handlers stay to the end,
    and the module teardown, which has nothing left to write, is skipped. Returns at once for any other end."""
    if not _until_exit or (finished_run() is None and _leaving is None):
        return
    import atexit
    import gc
    import threading

    # as the interpreter's exit: its threading atexit functions (a thread pool's idle workers told to stop) and the
    # non-daemon threads joined, then the atexit functions (private, but the very call Py_FinalizeEx makes)
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    gc.collect()  # objects only a reference cycle holds (a file, a progress bar) finalized: closed, flushed
    _flush_and_exit(code)


def _end_finished(signum: int) -> None:
    """The line of a finished run that a signal reached in its teardown, then the run's exit code at once: what
    is left is not waited for (a Ctrl-C is most often sent because it takes long)."""
    outcome, code = finished_run()
    if process_rank() == 0:  # under torchrun every rank gets it: one line is enough
        verb = getattr(_args, "verb_name", None) or _args.command  # `axk1 posttrain overlap`, not `axk1 posttrain`
        ended = "finished" if code == 0 else "ended"  # a failure's code (after its error line) is no finished run
        print(f"\naxk1 {verb}: the run had {ended} ({outcome}) when {signal.Signals(signum).name} came, "
              "during its teardown, which was cut short", file=sys.stderr)
    _flush_and_exit(code)


def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: the exit code still says it
            pass
    os._exit(code)


def _interrupt(signum, frame) -> None:
    """Ctrl-C after main has returned on a finished run (sigterm_raises), or to a verb a signal stopped
    (_start_leaving)."""
    if os.getpid() == _MAIN_PID:
        if finished_run() is not None:
            _end_finished(signum)
        if _leaving is not None:
            return _leave_again()
    raise KeyboardInterrupt  # a forked worker's, as Python's own handler


def _resume_hint(args: argparse.Namespace) -> str:
    """How to go on after an interrupt, for a recipe verb (train, sft, rl: the ones with --resume); what the folder
    holds decides it. The verb sets args.checkpoint_dir once its recipe is read: a Ctrl-C before the first checkpoint
    (or while the recipe or model was still being built) said "run the same command with --resume", which then
    refused ("no complete checkpoint ... start without --resume")."""
    if not hasattr(args, "resume"):
        return ""
    if getattr(args, "checkpoint_dir", None) is None:  # stopped before the recipe named its folder: nothing written
        return " (nothing was saved yet: run the same command to start again)"
    step = _newest_step(args)
    if step is None:
        return (" (no checkpoint was saved yet: run the command again" + (" without --resume" if args.resume is True
                                                                          else "") + " to start over)")
    return (f" (the newest checkpoint is step {step}: run the same command"
            + ("" if args.resume else " with --resume") + " to go on)")


def _newest_step(args: argparse.Namespace) -> int | None:
    """The step of the newest complete checkpoint in the folder of a recipe verb's run, if it has one."""
    if getattr(args, "checkpoint_dir", None) is None:
        return None
    from axk1.checkpoint.dcp import latest_step

    try:
        return latest_step(args.checkpoint_dir)
    except OSError:
        return None


def _launched() -> bool:
    """Whether this process is a torchrun rank that joined its process group; torch is not imported to find out
    (and a test's in-process group, outside torchrun, is not a launch)."""
    dist = sys.modules.get("torch.distributed")
    return ("TORCHELASTIC_RUN_ID" in os.environ and dist is not None and dist.is_available()
            and dist.is_initialized())


def leave(code: int) -> int:
    """`code`; a failed torchrun rank, its process group still up, ends here instead (os._exit), so that no group
    destructor runs at interpreter shutdown, where it could wait on the other ranks or abort
    (axk1/parallel/distributed.py::process_groups)."""
    if not _launched():
        return code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Terminated(BaseException):
    """SIGTERM (a scheduler's or `kill`'s stop) outside a training loop, or SIGHUP, raised where the command stands so
    that its clean-ups run (staging folders, temporary files) and it ends with a line, as Ctrl-C does. A
    BaseException, as KeyboardInterrupt is: no `except Exception` on the way may take it for the command's own error.
    (Inside a training loop the trainer's handler takes SIGTERM instead: it saves a checkpoint and stops after the
    step.) `signum`: the signal, for the line and the exit code."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


_MAIN_PID = os.getpid()  # the process main() runs in (set there); forks of it are not


def _terminate(signum, frame) -> None:
    if os.getpid() != _MAIN_PID:  # a forked worker (datatrove's, a data loader's) ends as SIGTERM ends it: at once
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if finished_run() is not None:
        _end_finished(signum)
    if _leaving is not None:
        return _leave_again()
    raise Terminated(signum)


def _stopped_by(e: BaseException | None) -> int | None:
    """The signal (SIGINT for a KeyboardInterrupt, Terminated's own) that set off this exception: itself, its
    context or cause chain, or a rank's failure inside DCP's CheckpointException, with that failure's own chain
    (Ctrl-C in a synchronous save surfaced as a rank's RuntimeError raised while the interrupt was handled: a
    traceback, exit 1). None when no signal did."""
    if e is None:
        return None
    for c in causes(e):
        if isinstance(c, KeyboardInterrupt):
            return signal.SIGINT
        if isinstance(c, Terminated):
            return c.signum
    return None
