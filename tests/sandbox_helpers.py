"""Finding sandbox runs' processes from outside: every process of a run is named sbx-<its folder's random suffix>
(/proc/PID/comm, set by the supervisor and inherited by forks), and the folder is removed when the run returns."""

import os
import tempfile


def _name(pid: str) -> str:
    """The process's name, or "" when it is gone or a zombie (dead: it holds nothing but its pid)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            name, state = f.read().split(" (", 1)[1].rsplit(") ", 1)
        return "" if state.startswith(("Z", "X")) else name
    except (OSError, IndexError, ValueError):
        return ""


def orphaned_runs() -> list[str]:
    """`pid name` of every live sandbox process whose run has already returned (its folder is gone)."""
    found = []
    for pid in os.listdir("/proc"):
        name = _name(pid) if pid.isdigit() else ""
        if name.startswith("sbx-") and not os.path.exists(os.path.join(tempfile.gettempdir(),
                                                                       f"axk1-sandbox-{name[4:]}")):
            found.append(f"{pid} {name}")
    return found
