"""What a failure's exception holds, read the same way wherever a rank's failure is judged (axk1/cli_exit.py, which
picks the exit code and line, and axk1/checkpoint/save_failure.py, which words a failed checkpoint write): its
chain of causes, and whether a collective in it lost a peer rank. One rule for both: a peer killed during a save
was reported as the checkpoint folder's fault ("Check that the folder is writable", exit 2) because the save's
wrapper did not know the rule the command line used. No torch import: the command line reads this before torch."""

from __future__ import annotations

from collections.abc import Iterator

# what a collective raises on a rank whose peer died (gloo's and NCCL's words for it)
PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "connectFullMesh", "remote process exited",
             "Broken pipe")


def causes(e: BaseException) -> Iterator[BaseException]:
    """The exception, its cause/context chain, and each rank's failure inside DCP's CheckpointException (its
    `failures`, with their own chains: a rank's RuntimeError raised while a KeyboardInterrupt was handled)."""
    seen, todo = set(), [e]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]
        failures = getattr(e, "failures", None)
        if isinstance(failures, dict):
            todo += [f[0] if isinstance(f, tuple) else f for f in failures.values()
                     if isinstance(f[0] if isinstance(f, tuple) else f, BaseException)]


def lost_peer(e: BaseException) -> BaseException | None:
    """The collective's error in `e`'s chain that says it lost a peer rank (which failed or was killed), or None."""
    return next((c for c in causes(e) if isinstance(c, RuntimeError) and any(w in str(c) for w in PEER_GONE)), None)


# what a collective raises when its peers sent nothing within the group's timeout (gloo's words; NCCL's watchdog;
# torch's store, a DistStoreError, where ranks meet to make a group: "wait timeout after 15000ms, keys: /default_pg/0
# //9//cpu//0/1", which a rank killed while the groups were being made left as a traceback)
TIMED_OUT = ("Timed out waiting", "collective operation timeout", "wait timeout after")


def peer_timed_out(e: BaseException) -> BaseException | None:
    """The collective's error in `e`'s chain that says the other ranks did not answer within the group's timeout
    (one hangs: a stopped process, a node off the network), or None."""
    return next((c for c in causes(e) if isinstance(c, RuntimeError) and any(w in str(c) for w in TIMED_OUT)), None)
