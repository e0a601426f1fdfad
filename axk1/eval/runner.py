"""One evaluation run: for each task, load problems, sample n completions each, grade, score, write everything.

Outputs in DIR: samples.jsonl (every prompt, raw output, extracted answer, verdict), results.json, config.json,
report.md and the plots (see axk1.eval.report), replaced as one set (axk1.eval.result_set), one run at a time (DIR's
run lock, axk1.checkpoint.run_lock).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from axk1.eval.backends import Backend, Completion, Request, Sampling, prompt_fills_context
from axk1.eval.completion_store import FILE, CompletionStore
from axk1.eval.contamination import contamination_result, load_found_rows
from axk1.eval.metrics import like_for_like, summarize
from axk1.eval.result_set import publish
from axk1.checkpoint.run_lock import RunLock
from axk1.output_folder import writable_folder
from axk1.text.reasoning import split_reasoning
from axk1.text.tokenizer_file import THINK_CLOSE
from axk1.eval.tasks import TaskOptions, get_task
from axk1.eval.tasks.base import Problem

# requests handed to the backend at once (the backend parallelises inside, and hands back each completion as it
# arrives: kept and counted on the bar then, not at the chunk's end)
CHUNK = 64


@dataclass
class RunSettings:
    model: str
    tasks: list[str]
    n: int = 1
    sampling: Sampling = field(default_factory=Sampling)
    seed: int = 0
    contamination: str | None = None  # a report of `axk1 data contamination -o`: flagged problems scored apart

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"-n (samples per problem) must be >= 1, got {self.n}")
        if not self.tasks:
            raise ValueError("no tasks given; e.g. --tasks aime25,humaneval")


def _sample_requests(problems: list[Problem], n: int, seed: int) -> list[Request]:
    # Sample i of every problem uses seed + i: repeats are reproducible on servers that honour request seeds.
    return [Request(p.messages, seed=seed + i) for p in problems for i in range(n)]


def _generate(backend: Backend, requests: list[Request], sampling: Sampling, desc: str,
              store: CompletionStore | None = None) -> list:
    """The requests' completions: those `store` holds from an earlier run, the rest asked for a chunk at a time
    and kept in `store` as each arrives (the local backends hand back each batch as it ends: a Ctrl-C mid-chunk
    kept nothing of the chunk when they were kept only as it returned)."""
    from tqdm import tqdm

    out = [store.get(r, sampling) if store is not None else None for r in requests]
    todo = [i for i, c in enumerate(out) if c is None]
    with tqdm(total=len(todo), desc=desc, leave=False, disable=len(todo) < 2) as bar:
        drawn = not bar.disable  # (close() sets disable)
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]

            def arrived(j: int, completion) -> None:  # kept as it arrives: a crash or Ctrl-C loses none of it
                out[chunk[j]] = completion
                if store is not None:
                    store.add(requests[chunk[j]], completion, sampling)
                bar.update(1)

            done = backend.generate([requests[i] for i in chunk], sampling, arrived)
            for j, completion in enumerate(done):
                if out[chunk[j]] is None:  # a backend that answered the batch at once
                    arrived(j, completion)
    if drawn and not sys.stderr.isatty():
        # a bar without `leave` ends on a `\r`: in a log file (no terminal) the next line printed, the first task's
        # score, was glued to it
        print(file=sys.stderr, flush=True)
    return out


def _thinking_ignored(name: str, completions: list[Completion], sampling: Sampling) -> str | None:
    """A warning when a thinking-on run got replies none of which left a think block: a server that ignores the
    switch answers at once, and every answer is then read as unfinished thinking (no_answer)."""
    answered = [c for c in completions if not c.error]
    if sampling.thinking is not True or not answered:
        return None
    if any(THINK_CLOSE in c.text or not c.think_open for c in answered):  # a </think>, or a reasoning field
        return None
    return (f"{name}: --thinking on, but none of the {len(answered)} replies ended a think block (no </think>, no "
            "reasoning field), so every answer reads as unfinished thinking. Does the server (or chat template) "
            "honour chat_template_kwargs.enable_thinking (DeepSeek-V3.1's reads `thinking`: see docs/evaluation.md, "
            "\"Protocol\")? Or is --max-tokens too small to finish thinking?")


def _public_meta(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in ("tests", "raw")}


def score(task, problems: list[Problem], records: list[dict], n: int, found: dict | None = None,
          source: str = "") -> dict:
    """The task's scores; with `found` (contamination.load_found_rows of the report at `source`), also the score
    on the problems the training corpus did not hold."""
    by_problem: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        by_problem[record["problem_id"]].append(bool(record["correct"]))
    ks = tuple(sorted({1, n} | ({k for k in (4, 8, 16) if k < n})))
    summary = summarize(by_problem, ks)
    statuses = dict(Counter(r["status"] for r in records))
    # A sample whose request got no reply is no measurement: it counts as wrong in the score, which is therefore
    # marked incomplete (never set beside published numbers, a non-zero exit) until a rerun fills it.
    # A sample refused for its length (too_long) is no measurement either, but the same request is refused again:
    # counted apart, so the advice is to shorten it, not to rerun.
    result = {"score": summary[f"avg@{n}"], "metrics": summary, "statuses": statuses,
              "unanswered": statuses.get("request_failed", 0), "too_long": statuses.get("too_long", 0),
              # ... of which the prompt alone fills the context: the advice is then not to lower --max-tokens
              "too_long_prompt": sum(r["status"] == "too_long" and prompt_fills_context(r.get("error")) for r in records)}
    if found is not None:
        result["contamination"] = contamination_result(found, by_problem, source)
    meta = {p.id: p.meta for p in problems}
    for key in task.group_by:
        groups: dict = defaultdict(dict)
        for pid, values in by_problem.items():
            groups[str(meta[pid][key])][pid] = values
        result.setdefault("groups", {})[key] = {g: summarize(groups[g])[f"avg@{n}"] for g in group_order(groups)}
    result.update(task.extra_scores(problems, records, n))  # a task's own columns (passkey's grid, ...)
    return result


def group_order(names) -> list[str]:
    """A task's group names, numbers in numeric order first (passkey lengths: as text 64 came after 512), then the
    rest as text."""
    def key(name: str):
        try:
            return (0, float(name), name)
        except ValueError:
            return (1, 0.0, name)

    return sorted(names, key=key)


# A sample that got no reply, or was refused for its length, is no measurement: a problem holding one is left out of
# a like-for-like comparison (it counts as wrong in its task's score, which is marked incomplete)
UNMEASURED = ("request_failed", "too_long")


def _measured(records: list[dict]) -> dict[str, list[bool]]:
    """Problem id -> its samples' correctness, for the problems every sample of which was measured."""
    by_problem: dict[str, list[bool]] = defaultdict(list)
    unmeasured = set()
    for record in records:
        by_problem[record["problem_id"]].append(bool(record["correct"]))
        if record["status"] in UNMEASURED:
            unmeasured.add(record["problem_id"])
    return {pid: values for pid, values in by_problem.items() if pid not in unmeasured}


