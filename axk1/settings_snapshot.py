"""A run's settings as a snapshot saved beside what it made, and two snapshots compared key by key.

Training saves its run definition with every checkpoint (axk1/train/resume.py, axk1/posttrain/rl_resume.py), the
ranks of a launch compare theirs (axk1/train/rank_recipes.py), a data run records its settings.json
(axk1/data/run_settings.py): each takes the settings JSON-safe (`json_safe`), flattened to "table.key" paths
(`flat_settings`) so that a refusal names the one setting that differs, and compares them (`changed_keys`).
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def json_safe(obj: Any, strict: bool = False) -> Any:
    """A deep copy of `obj` made of what JSON holds (dicts, lists, strings, numbers, booleans, None): what a
    snapshot saved as JSON reads back as, so a fresh one compares equal to a saved one. A value JSON cannot hold (a
    Path) is written as its str(); `strict`: refused instead (TypeError), where a str would silently change what
    is read back (a checkpoint's train state)."""
    return json.loads(json.dumps(obj) if strict else json.dumps(obj, default=str))


def flat_settings(value: Any, prefix: str = "", whole_lists: bool = False) -> dict[str, Any]:
    """Settings as "key.path" -> value, into tables and lists (`stages.0.tokens`), so that a refusal names the
    setting that differs, not the whole stages list around it; an empty table or list is a value of its own.
    `whole_lists`: a list that holds no table stays one value (`filters.languages`) and an empty table adds no key:
    the form a data run's settings.json has had since its first version, which settings.json files written then
    must still compare equal to."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list) and not (whole_lists and not any(isinstance(v, dict) for v in value)):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, v in items:
        out.update(flat_settings(v, f"{prefix}.{key}" if prefix else str(key), whole_lists))
    if out or (whole_lists and isinstance(value, dict)):
        return out
    return {prefix: value}


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The flat keys whose values differ between two snapshots (one that only one of them has included), sorted."""
    return sorted(k for k in set(old) | set(new) if old.get(k, _MISSING) != new.get(k, _MISSING))


def setting_diffs(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """"key: old -> new" for every flat setting that differs (changed_keys), "(none)" for a key one side lacks. An
    empty table on one side whose keys the other side has is said by those keys alone: `model.overrides:
    {} -> '(none)'` beside `model.overrides.hidden_size: '(none)' -> 96` said the one change twice."""
    keys = changed_keys(old, new)
    filled = {k for k in keys
              if any(side.get(k, _MISSING) in ({}, []) and k not in other for side, other in ((old, new), (new, old)))
              and any(o.startswith(f"{k}.") for o in keys)}
    return [f"{k}: {old.get(k, '(none)')!r} -> {new.get(k, '(none)')!r}" for k in keys if k not in filled]
