"""Work counted, not timed: a test that an algorithm is linear compares how much input it hands the regular-expression
engine at two sizes, which a loaded machine cannot change (a clock in a test failed CI under load; speed goals live
in benchmarks/)."""

from __future__ import annotations

import re

import pytest

_CALLS = ("search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer")


class _CountingPattern:
    """A compiled pattern that adds the length of each string it is given to `counted`."""

    def __init__(self, pattern: re.Pattern, counted: list[int]):
        self._pattern, self._counted = pattern, counted

    def __getattr__(self, name):
        found = getattr(self._pattern, name)
        if name not in _CALLS:
            return found

        def call(*args, **kwargs):
            text = args[1] if name in ("sub", "subn") else args[0]
            self._counted[0] += len(text)
            return found(*args, **kwargs)
        return call


def regex_input(modules, work) -> tuple[object, int]:
    """(what `work()` returns, the characters it handed the regex engine): through the re module's functions, and
    through the compiled patterns held by `modules` at module level. A pass per nesting level shows as input times
    the depth."""
    counted = [0]
    with pytest.MonkeyPatch.context() as patch:
        for name in _CALLS:
            original = getattr(re, name)

            def counting(pattern, *args, _original=original, _name=name, **kwargs):
                counted[0] += len(args[1] if _name in ("sub", "subn") else args[0])
                return _original(pattern, *args, **kwargs)
            patch.setattr(re, name, counting)
        for module in modules:
            for attr, value in list(vars(module).items()):
                if isinstance(value, re.Pattern):
                    patch.setattr(module, attr, _CountingPattern(value, counted))
        out = work()
    return out, counted[0]
