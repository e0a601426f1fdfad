"""The project's one configuration system: TOML file → nested dataclasses, with errors that say what to do.

Every recipe (train, sft, rl, data pipeline, synthetic data) is a dataclass tree read by `build_dataclass`:
- nesting follows the type hints (a dataclass field is a table, `list[SomeDataclass]` an array of tables);
- unknown keys are refused with the valid ones listed (a typo must not silently fall back to a default);
- scalars are type-checked (TOML gives int/float/str/bool/list/dict; an int is accepted where a float is wanted),
  and so are a table's keys and values (`dict[int, float]`: keys written in digits, finite numbers);
- TOML keys that are Python keywords map to the field with a trailing underscore (`async` → `async_`);
- any key can be overridden from the command line as `--section.key value` (`parse_overrides`), the value read
  as a TOML value when it parses as one (`--optimizer.lr 1e-4`, `--stages.0.tokens 1000`) and as a string otherwise.
Relative paths inside a recipe are resolved against the recipe file's folder, `~` expanded as the shell does, by one
rule (docs/configuration.md):
the recipe's root dataclass declares the dotted keys that hold paths (`path_keys`) and the names such a key may hold
that are no file (`builtin_names`, e.g. the bundled "humaneval" benchmark); `load_toml` makes those keys' command-line
values absolute and `resolve_declared` resolves them in the built tree. `to_toml` writes a dataclass tree back as
TOML that `build_dataclass` reads into an equal tree (the planner writes its recipe.toml this way).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import fnmatch
import json
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from axk1.user_file import read_text


def read_toml(path: str | Path, what: str, example: str | None = None) -> dict[str, Any]:
    """The parsed file; FileNotFoundError naming `what` (and an example file) when it is missing, ValueError naming
    the file when it is not valid TOML: bad syntax, bytes that are not UTF-8, values nested past the parser's stack
    (tomllib recurses: a few hundred kB of `[` raised RecursionError), or not a regular file (a FIFO, user_file)."""
    path = Path(path)
    if not path.exists():
        hint = f" (see {example} for an example)" if example else ""
        raise FileNotFoundError(f"{what} {path} does not exist{hint}")
    text = read_text(path, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    except RecursionError:
        raise ValueError(f"{path} is not valid TOML for axk1: a value is nested too deep (arrays or tables inside "
                         "each other past what the reader can follow); flatten it") from None


def load_toml(path: str | Path, what: str, example: str | None = None,
              overrides: list[str] | None = None, path_keys: tuple[str, ...] = (),
              builtin_names: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The parsed file with `--section.key value` overrides applied: what every loader builds its dataclasses from.
    `path_keys`: the dotted keys that hold paths (`*` for an array index, e.g. `sources.*.path`). In the file a
    relative path is relative to the file's folder; given on the command line it is relative to the current folder,
    as any command-line path is, so those override values are made absolute here. A key may hold a table of paths
    (`filters.perplexity.model = {ko = "..."}`): a key inside it (`--filters.perplexity.model.ko`) is a path too.
    `builtin_names`: {key: names it may hold that are no file}, left as they are (resolve_declared)."""
    parsed = parse_overrides(overrides or [])
    out = []
    for key, value in parsed:
        dotted = ".".join(key)
        declared = [k for k in path_keys if fnmatch.fnmatchcase(dotted, k) or fnmatch.fnmatchcase(dotted, f"{k}.*")]
        if declared:
            value = absolute_paths(value, (builtin_names or {}).get(declared[0], ()))
        out.append((key, value))
    return apply_overrides(read_toml(path, what, example), out)


def absolute_paths(value: Any, keep: tuple[str, ...] = ()) -> Any:
    """A path (or a list or table of them) made absolute against the current folder, as any command-line path is;
    "" (a setting left off) and the names in `keep` (no file: a built-in benchmark) stay."""
    return _resolve_value(value, os.getcwd(), keep)


def resolve_path(path: str | None, base: str | Path, keep: tuple[str, ...] = ()) -> str | None:
    """The one path rule: a relative path in a file is relative to that file's folder (`base`). `~` and `~user` at
    its start are the home folder, as the shell reads them (kept as written, `out_dir = "~/run"` wrote into a folder
    literally named "~" beside the recipe, and removing it as `rm -rf ~/...` deletes from the home folder). None
    and "" (a setting left off) stay as they are; absolute paths too, and a name in `keep` (a built-in benchmark's,
    which names no file)."""
    if path in (None, "") or path in keep:
        return path
    path = os.path.expanduser(path)
    if Path(path).is_absolute():
        return path
    return os.path.normpath(Path(base) / path)


