"""math-verify in its own process (run as a script by axk1.eval.math_grader; imports nothing from axk1).

math-verify times out with signal.alarm, which only works in a main thread, and can hang on huge powers, so it
runs here: one JSON request per stdin line {"pred": text, "gold": text}, one JSON reply per stdout line
{"parsed": str or null, "value": str or null, "correct": bool}. The parent kills and restarts us on a hang.
"""

import json
import sys

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


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = grade(request["pred"], request["gold"])
        except Exception as e:  # noqa: BLE001 - one bad input must not end the worker
            reply = {"parsed": None, "value": None, "correct": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
