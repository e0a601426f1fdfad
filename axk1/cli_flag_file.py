"""A verb's flags read from a TOML file too (`--config FILE`): each key is a flag's long name with underscores
(`max_batch = 16` for --max-batch, `no_prefix_caching = true` for a switch), read and checked exactly as the flag's
own text would be. A flag typed on the command line wins over the file, the file over the flag's default.
A flag declared a path (`path_flags`) given in the file is relative to the file's folder, as a path in every kind of
file is (docs/configuration.md, "Paths: relative to the file"); typed, it is relative to the current folder.
`axk1 serve` uses this; `axk1 eval` builds its file and flags from its settings dataclass instead
(axk1/eval/settings.py), the trainers read recipes (axk1/train/recipe.py).

To tell a typed flag from one left out (a flag typed with its default value must still win over the file), the
parser's defaults are held back here and given to flags neither typed nor in the file by `with_flag_file`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from axk1.toml_file import read_toml, resolve_path

DEFAULTS_KEY = "flag_file_defaults"  # where the held-back defaults and the flags' actions wait in the namespace


def add_flag_file(parser: argparse.ArgumentParser, example: str, path_flags: tuple[str, ...] = ()) -> None:
    """--config FILE; called after every flag it may set is added. `example` is a line of such a file for the help;
    `path_flags`: the flags (by dest) whose values are paths."""
    actions: dict[str, argparse.Action] = {}
    defaults: dict[str, Any] = {}
    for action in parser._actions:
        if not action.option_strings or action.default is argparse.SUPPRESS or action.dest == "help":
            continue
        actions[action.dest] = action
        defaults[action.dest] = action.default
        if action.help:  # the help still says the default the flag had
            action.help = action.help.replace("%(default)s", str(action.default))
        action.default = argparse.SUPPRESS
    parser.add_argument("--config", metavar="FILE", default=None,
                        help=f"TOML file of flag settings, a key per flag with underscores ({example}); a flag typed "
                             "here wins over the file")
    unknown = set(path_flags) - actions.keys()
    if unknown:  # a flag renamed without its declaration here would silently stay relative to the current folder
        raise ValueError(f"path_flags names no flag of {parser.prog}: {', '.join(sorted(unknown))}")
    parser.set_defaults(**{DEFAULTS_KEY: (defaults, actions, tuple(path_flags))})


def with_flag_file(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with every flag that was not typed set from the --config file, else from its default. ValueError
    naming the file and the key for a key that is no flag or a value the flag would refuse."""
    if not hasattr(args, DEFAULTS_KEY):  # read already
        return args
    defaults, actions, path_flags = getattr(args, DEFAULTS_KEY)
    settings = read_flag_file(args.config, actions, path_flags) if args.config else {}
    out = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != DEFAULTS_KEY})
    for dest, default in defaults.items():
        if not hasattr(out, dest):
            setattr(out, dest, settings.get(dest, default))
    return out


def read_flag_file(path: str | Path, actions: dict[str, argparse.Action],
                   path_flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """{dest: value} of the file, each value read by its flag's own type and choices; those of `path_flags`
    resolved against the file's folder (`port_file = "port.txt"` in /a/b/serve.toml is /a/b/port.txt, wherever the
    command runs; it was written to the current folder)."""
    raw = read_toml(path, "--config file")
    out = {}
    for key, value in raw.items():
        action = actions.get(key)
        if action is None:
            raise ValueError(f"{path}: {key!r} is not a setting of this command (the settings are its flags' long "
                             f"names with underscores: {', '.join(sorted(actions))})")
        out[key] = _flag_value(action, value, f"{path}: {key} = {value!r}")
        if key in path_flags:
            out[key] = resolve_path(str(out[key]), Path(path).parent)
    return out


def _flag_value(action: argparse.Action, value: Any, where: str) -> Any:
    if action.nargs == 0:  # a switch (store_true / store_false): the file says whether it is on
        if not isinstance(value, bool):
            raise ValueError(f"{where}: a switch takes true or false")
        if isinstance(action, argparse.BooleanOptionalAction):  # --x / --no-x: its const is None
            return value
        return action.const if value else not action.const
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: give the value as the flag's text would be, a string or a number")
    text = str(value)
    try:
        read = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
        raise ValueError(f"{where}: {e}") from None
    if action.choices is not None and read not in action.choices:
        raise ValueError(f"{where}: choose from {', '.join(map(str, action.choices))}")
    return read