def paired_scores(records_by_task: dict[str, list[dict]]) -> list[dict]:
    """For each task run beside its counterpart (Task.counterpart: lcb-ko beside lcb, aime25-ko beside aime25), the
    two scored on the problems both measured (metrics.like_for_like), with "tasks" ([counterpart, task]), "problems"
    (task -> problems in its set) and "unmeasured" (task -> problems with a sample that got no reply): the rows of
    the two compare like for like only when all of those are the shared ones."""
    pairs = []
    for name, records in records_by_task.items():
        other = get_task(name).counterpart
        if other not in records_by_task:
            continue
        named = (other, name)
        measured = {task: _measured(records_by_task[task]) for task in named}
        problems = {task: len({r["problem_id"] for r in records_by_task[task]}) for task in named}
        pairs.append({"tasks": list(named), **like_for_like(measured), "problems": problems,
                      "unmeasured": {task: problems[task] - len(measured[task]) for task in named}})
    return pairs


def _check_unique_ids(name: str, problems: list[Problem]) -> None:
    # Scores group samples by problem id: two problems under one id would merge (and break avg@n), so refuse here,
    # before any generation is spent.
    seen: dict[str, int] = {}
    for i, problem in enumerate(problems):
        if problem.id in seen:
            raise ValueError(f"{name}: problems {seen[problem.id] + 1} and {i + 1} share the id {problem.id!r}; "
                             "give every problem its own id")
        seen[problem.id] = i


def run_task(name: str, backend: Backend, settings: RunSettings, options: TaskOptions, found: dict | None = None,
             store: CompletionStore | None = None) -> tuple[dict, list[dict]]:
    """(the task's result, its samples' records)."""
    task = get_task(name)
    data = task.load(options)
    _check_unique_ids(name, data.problems)
    requests = _sample_requests(data.problems, settings.n, settings.seed)
    expanded = [p for p in data.problems for _ in range(settings.n)]
    completions = [None if p.unavailable is None else Completion("", "error", error=f"not asked: {p.unavailable}")
                   for p in expanded]
    asked = [i for i, c in enumerate(completions) if c is None]
    start = time.perf_counter()
    got = _generate(backend, [requests[i] for i in asked], settings.sampling, f"{name}: generating", store)
    gen_s = time.perf_counter() - start
    for i, completion in zip(asked, got):
        completions[i] = completion
    unclosed = _thinking_ignored(name, completions, settings.sampling)  # a misconfigured run: its exit is 1 (cli.py)
    warnings = [w for w in [unclosed] if w]
    for warning in warnings:
        print(f"axk1 eval: warning: {warning}", file=sys.stderr, flush=True)
    pairs = list(zip(expanded, completions))
    start = time.perf_counter()
    graded = task.grade_all(pairs, options)
    grade_s = time.perf_counter() - start
    records = []
    for i, ((problem, completion), verdict) in enumerate(zip(pairs, graded)):
        split = split_reasoning(completion.text, completion.think_open)
        record = {"task": name, "problem_id": problem.id, "sample": i % settings.n,
                  "seed": settings.seed + i % settings.n, "messages": problem.messages, "gold": problem.gold,
                  "raw_output": completion.text, "answer": split.answer, "finish_reason": completion.finish_reason,
                  "n_tokens": completion.n_tokens, "meta": _public_meta(problem.meta), **verdict}
        records.append(record)
    result = score(task, data.problems, records, settings.n, found, settings.contamination or "")
    result.update(info=data.info, published=task.published, generation_s=gen_s, grading_s=grade_s,
                  warnings=warnings, thinking_unclosed=unclosed)
    return result, records


