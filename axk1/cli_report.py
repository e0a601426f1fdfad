"""A verb's error line under torchrun: printed once per launch, not once per rank, and written to the rank's
torchrun error file so that torchrun's closing summary names it. Split from axk1/cli_exit.py (how a verb ends)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path


def report_error(line: str) -> None:
    """Prints a verb's error line; under torchrun, once per launch. Every rank reads the same recipe and fails the
    same way, so N ranks used to print N copies: of the ranks that fail with this very line, only the first to get
    here prints it (a rank with another error still prints its own). Every rank still exits non-zero. The line also
    goes to the rank's torchrun error file, so that torchrun's closing summary names the error instead of "To enable
    traceback see: ..."."""
    first = _first_to_report(line)
    if first:
        print(line, file=sys.stderr)
    # the others' a second later: torchrun's summary takes the earliest (whole seconds) as the root cause
    write_error_file(line if first else "the same error on another rank (printed above)", later=0 if first else 1)


# how many seconds on a survivor dates the record of a peer it lost (cli_exit.ended): past torchrun's noticing of the kill
LOST_PEER_LATER_S = 5


def write_error_file(said: str, later: int) -> None:
    """`said` into this rank's torchrun error file (none outside torchrun), the line torchrun's closing summary shows
    for the rank, dated now or `later` seconds from now. A failed write only loses the summary's line."""
    error_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if error_file:  # the format torchrun's ProcessFailure reads
        when = str(int(time.time()) + later)
        record = {"message": {"message": said, "extraInfo": {"py_callstack": said, "timestamp": when}}}
        try:
            Path(error_file).write_text(json.dumps(record))
        except OSError:
            pass


def _first_to_report(line: str) -> bool:
    """Whether this rank is the first of its launch to fail with `line`: a counter per line in torchrun's own
    store, which exists before (and without) any process group, on every node. Outside torchrun, or when the store
    cannot be reached, True: a duplicate line is better than none."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or os.environ.get("WORLD_SIZE", "1") == "1":
        return True
    try:
        from datetime import timedelta

        from torch.distributed import TCPStore

        store = TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                         timeout=timedelta(seconds=5))
        # a restarted attempt (torchrun --max-restarts) prints its errors afresh
        restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        key = f"axk1/error/{restart}/{hashlib.sha256(line.encode()).hexdigest()}"
        return store.add(key, 1) == 1
    except Exception:  # noqa: BLE001 - the store is gone or unreachable: print rather than say nothing
        return True
