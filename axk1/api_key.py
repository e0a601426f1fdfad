"""API keys come from an environment variable, never from the command line.

A key on the command line (`--api-key sk-...`) is shown to every user of the machine by `ps` and
/proc/PID/cmdline, and is kept in shell histories and job logs; an environment variable is readable by the
process's own user only. So every command that checks or sends a key reads it from a variable whose name
`--api-key-env` gives: `axk1 serve` (the key clients must send) defaults to AXK1_API_KEY, as RL's
`[rl] server_api_key_env` does for the server it pushes weights to; `axk1 eval` and `axk1 data synth` (the key
sent to an OpenAI-compatible server) default to OPENAI_API_KEY, the variable the openai client reads. An unset or
empty variable means no key. `--api-key` is refused, naming the variable to set instead. A key must be printable
ASCII without surrounding whitespace (what an HTTP header carries): any other is refused when it is read.
"""

from __future__ import annotations

import argparse
import logging
import os
import re

SERVER_KEY_ENV = "AXK1_API_KEY"  # the key an axk1 server requires
CLIENT_KEY_ENV = "OPENAI_API_KEY"  # the key sent to an OpenAI-compatible server (the openai client's variable)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

log = logging.getLogger(__name__)


def check_env_name(name: str, field: str = "--api-key-env") -> str:
    """`name` if it can name an environment variable; `field` is what set it, for the error. The value is not
    repeated in the error: a key given here by mistake would be printed into a log."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{field} takes the NAME of an environment variable (letters, digits and _, e.g. "
                         f"{CLIENT_KEY_ENV}), not the key itself: export the key in that variable")
    return name


def read_api_key(env_name: str, default_env: str) -> str | None:
    """The key in environment variable `env_name`, or None when it is unset or empty. A variable other than the
    default that is unset is most likely a typo, so it is named in a warning."""
    key = os.environ.get(check_env_name(env_name)) or None
    if key is None and env_name != default_env:
        log.warning("--api-key-env %s: the variable %s is unset or empty, so no API key is used", env_name, env_name)
    if key is not None:
        check_key(key, env_name)
    return key


def check_key(key: str, env_name: str) -> None:
    """ValueError for a key that no client can send in an `Authorization: Bearer` header, so that the command
    fails at its start rather than every request with a 401 (a server) or a client's UnicodeEncodeError: a header
    value is ASCII (Starlette reads it as latin-1, the openai client refuses to encode 'kéy'), and surrounding
    whitespace (a quoted env-file value, a trailing newline from `$(cat keyfile)`) is cut off by HTTP parsers or
    refused outright (h11). The key itself is never echoed: the error may land in a shared log."""
    if key != key.strip():
        raise ValueError(f"${env_name} starts or ends with whitespace, which an HTTP header cannot carry, so no client "
                         f"could send this key: export it without the surrounding spaces or newline")
    bad = next((i for i, ch in enumerate(key) if not " " <= ch <= "~"), None)
    if bad is not None:
        raise ValueError(f"${env_name} holds a character that is not printable ASCII (at position {bad + 1}), which "
                         "an HTTP header cannot carry, so no client could send this key: use letters, digits and "
                         "ASCII punctuation only")


class _RefuseKeyOnCommandLine(argparse.Action):
    """`--api-key VALUE`: refused with the reason and the fix. Declared, not just absent, so that argparse does not
    read `--api-key` as an abbreviation of `--api-key-env` and take the key for a variable's name."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} would put the key on the command line, where `ps` shows it to every user of "
                     f"this machine: export it in an environment variable instead (export {self.default_env}=...; "
                     "--api-key-env names another variable)")


def add_api_key_flags(parser: argparse.ArgumentParser, default_env: str, purpose: str) -> None:
    """--api-key-env NAME (default `default_env`) and the refused --api-key; `purpose` says what the key is for."""
    def env_name(text: str) -> str:
        try:
            return check_env_name(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parser.add_argument("--api-key-env", type=env_name, default=default_env, metavar="NAME",
                        help=f"environment variable holding {purpose} (default {default_env}; unset or empty: no "
                             "key). A key is never given on the command line, where `ps` shows it to every user")
    # SUPPRESS: the refused flag sets nothing; the refusal names the command's own variable
    parser.add_argument("--api-key", nargs="?", action=_RefuseKeyOnCommandLine, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS).default_env = default_env
