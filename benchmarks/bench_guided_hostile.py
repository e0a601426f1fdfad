"""What a small but costly constraint does to `axk1 serve`, and what llguidance's limits cost ordinary grammars.

--server URL: a free stream's ms/token (and its longest wait for a token, the first included) alone, then beside
each hostile constrained request of HOSTILE, sent just before it (a server over a model folder with a tokenizer,
e.g. `axk1 serve <axk1-tiny folder> --port 18461 --max-batch 8`). Before the limits, such a request held the
engine thread for its masks, every other stream waiting.

--tokenizer PATH: each grammar of HOSTILE and ORDINARY compiled over that tokenizer.json, with llguidance's default
limits and with the server's (axk1/infer/guided.py's LIMITS): compile time, first mask, the slowest later mask
and the steps taken in a random walk of --steps tokens, never a special one (or the error that ended it).

    python benchmarks/bench_guided_hostile.py --server http://127.0.0.1:18461
    python benchmarks/bench_guided_hostile.py --tokenizer path/to/tokenizer.json [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LARK40 = "start: " + " | ".join(f"/(c{{1000}}){{{200 + i}}}/" for i in range(40))
AMBIGUOUS = 'start: s\ns: s s | s s s | "a" | "aa" | "b"'
# (name, request fields): each a few to a few hundred characters
HOSTILE = [
    ("regex (a{1000}){300} n=1", {"guided_regex": "(a{1000}){300}", "max_tokens": 200, "ignore_eos": True}),
    ("regex (a{1000}){300} n=7", {"guided_regex": "(a{1000}){300}", "max_tokens": 40, "ignore_eos": True, "n": 7}),
    ("lark 40 x /(c{1000}){2xx}/ n=4", {"guided_grammar": LARK40, "max_tokens": 3, "n": 4}),
    ("regex (x{10}(a{100}){30}y){5} n=7", {"guided_regex": "(x{10}(a{100}){30}y){5}", "max_tokens": 100, "n": 7}),
]


def _post(base: str, body: dict) -> tuple[int, float]:
    request = urllib.request.Request(base + "/v1/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    start = time.time()
    try:
        with urllib.request.urlopen(request, timeout=600) as r:
            r.read()
            return r.status, time.time() - start
    except urllib.error.HTTPError as e:
        return e.code, time.time() - start


def _free_stream(base: str, n: int) -> tuple[float, float]:
    body = {"prompt": "Hi", "max_tokens": n, "ignore_eos": True, "stream": True, "temperature": 0}
    request = urllib.request.Request(base + "/v1/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    start = last = time.time()
    gaps = []
    with urllib.request.urlopen(request) as r:
        for line in r:
            if line.startswith(b"data: {"):
                now = time.time()
                gaps.append(now - last)
                last = now
    return (time.time() - start) * 1000 / len(gaps), max(gaps) * 1000


def server(base: str) -> None:
    ms, wait = _free_stream(base, 60)
    print(f"alone: {ms:.1f} ms/token (longest wait {wait:.0f} ms)")
    for name, fields in HOSTILE:
        result = []
        thread = threading.Thread(target=lambda: result.append(
            _post(base, {"prompt": "Hello", "temperature": 1.0, "seed": 3, **fields})))
        thread.start()
        time.sleep(0.05)
        ms, wait = _free_stream(base, 30 if fields.get("n") == 7 and "ignore_eos" in fields else 100)
        thread.join()
        status, seconds = result[0]
        print(f"{name}: free stream {ms:.1f} ms/token (longest wait {wait:.0f} ms); "
              f"the constrained request: HTTP {status} in {seconds:.2f} s", flush=True)


def masks(tokenizer_path: str, steps: int) -> None:
    import llguidance
    import numpy as np
    import tokenizers

    from axk1.infer.guided import LIMITS
    from axk1.infer.guided_request import JSON_OPTIONS

    tok = tokenizers.Tokenizer.from_file(tokenizer_path)
    V = tok.get_vocab_size()
    lt = llguidance.LLTokenizer(tok.to_str(), n_vocab=V)
    js = lambda s: llguidance.LLMatcher.grammar_from_json_schema(s, defaults=JSON_OPTIONS)  # noqa: E731
    rx = llguidance.LLMatcher.grammar_from_regex
    grammars = {
        "regex (a{1000}){300}": rx("(a{1000}){300}"), "lark 40 x /(c{1000}){2xx}/": LARK40,
        "regex (x{10}(a{100}){30}y){5}": rx("(x{10}(a{100}){30}y){5}"), "ambiguous lark": AMBIGUOUS,
        "schema: 300 properties": js({"type": "object", "properties": {
            f"field_{i}": {"type": "integer"} for i in range(300)}, "additionalProperties": False}),
        "schema: 20 email + 20 date-time": js({"type": "object", "properties": {
            **{f"e{i}": {"type": "string", "format": "email"} for i in range(20)},
            **{f"d{i}": {"type": "string", "format": "date-time"} for i in range(20)}}}),
        "schema: 1,000-value enum": js({"enum": [f"value number {i}" for i in range(1000)]}),
        "schema: strings of 5,000 chars": js({"type": "object", "properties": {
            "t": {"type": "string", "maxLength": 5000}}, "required": ["t"]}),
        "schema: any object": js({"type": "object"}),
        "choice of 1,900": llguidance.LLMatcher.grammar_from_lark(
            "start: " + " | ".join(json.dumps(f"option {i}") for i in range(1900))),
        "regex [a-z ]*a[a-z ]{40}": rx("[a-z ]*a[a-z ]{40}"),
    }
    for label, limits in (("llguidance's defaults", {}), (f"the server's LIMITS {LIMITS}", LIMITS)):
        print(f"== {label}")
        for name, grammar in grammars.items():
            rng = random.Random(0)
            start = time.perf_counter()
            m = llguidance.LLMatcher(lt, grammar if grammar.startswith("{") else
                                     llguidance.LLMatcher.grammar_from_lark(grammar),
                                     log_level=0, limits=llguidance.LLParserLimits(**limits))
            compile_ms, times, taken = (time.perf_counter() - start) * 1000, [], 0
            while not m.is_error() and taken < steps and not m.is_stopped():
                t = time.perf_counter()
                bits = np.unpackbits(np.frombuffer(m.compute_bitmask(), dtype=np.uint8), bitorder="little")[:V]
                times.append((time.perf_counter() - t) * 1000)
                allowed = [t for t in np.flatnonzero(bits).tolist() if not lt.is_special_token(t)]  # no eos: walk on
                if m.is_error() or not allowed or not m.consume_token(rng.choice(allowed)):
                    break
                taken += 1
            error = m.get_error().replace("<non-verbose/>", "").splitlines()[0][:70] if m.is_error() else ""
            print(f"{name:32s} compile {compile_ms:6.1f} ms, first mask {times[0] if times else 0:7.1f} ms, "
                  f"slowest later {max(times[1:], default=0):7.1f} ms, {taken:3d} steps {error}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="base URL of a running axk1 serve")
    parser.add_argument("--tokenizer", help="a tokenizer.json to measure llguidance's masks over")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    if args.server:
        server(args.server.rstrip("/"))
    if args.tokenizer:
        masks(args.tokenizer, args.steps)
    if not (args.server or args.tokenizer):
        parser.error("give --server, --tokenizer or both")


if __name__ == "__main__":
    main()
