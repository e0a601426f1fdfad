"""math-verify in its own process (run as a script by axk1.eval.math_grader; imports nothing from axk1).

math-verify times out with signal.alarm, which only works in a main thread, and can hang on huge powers, so it
runs here: one JSON request per stdin line {"pred": text, "gold": text}, one JSON reply per stdout line
{"parsed": str or null, "value": str or null, "correct": bool}; or {"rational": text} (a gold answer), replied
{"rational": "p/q" or null}: its exact value when that is a rational number. The parent (math_verify_client.py)
kills and restarts us on a hang.
"""

import json
import signal
import sys

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

CONFIG = [LatexExtractionConfig(boxed_match_priority=50), ExprExtractionConfig()]


def grade(pred: str, gold: str) -> dict:
    gold_parsed = parse(gold, extraction_config=CONFIG, parsing_timeout=5, raise_on_error=False)
    parsed = parse(pred, extraction_config=CONFIG, fallback_mode="first_match", extraction_mode="first_match",
                   parsing_timeout=5, raise_on_error=False)
    if not parsed:
        return {"parsed": None, "value": None, "correct": False}
    correct = bool(verify(gold_parsed, parsed, float_rounding=6, numeric_precision=15, strict=True,
                          timeout_seconds=5, raise_on_error=False))
    return {"parsed": str(parsed[-1]), "value": str(parsed[0]), "correct": correct}


def _timeout(signum, frame):
    raise TimeoutError("simplify took too long")


def rational(text: str) -> dict:
    """`2^{-2}` -> "1/4", `\\sqrt{4}` -> "2", `1.5` -> "3/2"; null for `\\sqrt{2}`, `\\pi`, `x+1` or what is not read.
    A decimal in the text is exact (nsimplify with rational=True reads 1.5 as 3/2, not as a float)."""
    parsed = parse(f"${text}$", extraction_config=CONFIG, parsing_timeout=5, raise_on_error=False)
    expr = parsed[0] if parsed else None
    if not isinstance(expr, sympy.Expr):
        return {"rational": None}
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(5)
    try:
        value = sympy.simplify(sympy.nsimplify(expr, rational=True))
    finally:
        signal.alarm(0)
    return {"rational": str(value) if value.is_Rational else None}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = rational(request["rational"]) if "rational" in request else grade(request["pred"], request["gold"])
        except Exception as e:  # noqa: BLE001 - one bad input must not end the worker
            reply = {"parsed": None, "value": None, "correct": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
