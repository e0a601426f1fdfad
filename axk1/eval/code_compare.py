"""How the code judge compares a program's output with the expected one (code_judge.py; standard library only,
loaded by sandbox_child.py in the judge process): strict is upstream LiveCodeBench's rule (lines stripped, equal or
equal as Decimal tokens), tolerant an online judge's (integers exact, floats within 1e-6), and returned values for
call-based problems. The output is the program's: its size is its own, so nothing here builds more than the
expected answer's number of lines or tokens from it (a wrong output of 25 million tokens is a wrong answer, not
the judge's lack of memory).
"""

import math
import re

FLOAT_TOL = 1e-6
FLOAT_TOKEN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # no `_`, inf, nan, "３.５"
TOKEN = re.compile(r"\S+")  # str.split()'s tokens (the same Unicode whitespace), found one at a time


def _lines(got: str, expected: str) -> tuple[list[str], list[str]] | None:
    """Both texts' stripped lines, or None when their counts differ (counted before the program's are split)."""
    got, expected = got.strip(), expected.strip()
    if got.count("\n") != expected.count("\n"):
        return None
    return [line.strip() for line in got.split("\n")], [line.strip() for line in expected.split("\n")]


def _tokens(line: str, most: int) -> list[str] | None:
    """line.split(), or None once it has more than `most` tokens (found one at a time, not all built first)."""
    out = []
    for match in TOKEN.finditer(line):
        if len(out) == most:
            return None
        out.append(match.group())
    return out


def _decimals(tokens: list[str]):
    from decimal import Decimal, InvalidOperation  # here: most outputs match exactly, and every run pays imports

    try:
        return [Decimal(tok) for tok in tokens]
    except (InvalidOperation, ValueError):
        return None


def strict_equal(got: str, expected: str) -> bool:
    """Upstream's rule: a line equal as text, or as Decimal tokens. Upstream builds both lines' Decimals and compares
    the lists, so lines of different token counts differ: counted first, before any Decimal."""
    lines = _lines(got, expected)
    if lines is None:
        return False
    for a, b in zip(*lines):
        if a == b:
            continue
        want = b.split()
        have = _tokens(a, len(want))
        if have is None or len(have) != len(want):
            return False
        da, db = _decimals(have), _decimals(want)
        if da is None or db is None or not _same_decimals(da, db):
            return False
    return True


def _same_decimals(a: list, b: list) -> bool:
    from decimal import InvalidOperation

    try:
        return a == b
    except InvalidOperation:  # a signalling NaN (`sNaN` printed) refuses to compare: a wrong answer, not the judge's
        return False


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=FLOAT_TOL, abs_tol=FLOAT_TOL)


def _is_int_token(tok: str) -> bool:
    # Not int(): it accepts `2_000`, spaces and non-ASCII digits, none of which a judge reads as a number.
    return tok.lstrip("+-").isascii() and tok.lstrip("+-").isdigit() and len(tok) - len(tok.lstrip("+-")) <= 1


def _int_key(tok: str) -> tuple[bool, str]:
    """An integer token (`_is_int_token`) as (negative, digits without leading zeros), equal exactly when the
    integers are. Not int(): Python refuses to parse more than 4300 digits, and a program may print such a number."""
    digits = tok.lstrip("+-").lstrip("0")
    return (tok.startswith("-") and digits != "", digits)  # -0 is 0


def _is_float_token(tok: str) -> bool:
    return FLOAT_TOKEN.fullmatch(tok) is not None


def _token_equal(got: str, want: str) -> bool:
    """An integer answer is exact (a relative tolerance let n*2+1000 pass for 2*10**12): the same integer, or a
    fixed-point `3.0` equal to it (strict mode's Decimal rule accepts that too), never `2_000` or `2.0e+12`. Only
    an expected token with a fraction or exponent gets the float tolerance, against a plain decimal number."""
    if got == want:
        return True
    if _is_int_token(want):
        whole, dot, fraction = got.partition(".")
        return (_is_int_token(whole) and _int_key(whole) == _int_key(want) and (not dot or (fraction.isascii()
                and fraction.isdigit() and not fraction.strip("0"))))
    if _is_float_token(want) and _is_float_token(got):
        return _close(float(got), float(want))
    return False


def tolerant_equal(got: str, expected: str) -> bool:
    lines = _lines(got, expected)
    if lines is None:
        return False
    for a, b in zip(*lines):
        tb = b.split()
        ta = _tokens(a, len(tb))
        if ta is None or len(ta) != len(tb) or not all(_token_equal(x, y) for x, y in zip(ta, tb)):
            return False
    return True


def tolerant_value_equal(got, want) -> bool:
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(got, bool) or isinstance(want, bool):  # a judge prints true, not 1
        return type(got) is type(want) and got == want
    if isinstance(want, int):  # an integer answer is exact, as in _token_equal
        return type(got) is int and got == want
    if isinstance(want, float) and isinstance(got, (int, float)):
        try:
            return got == want or _close(float(got), float(want))
        except OverflowError:  # an int past a float's range (10**400) is no float answer: wrong, not a judge error
            return False
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(tolerant_value_equal(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(tolerant_value_equal(got[k], want[k]) for k in got)
    return got == want
