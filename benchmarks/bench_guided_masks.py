"""What structured outputs cost per request and per step over a given vocabulary: the server's own code path
(axk1/infer/guided.py) without a model.

For each grammar of GRAMMARS: `Guide.compile` (llguidance's compile plus the server's trial of the first steps;
wall clock and the calling thread's CPU, which the server's budget counts) and llguidance's compile alone; then
--rows choices of it walk --steps tokens: each step random logits [rows, V] go through `mask_guided` (llguidance's
masks on its threads, the bits unpacked, the logits masked), the argmax is taken (a uniformly random allowed token)
and fed to each choice's matcher with `GuidedSequence.follow`. Reported per step, median and slowest, wall clock and
CPU time (all threads': on a shared machine the less noisy figure): llguidance's masks alone (the call mask_guided
makes, timed in one walk) and `mask_guided` whole (in a second walk of the same tokens: each walk computes a step's
masks once, as the engine does, since a second computation finds llguidance's caches warm), and `follow` for the
rows. When all the choices have ended (the grammar complete, or an eos it allowed) they start again.

    python benchmarks/bench_guided_masks.py [--tokenizer /tmp/axk1_tok163k] [--rows 8] [--steps 200]

Without --tokenizer: the 512-token test tokenizer of tests/serve_helpers.py (the engine benchmarks' default).
benchmarks/build_tokenizer_163k.py builds a 163,840-entry one.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llguidance
import torch

from axk1.infer.guided import Guide, _mask_executor, mask_guided
from axk1.infer.guided_request import JSON_OPTIONS

# an order as an application would ask for it: nested objects, an array of objects, enums, formats, patterns, bounds
ORDER = {"type": "object", "additionalProperties": False, "required": ["order_id", "customer", "items", "status"],
         "properties": {
             "order_id": {"type": "string", "pattern": "^ORD-[0-9]{6}$"},
             "customer": {"type": "object", "additionalProperties": False, "required": ["name", "email"],
                          "properties": {"name": {"type": "string", "maxLength": 80},
                                         "email": {"type": "string", "format": "email"},
                                         "address": {"type": "object", "properties": {
                                             "street": {"type": "string"}, "city": {"type": "string"},
                                             "postal_code": {"type": "string", "pattern": "^[0-9]{5}$"},
                                             "country": {"enum": ["KR", "US", "JP", "DE", "FR"]}}}}},
             "items": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
                 "type": "object", "additionalProperties": False, "required": ["sku", "quantity", "unit_price"],
                 "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1},
                                "unit_price": {"type": "number", "minimum": 0},
                                "tags": {"type": "array", "items": {"enum": ["gift", "fragile", "sale"]}}}}},
             "status": {"enum": ["pending", "paid", "shipped", "delivered", "cancelled"]},
             "notes": {"type": "string", "maxLength": 500},
             "created_at": {"type": "string", "format": "date-time"}}}
SQL = r"""
start: "SELECT " cols " FROM " NAME (" WHERE " cond)? (" ORDER BY " NAME (" ASC" | " DESC")?)? (" LIMIT " INT)? ";"
cols: "*" | NAME (", " NAME)*
cond: NAME OP value (" AND " NAME OP value)*
value: INT | "'" /[^']{0,40}/ "'"
OP: " = " | " < " | " > " | " <> "
NAME: /[a-z_][a-z0-9_]{0,30}/
INT: /[0-9]{1,9}/
"""


def _lark(text: str) -> str:
    return llguidance.LLMatcher.grammar_from_lark(text)


def grammars() -> dict[str, str]:
    """(name, llguidance grammar), built as guided_request.py builds each field's."""
    js = lambda s: llguidance.LLMatcher.grammar_from_json_schema(s, defaults=JSON_OPTIONS)  # noqa: E731
    return {
        "json_schema: nested order": js(ORDER),
        "json_object (any object)": js({"type": "object"}),
        "regex: date": llguidance.LLMatcher.grammar_from_regex(
            r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"),
        "regex: ko/en sentence <=300 chars": llguidance.LLMatcher.grammar_from_regex(r"[가-힣A-Za-z0-9 ,.?!]{1,300}"),
        "choice: 5 labels": _lark("start: " + " | ".join(json.dumps(c) for c in
                                                          ["positive", "negative", "neutral", "mixed", "긍정"])),
        "choice: 1,900 options": _lark("start: " + " | ".join(json.dumps(f"option {i}") for i in range(1900))),
        "choice: 2,000 options": _lark("start: " + " | ".join(json.dumps(f"option {i}") for i in range(2000))),
        "grammar: SQL select (Lark)": _lark(SQL),
    }


def _walk(guide: Guide, constraint, rows: int, steps: int, V: int, llguidance_alone: bool) -> dict[str, list]:
    """Per step, `steps` steps of `rows` choices of `constraint`, its choices started again each time they have all
    ended (a short grammar, a date, is walked many times over): {"mask": [wall ms], "mask_cpu": [CPU ms, all threads],
    "follow": [wall ms]}. `llguidance_alone`: "mask" times llguidance's masks only (the call mask_guided makes, into a
    scratch buffer), then mask_guided runs untimed (its masks then found in llguidance's caches); else mask_guided
    whole, as the engine runs it. The same seed walks the same tokens either way."""
    seqs, times = [], {"mask": [], "mask_cpu": [], "follow": [], "walks": [0]}
    W = (V + 31) // 32
    scratch = torch.zeros(rows, W, dtype=torch.int32)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        live = [s for s in seqs if s.guide is not None]
        if not live:
            seqs = [Row(constraint.start()) for _ in range(rows)]
            live, times["walks"][0] = seqs, times["walks"][0] + 1
        logits = torch.rand(len(live), V, generator=gen)
        t, cpu = time.perf_counter(), time.process_time()  # CPU: every thread's, llguidance's pool and torch's
        if llguidance_alone:
            _mask_executor().unsafe_compute_mask_ptr([(s.guide.matcher, i) for i, s in enumerate(live)],
                                                     scratch.data_ptr(), W * 4, len(live))
        else:
            mask_guided(live, logits)
        times["mask"].append((time.perf_counter() - t) * 1000)
        times["mask_cpu"].append((time.process_time() - cpu) * 1000)
        if llguidance_alone:
            mask_guided(live, logits)
        tokens = logits.argmax(dim=-1).tolist()
        t = time.perf_counter()
        for s, token in zip(live, tokens):
            if s.guide.ends_at(token) or s.guide.follow(token) is not None:
                s.guide = None
        times["follow"].append((time.perf_counter() - t) * 1000)
    return times


class Row:
    def __init__(self, guide) -> None:
        self.guide = guide


def _figures(guide: Guide, constraint, rows: int, steps: int, V: int) -> dict:
    """Median and slowest ms a step: llguidance's masks alone and mask_guided whole (wall clock and CPU), follow."""
    alone = _walk(guide, constraint, rows, steps, V, llguidance_alone=True)
    whole = _walk(guide, constraint, rows, steps, V, llguidance_alone=False)
    pair = lambda v: [round(statistics.median(v), 3), round(max(v), 3)]  # noqa: E731
    return {"steps": len(whole["mask"]), "walks": whole["walks"][0], "llguidance_mask_ms": pair(alone["mask"]),
            "llguidance_mask_cpu_ms": pair(alone["mask_cpu"]), "mask_guided_ms": pair(whole["mask"]),
            "mask_guided_cpu_ms": pair(whole["mask_cpu"]), "follow_ms": pair(whole["follow"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", help="a folder with tokenizer.json (default: the 512-token test tokenizer)")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch's threads (llguidance's pool is its own)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.tokenizer:
        from axk1.text.tokenizer_file import load_tokenizer
        tokenizer = load_tokenizer(Path(args.tokenizer) / "tokenizer.json")
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from serve_helpers import train_tokenizer
        tokenizer = train_tokenizer(512)
    V = tokenizer.get_vocab_size()
    eos = tokenizer.token_to_id("<|im_end|>")
    start = time.perf_counter()
    guide = Guide(tokenizer, V, [eos], tokenizer.token_to_id("</think>"))
    report = {"vocab": V, "rows": args.rows, "guide_build_s": round(time.perf_counter() - start, 2), "grammars": []}
    for name, grammar in grammars().items():
        t = time.perf_counter()
        llguidance.LLMatcher(guide.tokenizer, grammar, log_level=0)
        ll_compile = (time.perf_counter() - t) * 1000
        t, cpu = time.perf_counter(), time.thread_time()
        try:
            constraint = guide.compile(grammar, name)
        except ValueError as e:
            constraint, refused = None, {"refused": str(e)[:200]}
        compile_ms, compile_cpu_ms = (time.perf_counter() - t) * 1000, (time.thread_time() - cpu) * 1000
        walked = _figures(guide, constraint, args.rows, args.steps, V) if constraint else refused
        report["grammars"].append({"grammar": name, "llguidance_compile_ms": round(ll_compile, 2),
                                   "guide_compile_ms": round(compile_ms, 2),
                                   "guide_compile_thread_cpu_ms": round(compile_cpu_ms, 2), **walked})
        print(json.dumps(report["grammars"][-1], ensure_ascii=False), flush=True)
    report["machine"] = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, " \
                        f"llguidance {getattr(llguidance, '__version__', '?')}"
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