def _resolve_value(value: Any, base: str | Path, keep: tuple[str, ...]) -> Any:
    """resolve_path on a path, or on each of a list or table of them (what is not a string is left to the loader's
    checks)."""
    if isinstance(value, list):
        return [_resolve_value(v, base, keep) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_value(v, base, keep) for k, v in value.items()}
    return resolve_path(value, base, keep) if isinstance(value, str) or value is None else value


def resolve_keys(obj: Any, keys: tuple[str, ...], base: str | Path,
                 builtin_names: dict[str, tuple[str, ...]] | None = None) -> None:
    """`resolve_path` on each dotted key of a dataclass tree (`*` for every entry of a list, e.g. `sources.*.path`);
    a key holding a list or a table of paths has each resolved, but for the names `builtin_names[key]` lists.
    The same keys as a loader's `path_keys` (`load_toml`)."""

    def walk(node: Any, parts: list[str], keep: tuple[str, ...]) -> None:
        if parts[0] == "*":
            for item in node:
                walk(item, parts[1:], keep)
        elif len(parts) > 1:
            walk(getattr(node, parts[0]), parts[1:], keep)
        else:
            setattr(node, parts[0], _resolve_value(getattr(node, parts[0]), base, keep))

    for key in keys:
        walk(obj, key.split("."), (builtin_names or {}).get(key, ()))


def resolve_declared(obj: Any, base: str | Path) -> None:
    """The paths a dataclass tree's root class declares (`path_keys`, `builtin_names`), resolved against `base`,
    the folder of the file it was read from."""
    cls = type(obj)
    resolve_keys(obj, cls.path_keys, base, getattr(cls, "builtin_names", None))


def _toml_key(field_name: str) -> str:
    return field_name[:-1] if field_name.endswith("_") else field_name


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, whether None is allowed)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), len(args) < len(typing.get_args(tp))
    return tp, False


