"""Reading the project's TOML files (recipes, pipelines, run configs) with errors that say what to do."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: str | Path, what: str, example: str | None = None) -> dict[str, Any]:
    """The parsed file; FileNotFoundError naming `what` (and an example file) when it is missing, ValueError when
    it is not valid TOML."""
    path = Path(path)
    if not path.exists():
        hint = f" (see {example} for an example)" if example else ""
        raise FileNotFoundError(f"{what} {path} does not exist{hint}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