def run_eval(backend: Backend, settings: RunSettings, options: TaskOptions, out_dir: str | Path) -> dict:
    """Run every task and write samples.jsonl, results.json, config.json, report.md and plots into out_dir (as
    one set: axk1/eval/result_set.py), holding out_dir's run lock throughout."""
    for name in settings.tasks:
        get_task(name)  # unknown names fail before any work
    found = load_found_rows(settings.contamination) if settings.contamination else None  # and a bad report
    out = Path(out_dir)
    made = writable_folder(out, "-o")  # (a file there is named as one, not "File exists")
    # One run per folder: two at once each asked for every sample, and the one ending last overwrote the other's
    # results without a word. A run that fails leaves neither the lock's nor writable_folder's new folders.
    with RunLock(out, flag="-o", job="evaluation", made=made, harm="would each ask the model for every sample, and "
                 "the one ending last would overwrite the other's results"):
        return _run_locked(backend, settings, options, out, found)


def _say_replaced_tasks(out: Path, tasks: list[str]) -> dict | None:
    """An -o folder's results are one run's set: a run of other tasks there replaces results.json and report.md
    whole, so the earlier tasks' scores leave them. Said before the run (the completions stay, so a run asking for
    every task grades the earlier ones again without sampling them), and returned for the new report to say too
    ({"tasks": the earlier tasks replaced, "keep_both": the --tasks value that keeps them}); None when none is."""
    try:
        earlier = list(json.loads((out / "results.json").read_text(encoding="utf-8"))["tasks"])
    except (OSError, ValueError, KeyError, TypeError):  # none, or not one this version wrote: nothing to say
        return None
    gone = [name for name in earlier if name not in tasks]
    if not gone:
        return None
    both = ",".join(dict.fromkeys([*earlier, *tasks]))
    print(f"{out / 'results.json'} holds the scores of {', '.join(gone)} from an earlier run, which this run's "
          f"results replace (its samples stay in {FILE}): to keep them together, run --tasks {both} "
          "(completions already there are reused, not asked for again), or use another -o", flush=True)
    return {"tasks": gone, "keep_both": both}


def _run_locked(backend: Backend, settings: RunSettings, options: TaskOptions, out: Path, found: dict | None) -> dict:
    from axk1.eval.report import write_report

    config = {"model": settings.model, "backend": backend.describe(), "backend_settings": backend.settings(),
              "tasks": settings.tasks, "n": settings.n,
              "seed": settings.seed, "sampling": asdict(settings.sampling), "options": options.to_dict(),
              "contamination": settings.contamination}
    results: dict = {"tasks": {}, "config": config}
    store = CompletionStore(out, backend.describe())
    if store.torn_bytes:
        print(f"{out / FILE}: dropped a torn last line of {store.torn_bytes:,} bytes (a run cut short mid-write); "
              "its completion is asked for again", flush=True)
    if store.skipped:
        print(f"{out / FILE}: skipped {store.skipped:,} line(s) this version cannot read (left in the file); "
              "their completions are asked for again", flush=True)
    if store.kept:  # a local model's are keyed by its weights' fingerprint; a server's weights cannot be seen here
        unchecked = ("; these weights (a server's, or a hub model's without a commit) cannot be checked from here: "
                     "after changing them, delete it or use another -o" if store.backend.get("weights") is None else "")
        print(f"{out / FILE}: {len(store.kept):,} completions of an earlier run here; those these settings ask for "
              f"again are reused (delete the file to sample afresh{unchecked})", flush=True)
    replaced = _say_replaced_tasks(out, settings.tasks)
    if replaced:  # report.md says it too: the earlier scores are no longer in this folder's results
        config["replaced_tasks"] = replaced
    records: list[dict] = []
    records_by_task: dict[str, list[dict]] = {}
    for name in settings.tasks:
        results["tasks"][name], records_by_task[name] = run_task(name, backend, settings, options, found, store)
        records += records_by_task[name]
    results["pairs"] = paired_scores(records_by_task)
    config["reused_completions"] = store.reused
    config["tasks_info"] = {name: r["info"] for name, r in results["tasks"].items()}

    def write(folder: Path) -> None:
        (folder / "samples.jsonl").write_text("".join(json.dumps(record, ensure_ascii=False, default=str) + "\n"
                                                      for record in records), encoding="utf-8")
        for name, value in (("config.json", config), ("results.json", results)):
            (folder / name).write_text(json.dumps(value, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        write_report(folder, results)

    # Whole or not at all, and only once the run is done: a run cut short leaves the last run's samples, results
    # and report together (what it got is in completions.jsonl, for the rerun).
    publish(out, write)
    return results