def _check_scalar(value: Any, tp: Any, where: str) -> Any:
    tp, optional = _unwrap_optional(tp)
    if value is None and optional:
        return value
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # e.g. str | bool: the first type that fits
        errors = []
        for arm in typing.get_args(tp):
            try:
                return _check_scalar(value, arm, where)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(" or ".join(errors))
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, where)
    origin = typing.get_origin(tp) or tp  # a bare `list` / `dict` hint is list[Any] / dict[Any, Any]
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list (TOML array), got {value!r}; on the command line write it "
                             "as one quoted TOML array, e.g. '[\"a.jsonl\", \"b.jsonl\"]'")
        (item,) = typing.get_args(tp) or (Any,)
        return [_check_scalar(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:  # its keys and values meet their declared types too (a bare `dict`: any, but finite)
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a table, got {value!r}")
        key_tp, item_tp = typing.get_args(tp) or (Any, Any)
        return {_check_key(k, key_tp, where): _check_scalar(v, item_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        _check_finite(value, where)
        return value
    if tp is bool and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):  # TOML writes inf and nan; no setting means either (lr = inf trained a NaN model)
            raise ValueError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if tp is str and not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    if tp is datetime.date and not isinstance(value, datetime.date):
        raise ValueError(f"{where} must be a date, e.g. 2025-02-01, got {value!r}")
    return value


def _check_key(key: Any, tp: Any, where: str) -> Any:
    """A table's key as its declared type: TOML keys are strings, so an `int` key is one written in digits
    (`top_n_grams = { 2 = 0.3 }`)."""
    if tp is int and not isinstance(key, int):
        if not (isinstance(key, str) and re.fullmatch(r"[+-]?[0-9]+", key)):
            raise ValueError(f"{where} has the key {key!r}: its keys are whole numbers, e.g. {{ 2 = 0.3 }}")
        return int(key)
    return key


def _check_finite(value: Any, where: str) -> None:
    """A value of any type (in a bare `dict` or `list`, e.g. [slurm] sbatch_args) holds no inf or nan, however
    deep: no setting means them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")


def build_dataclass(cls: type, raw: Any, where: str) -> Any:
    """`cls` built from a TOML table, nested tables and arrays of tables included; ValueError naming the place.
    A class may list keys it no longer has in a `removed_keys` class attribute ({key: why}): an old file that still
    sets one is told why, not only that the key is unknown."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {_toml_key(f.name): f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in raw.items():
        f = fields.get(key)
        if f is None:
            removed = getattr(cls, "removed_keys", {}).get(key)
            why = f"removed: {removed}; " if removed else ""
            raise ValueError(f"{where}: unknown key {key!r} ({why}known: {', '.join(sorted(fields))})")
        kwargs[f.name] = _check_scalar(value, hints[f.name], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required key is missing
        missing = [k for k, f in fields.items() if f.name not in kwargs
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        raise ValueError(f"{where}: missing required key(s) {missing}" if missing else f"{where}: {e}") from None


def _nearest_flag(arg: str, flags: Iterable[str]) -> str:
    """"did you mean --dry-run? " for an argument close to one of the verb's flags (underscores read as dashes), else
    nothing."""
    longs = [f for f in flags if f.startswith("--")]
    near = difflib.get_close_matches(arg.replace("_", "-"), longs, n=1, cutoff=0.75)
    return f"did you mean {near[0]}? " if near else ""


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string: --run.device cuda
    except RecursionError:
        raise ValueError(f"the override value {text[:40]!r}... is nested too deep to read") from None


def parse_overrides(args: list[str], flags: Iterable[str] = ()) -> list[tuple[list[str], Any]]:
    """`--section.key value` pairs (also `--section.key=value`) → [(path, value)]; ValueError on anything else.
    `flags`: the verb's own options, of which the error names the nearest to a mistyped one (--dryrun, --max_steps)."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or "." not in arg.split("=", 1)[0]:
            raise ValueError(f"unexpected argument {arg!r}: {_nearest_flag(arg.split('=', 1)[0], flags)}overrides look "
                             "like --section.key value (e.g. --optimizer.lr 1e-4)")
        if "=" in arg:
            key, text = arg[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise ValueError(f"{arg} needs a value")
            key, text = arg[2:], args[i + 1]
            i += 2
        out.append((key.split("."), _parse_value(text)))
    return out


def apply_overrides(raw: dict[str, Any], overrides: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """Sets each (path, value) in the raw TOML dict (tables created as needed; a number indexes an array)."""
    for path, value in overrides:
        node: Any = raw
        for j, part in enumerate(path[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ValueError(f"--{'.'.join(path)}: {'.'.join(path[:j])} has {len(node)} entries; "
                                     f"{part!r} is not an index into it")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ValueError(f"--{'.'.join(path)}: {'.'.join(path[:j + 1])} is a value, not a table")
        last = path[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ValueError(f"--{'.'.join(path)}: {last!r} is not an index into a list of {len(node)}")
            node[int(last)] = value
        else:
            node[last] = value
    return raw


# ---- writing: a dataclass tree back to TOML ---------------------------------------------------------------------
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: Any) -> str:
    k = str(k)
    return k if _BARE_KEY.match(k) else _value(k)


def _value(v: Any) -> str:
    """One TOML value, written inline (dicts as inline tables, so `mixture = { web = 0.5 }` stays one line)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)  # Python's float repr (1e-08, 7000000000000.0, inf) is valid TOML
    if isinstance(v, (str, Path)):
        return json.dumps(str(v), ensure_ascii=False)  # JSON's string escapes are a subset of TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _items(obj: Any) -> list[tuple[str, Any]]:
    """A dataclass's (TOML key, value) pairs: the fields a file can set, None (TOML has no null: read back as the
    field's default, which for these fields is None) left out."""
    return [(_toml_key(f.name), getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if f.init and getattr(obj, f.name) is not None]


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(dataclasses.is_dataclass(x) for x in v)


def _write_table(obj: Any, name: str, header: str, out: list[str]) -> None:
    items = _items(obj)
    # TOML wants a table's own keys before its sub-tables
    plain = [(k, v) for k, v in items if not dataclasses.is_dataclass(v) and not _is_table_list(v)]
    if header:
        out.append(header)
    out.extend(f"{_key(k)} = {_value(v)}" for k, v in plain)
    if header or plain:
        out.append("")
    for k, v in items:
        sub = f"{name}.{_key(k)}" if name else _key(k)
        if dataclasses.is_dataclass(v):
            _write_table(v, sub, f"[{sub}]", out)
        elif _is_table_list(v):
            for item in v:
                _write_table(item, sub, f"[[{sub}]]", out)


def to_toml(obj: Any, comment: str = "") -> str:
    """A dataclass tree as TOML: nested dataclasses as tables, lists of dataclasses as arrays of tables, dicts as
    inline tables. `build_dataclass(type(obj), tomllib.loads(to_toml(obj)), ...)` equals `obj`."""
    if not dataclasses.is_dataclass(obj):
        raise TypeError(f"to_toml writes a dataclass, got {type(obj).__name__}")
    out = [f"# {line}" for line in comment.splitlines()] + ([""] if comment else [])
    _write_table(obj, "", "", out)
    return "\n".join(out).rstrip() + "\n"
