"""Argument types shared by the command-line verbs: a bad number is an argparse error naming the flag, before any
work starts (not a traceback, not a silent fallback, not minutes of work and then a refusal)."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from axk1.sampling_ranges import SEED_RANGE, SEED_RULE


def bounded_int(text: str, least: int, bound: str, most: int | None = None) -> int:
    """`text` as a whole number from `least` to `most` (None: no upper bound); `bound` says the range in the
    error ("at least 1"). The building block of the flag types here and of a verb's own ranges."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least or (most is not None and value > most):
        raise argparse.ArgumentTypeError(f"{value} must be {bound}")
    return value


# The most torch threads a run may ask for ([run] threads, --threads): torch.set_num_threads(100000) and then a
# matmul ended the process with a segfault and no message. A fixed number, not one per machine: a recipe moves
# between machines, and torch runs fine with more threads than cores.
MAX_THREADS = 1024


def threads_problem(value: int, what: str) -> str | None:
    """Why `value` cannot be a torch thread count (0: torch's default), naming the setting `what`; None if it can."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_THREADS:
        return f"{what} must be a whole number from 0 (torch's default) to {MAX_THREADS}, got {value!r}"
    return None


def thread_count(text: str) -> int:
    return bounded_int(text, 0, f"0 (torch's default) to {MAX_THREADS}", most=MAX_THREADS)


def positive_int(text: str) -> int:
    return bounded_int(text, 1, "at least 1")


def non_negative_int(text: str) -> int:
    return bounded_int(text, 0, "0 or more")


def tcp_port(text: str) -> int:
    return bounded_int(text, 0, "a TCP port, 0-65535", most=65535)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive, finite number")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0: float() reads "nan" and "inf", and `nan < 0` is False, so a NaN temperature passed a
    `< 0` check and sampled from NaN probabilities (the vocabulary's last id every time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def sampling_seed(text: str) -> int:
    """--seed: the one seed range (sampling_ranges.py), the one `axk1 serve` takes too."""
    least, most = SEED_RANGE
    return bounded_int(text, least, SEED_RULE, most=most)


def comma_list(item: Callable[[str], Any] = str) -> Callable[[str], tuple]:
    """The argparse type of a comma-separated flag (`--levels 1,2`, `--kinds "math, code"`): its items as a tuple,
    spaces around each stripped and empty ones (a trailing comma) dropped, each read by `item` (str, or a flag type
    of this file such as positive_int). A bad item, or no item at all, is argparse's error naming the flag; the
    flags had been split six ways, some keeping the spaces (`"math, code"` asked for the kind " code")."""

    def parse(text: str) -> tuple:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{text!r} lists nothing: give items separated by commas")
        out = []
        for x in items:
            try:
                out.append(item(x))
            except (ValueError, argparse.ArgumentTypeError) as e:
                raise argparse.ArgumentTypeError(f"item {x!r} of {text!r}: {e}") from None
        return tuple(out)

    parse.__name__ = "comma-separated list"  # what argparse's own messages call the type
    return parse


def check_utf8(flag: str, text: str | None) -> None:
    """A ValueError (one line, exit 2) for a text flag (`axk1 generate --prompt`, `--system`) whose value the shell
    passed as bytes that are not UTF-8 (Latin-1's é, 0xe9): Python keeps each as a lone surrogate, which no
    tokenizer encodes (it was a TypeError traceback from the tokenizer); `axk1 serve` refuses one so too (400
    invalid_encoding)."""
    at = next((i for i, c in enumerate(text or "") if "\ud800" <= c <= "\udfff"), None)
    if at is None:
        return
    byte = (f"the byte 0x{text[at].encode('utf-8', 'surrogateescape').hex()}" if "\udc80" <= text[at] <= "\udcff"
            else "a lone surrogate")
    raise ValueError(f"{flag} is not UTF-8 text ({byte} at character {at}): pass it in UTF-8 (text in another "
                     "encoding converts with iconv, e.g. `iconv -f latin1 -t utf-8`)")


def name_sub_verbs(sub: argparse._SubParsersAction, verb: str) -> None:
    """Each sub-verb of `verb` (and theirs, `data tokenizer train`) names itself in full in its errors: `axk1 data
    stats: error: ...`, as `axk1 plan sweep: error: ...` (cli_exit reads `verb_name`). Call it once the sub-verbs are
    all added."""
    for name, parser in sub.choices.items():
        full = f"{verb} {name}"
        parser.set_defaults(verb_name=full)
        nested = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if nested is not None:
            name_sub_verbs(nested, full)


RESUME_HELP = ("continue from the newest complete checkpoint; `--resume auto` continues when the checkpoints folder "
               "has one and starts the run when it has none, so a scheduler's requeued job runs one command line")


def add_resume_flag(p: argparse.ArgumentParser) -> None:
    """`--resume` (True) or `--resume auto` ("auto"), as `axk1 train`, `axk1 sft` and `axk1 rl` take it;
    checkpoint/dcp.py's resume_on_restart decides what "auto" means for the run's folder."""
    p.add_argument("--resume", nargs="?", const=True, default=False, choices=["auto"], metavar="auto",
                   help=RESUME_HELP)


def go_on_advice(resume: bool | str) -> str:
    """What a stopped run with a checkpoint says to go on: a `--resume auto` command line already does."""
    return "run the same command to go on" if resume == "auto" else "run the same command with --resume to go on"
