"""JSON from outside the process (a user's file, a line of their data, a flag's value): one place for everything a
broken text can raise.

`json.loads` fails in four ways, not one: JSONDecodeError (bad syntax), UnicodeDecodeError (bytes that are not
UTF-8), a plain ValueError (an integer of more than 4,300 digits) and RecursionError (arrays nested past the
interpreter's stack, a few hundred bytes of `[`). A reader that catches only the first turns the others into a
traceback. `parse_json` turns all four into one `JsonError` whose text is the short reason, for the caller to put
after the file's (and line's) name and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class JsonError(ValueError):
    """The text is not JSON; str() is the reason (`Expecting value at column 3`, `nested too deep`, ...)."""


def parse_json(text: str | bytes) -> Any:
    """The value of a JSON text (bytes are read as UTF-8); JsonError when it is not one."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonError("nested too deep") from None
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno}, column {e.colno}"
        raise JsonError(f"{e.msg} at {where}") from None
    except UnicodeDecodeError as e:
        raise JsonError(f"not UTF-8 text (byte {e.start})") from None
    except ValueError as e:  # an integer past Python's int-from-string digit limit
        raise JsonError(str(e)) from None


def read_json_file(path: str | Path) -> Any:
    """The value of a JSON file; JsonError when it is not JSON, OSError (FileNotFoundError, ...) as raised."""
    return parse_json(Path(path).read_bytes())


def json_lines(lines: Iterable[str | bytes], where: str | Path, advice: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every line of a JSON Lines text that is not blank; a line that is not JSON is a
    ValueError saying `where:line: not a JSON line (reason); advice`."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, parse_json(line)
        except JsonError as e:
            raise ValueError(f"{where}:{number}: not a JSON line ({e}); {advice}") from None

