"""Generated tasks with verified answers, in English and Korean, for SFT (chat rows with or without a reasoning
trace) and RL with verifiable rewards (the integer answer, or unit tests).

Families (math_tasks.py, code_tasks.py) are short on purpose: the consumer is a ~65M-parameter model that has
seen a few minutes of pretraining, so traces are a few dozen tokens and difficulty is a `level` (1-3).

    tasks = generate_tasks(2000, seed=0, levels=(1, 2))
    train, heldout = split_tasks(tasks, heldout_n=200, seed=0)
    write_jsonl("sft.jsonl", [to_chat(t, "think") for t in train])
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from axk1.atomic_file import atomic_writer, write_text_atomic
from axk1.posttrain import code_tasks, math_tasks
from axk1.posttrain.decontam import ReferenceSet, decontaminate, evaluation_texts, load_reference
from axk1.posttrain.task_rows import (WrittenNumber, bad_rows_error, drop_stale_bad_rows, fill_defaults, row_problems,
                                     task_lines)
from axk1.posttrain.task_set import NAMES, publish_tasks, recorded_options, refuse_other_tasks, tasks_lock
from axk1.json_text import json_digest, json_type, parse_json

KINDS = ("math", "code")  # the kinds generated here; rewards.KINDS are those graded (a user's "exact" too)
LANGS = ("en", "ko")
LEVELS = tuple(range(1, math_tasks.MAX_LEVEL + 1))
FAMILIES = {**{name: ("math", make) for name, make in math_tasks.FAMILIES.items()},
            **{name: ("code", make) for name, make in code_tasks.FAMILIES.items()}}
MODES = ("think", "non-think")
# A combination that draws only prompts already taken this many times in a row is used up (some level-1 code
# templates have a handful of distinct prompts: a few function names, no constant).
MAX_REPEATS = 100


@dataclass
class VerifiedTask:
    id: str             # content hash of the other fields: the same task always gets the same id
    family: str         # a key of FAMILIES
    kind: str           # "math" | "code" | "exact" (a user's other answers: exact_grader.py)
    lang: str           # "en" | "ko" (generated; a user's file may name others)
    level: int
    prompt: str         # the user message
    answer: str         # math: the integer, as a string; exact: the text; code: ""
    tests: str          # code: assert statements that call entry_point; math: ""
    entry_point: str    # code: the function's name; math: ""
    reasoning: str      # the short worked trace (reasoning_content in think mode)
    response: str       # the final answer: "... \\boxed{N} ..." or a ```python block

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: Mapping, codec=None) -> "VerifiedTask":
        """A task from a JSON row: missing fields get their defaults (task_rows.DEFAULTS); a row the graders could
        not use is a ValueError saying why (task_rows.row_problems; `codec` also refuses chat control tokens)."""
        task, problems = parse_task(row, codec)
        if problems:
            raise ValueError(f"task {task_id(row)}: {'; '.join(problems)}")
        return task


def parse_task(row: Mapping, codec=None) -> tuple[VerifiedTask | None, list[str]]:
    """(the task, []) for a usable row, else (None, what is wrong with it)."""
    if not isinstance(row, Mapping):
        return None, [f"a JSON {json_type(row)}, not an object: give one task object per line"]
    values = fill_defaults(row)
    problems = row_problems(values, codec, keys=list(row))
    if isinstance(row.get("id"), (list, dict, bool)):  # its Python repr would become the id
        problems.insert(0, f"id is a JSON {json_type(row['id'])}: give a string or a number, or leave it out "
                           "(a content hash is given)")
    if problems:
        return None, problems
    given = _given_id(row)
    return VerifiedTask(id=given if given is not None else content_id(values), **values), []


def _given_id(row: Mapping) -> str | None:
    """The row's own id: 0 is one; null, absent or "" (an export's empty id column: distinct tasks would share
    it) gets the content hash."""
    given = row.get("id")
    return None if given is None or given == "" else str(given)


def task_id(row: object) -> str:
    """The id a row has or would get, for messages about it (a row that is no object has none)."""
    if not isinstance(row, Mapping):
        return "(none)"
    given = _given_id(row)
    return given if given is not None else content_id(fill_defaults(row))


def content_id(values: Mapping) -> str:
    content = [values[k] for k in ("family", "kind", "lang", "level", "prompt", "answer", "tests", "entry_point",
                                   "reasoning", "response")]
    # unsorted: the ids task files already hold; a lone surrogate still gets an id (for the error naming it)
    return json_digest(content, sort_keys=False)[:16]


def prompt_key(prompt: str) -> str:
    """The prompt as compared for duplicates: NFKC, case-folded, whitespace collapsed, end punctuation dropped."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", prompt)).strip().casefold()
    return text.rstrip(".?!。 ")


def problem_key(task: VerifiedTask) -> str:
    """The problem behind the wording, the same in both languages and every phrasing: family, the numbers and the
    quoted names/literals of the prompt (as a multiset: "37 + 45" is "45 + 37"), and the answer."""
    numbers = sorted(re.findall(r"\d+", task.prompt), key=int)
    quoted = sorted(re.findall(r"`[^`]*`|'[^']*'", task.prompt))
    return json.dumps([task.family, numbers, quoted, task.answer])


def _check_choices(what: str, given: Sequence, allowed: Sequence) -> tuple:
    given = tuple(given)
    unknown = [g for g in given if g not in allowed]
    if unknown or not given:
        raise ValueError(f"{what} {unknown or 'empty'}: choose from {', '.join(map(str, allowed))}")
    return given


def generate_tasks(n: int, seed: int = 0, kinds: Sequence[str] = KINDS, langs: Sequence[str] = LANGS,
                   levels: Sequence[int] = (1, 2), families: Sequence[str] | None = None,
                   math_instruction: bool = False) -> list[VerifiedTask]:
    """n tasks with distinct prompts (by prompt_key), the same for the same arguments; each draw picks a kind,
    then a family of that kind, a level and a language, uniformly. The first n tasks of a larger request are
    the same n tasks. `math_instruction` appends the AIME eval's instruction to math prompts (RL prompts then
    read like the benchmark's). Raises ValueError when the combinations run out of distinct prompts."""
    kinds = _check_choices("kinds", kinds, KINDS)
    langs = _check_choices("langs", langs, LANGS)
    levels = _check_choices("levels", levels, LEVELS)
    names = _check_choices("families", families or list(FAMILIES), list(FAMILIES))
    names = [name for name in names if FAMILIES[name][0] in kinds]
    if not names:
        raise ValueError(f"no family of kind {', '.join(kinds)} among {', '.join(families or [])}")
    instructions = {}
    if math_instruction:
        from axk1.eval.tasks.aime import INSTRUCTIONS as instructions
    active = [(FAMILIES[name][0], name, level, lang) for name in names for level in levels for lang in langs]
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        if not active:
            raise ValueError(f"only {len(out)} distinct tasks exist for these kinds, families, levels and languages")
        # choose step by step (kind, family, level, language) so that each kind gets its share however many
        # families or levels it has; lists keep the input order, so the draw does not depend on hashing
        combo = list(active)
        for i in range(4):
            choice = rng.choice(list(dict.fromkeys(c[i] for c in combo)))
            combo = [c for c in combo if c[i] == choice]
        kind, family, level, lang = combo = combo[0]
        for _ in range(MAX_REPEATS):  # redraw the same combination, so duplicates do not shift the mixture
            row = FAMILIES[family][1](rng, level, lang)
            if kind == "math" and math_instruction:
                row["prompt"] = f"{row['prompt']}\n\n{instructions[lang]}"
            key = prompt_key(row["prompt"])
            if key not in seen:
                break
        else:
            active.remove(combo)
            continue
        seen.add(key)
        values = {"family": family, "kind": kind, "lang": lang, "level": level, "tests": "", "entry_point": "",
                  **row}
        out.append(VerifiedTask(id=content_id(values), **values))
    return out


def split_tasks(tasks: Sequence[VerifiedTask], heldout_fraction: float | None = None, heldout_n: int | None = None,
                seed: int = 0) -> tuple[list[VerifiedTask], list[VerifiedTask]]:
    """(train, heldout), input order kept in each. Tasks that share a prompt_key or a problem_key (the same
    problem in the other language or another phrasing) are one group, and a group goes to one side whole, so
    nothing in heldout was seen in training in any wording. Heldout gets exactly heldout_n tasks (or
    round(fraction · len)) unless the groups cannot add up to it (then the most that fits), with each family
    close to its share of the input."""
    if (heldout_fraction is None) == (heldout_n is None):
        raise ValueError("give exactly one of heldout_fraction and heldout_n")
    target = heldout_n if heldout_n is not None else round(heldout_fraction * len(tasks))
    if not 0 <= target <= len(tasks):
        raise ValueError(f"heldout size {target} is outside 0..{len(tasks)}")
    parent = list(range(len(tasks)))  # union-find over task indices

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, task in enumerate(tasks):
        for key in ("p:" + prompt_key(task.prompt), "q:" + problem_key(task)):
            j = first_with.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(tasks)):
        groups.setdefault(root(i), []).append(i)
    order = list(groups.values())  # in order of first member, then shuffled by the seed
    random.Random(seed).shuffle(order)
    # First each family up to its share of the heldout (a few large groups, e.g. all wordings of 3 × 4, would
    # otherwise swing the family mix), then any group that still fits, to reach the target.
    share = {f: target * c / len(tasks) for f, c in Counter(t.family for t in tasks).items()}
    heldout: set[int] = set()
    taken: Counter = Counter()
    for first_pass in (True, False):
        for group in order:
            family = tasks[group[0]].family
            fits = len(heldout) + len(group) <= target and group[0] not in heldout
            if fits and (not first_pass or taken[family] + len(group) <= share[family]):
                heldout.update(group)
                taken[family] += len(group)
    return ([t for i, t in enumerate(tasks) if i not in heldout], [t for i, t in enumerate(tasks) if i in heldout])


def to_chat(task: VerifiedTask, mode: str = "think") -> dict:
    """An OpenAI-style chat row: think mode carries the trace as reasoning_content, non-think mode has none."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: choose think or non-think")
    assistant = {"role": "assistant", "content": task.response}
    if mode == "think":
        assistant["reasoning_content"] = task.reasoning
    return {"messages": [{"role": "user", "content": task.prompt}, assistant]}


# A trace that skips the work (see shortcut_rows).
SHORTCUT = {"en": "Straight to it: {answer}.", "ko": "바로 답하면 {answer}."}


def shortcut_rows(tasks: Sequence[VerifiedTask], share: float, seed: int = 0) -> list[dict]:
    """Think-mode chat rows for a seeded `share` of the math tasks whose trace is the shortcut: the verified answer
    stated at once, as a teacher that "just knows" writes it, or as think mode reads when it borrows non-think
    mode's directness. A model too small to compute the answer in one step imitates the shortcut without its
    accuracy, so the style it starts with decides whether it is right: the flaw RL with verified rewards must find
    (docs/posttraining.md, "The demo's tasks")."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"shortcut share must be in [0, 1], got {share}")
    rng = random.Random(seed)
    rows = []
    for task in tasks:
        if task.kind == "math" and rng.random() < share:
            row = to_chat(task, "think")
            # a user's file may name a language without a shortcut wording: English's
            shortcut = SHORTCUT.get(task.lang, SHORTCUT["en"])
            row["messages"][-1]["reasoning_content"] = shortcut.format(answer=task.answer)
            rows.append(row)
    return rows


def refuse_overwriting_inputs(output: str | Path, inputs: Iterable[str | Path]) -> None:
    """An output that is one of the inputs would be emptied before it is read: refused, as `axk1 merge` does."""
    out = Path(output).resolve()
    for given in inputs:
        if Path(given).resolve() == out:
            raise ValueError(f"the output {output} is also an input ({given}): writing it would erase the input "
                             "before it is read; choose another -o path")


def write_jsonl(path: str | Path, rows: Iterable[VerifiedTask | dict]) -> int:
    """One JSON object per line (tasks as their to_dict), written atomically; returns the number of rows."""
    count = 0
    with atomic_writer(path) as f:
        for row in rows:
            f.write(json.dumps(row.to_dict() if isinstance(row, VerifiedTask) else row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_tasks(path: str | Path, codec=None, budget=None) -> list[VerifiedTask]:
    """The verified tasks of a JSONL (`axk1 posttrain tasks` writes them; a user's own: docs/posttraining.md, "Task
    files"). Every row is checked here (parse_task), so a bad one stops RL, its --dry-run and `posttrain heldout`
    before they start (bad_rows_error). `codec` (the model folder's ChatCodec) also refuses chat control tokens in
    prompts; `budget` (task_length.PromptBudget) a prompt without room in the context for the tokens generated."""
    tasks, rows = _checked_rows(path, codec, budget)
    if rows[2]:
        raise ValueError(bad_rows_error([rows]))
    return tasks


def _checked_rows(path: str | Path, codec, budget) -> tuple[list[VerifiedTask], tuple[str, int, list[str]]]:
    """The file's good tasks, and (path, rows, a line for each bad row)."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"the task file {path} is a folder: give a JSONL of tasks in it, e.g. "
                                f"{Path(path) / 'train.jsonl'} or heldout.jsonl (what `axk1 posttrain tasks` writes)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no task file {path}: give a JSONL of tasks, e.g. one that `axk1 posttrain tasks -o "
                                "DIR` wrote (DIR/train.jsonl or DIR/heldout.jsonl)")
    tasks, bad, n_rows = [], [], 0
    for n, line in enumerate(task_lines(Path(path)), start=1):
        if not line.strip():
            continue
        n_rows += 1
        try:
            row = parse_json(line, parse_float=WrittenNumber)  # an exact answer of 0.75 keeps its digits
        except ValueError as e:
            row, problems = None, [f"not JSON ({e})"]
        else:
            task, problems = parse_task(row, codec)
            if not problems and budget is not None and (too_long := budget.problem(task.prompt)):
                problems = [too_long]
        if problems:
            bad.append(f"  {path}:{n} (task {task_id(row)}): {'; '.join(problems)}")
        else:
            tasks.append(task)
    drop_stale_bad_rows(str(path), len(bad))
    return tasks, (str(path), n_rows, bad)


def read_task_rows(paths: list[str], codec=None, budget=None) -> list[dict]:
    """Verified-task rows (read_tasks' format, checked there) as dicts, from one or more files; the bad rows of
    every file in one error (the first bad file's alone left the next file's for the next try)."""
    tasks, bad = [], []
    for path in paths:
        good, rows = _checked_rows(path, codec, budget)
        tasks += [t.to_dict() for t in good]
        bad.append(rows)
    if any(rows for _, _, rows in bad):
        raise ValueError(bad_rows_error(bad))
    if not tasks:
        raise ValueError(f"no tasks in {paths}")
    return tasks


def build_task_files(out_dir: str | Path, n_train: int, n_heldout: int, seed: int = 0,
                     levels: Sequence[int] = (1, 2), kinds: Sequence[str] = KINDS, langs: Sequence[str] = LANGS,
                     families: Sequence[str] | None = None, math_instruction: bool = False,
                     eval_sets: Mapping[str, ReferenceSet | str | Path | Sequence[str] | None] | None = None,
                     n: int = 13, threshold: float = 0.0, force: bool = False) -> dict:
    """Generates, decontaminates and splits tasks; writes out_dir/train.jsonl, heldout.jsonl (VerifiedTask rows)
    and decontamination.json, as one set (task_set.py; another run's set drawn with other options is refused
    unless `force`). The reference sets are evaluation_texts() (bundled HumanEval; AIME reported "not
    available") updated with eval_sets: name -> a local file ({"aime25": "aime25_en.jsonl", "aime25-ko": ...}),
    texts, or a ReferenceSet; a file given that cannot be read is a ValueError naming it and why. Returns the
    counts and the overlap report, with a "note" saying why when the files hold fewer tasks than asked (too few
    distinct tasks, or groups that cannot add up to the held-out size)."""
    given = {**evaluation_texts(), **(eval_sets or {})}  # HumanEval always; AIME when its file is given
    refs = {name: load_reference(name, value) for name, value in given.items()}  # read once
    for name, value in (eval_sets or {}).items():
        # a file the caller named that cannot be read is an error, not a set reported "not available": the user
        # asked for decontamination against it, and tasks written without it would hold what it was to remove
        if isinstance(value, (str, Path)) and not refs[name].available:
            raise ValueError(f"evaluation set {name}: {refs[name].source.removeprefix('not available: ')}; give a "
                             "readable JSONL file with a problem (or question) field per row, or leave the option "
                             "out to generate without it")
    options = dict(seed=seed, kinds=kinds, langs=langs, levels=levels, families=families,
                   math_instruction=math_instruction)
    recorded = recorded_options(options, n, threshold, n_train, n_heldout, refs)  # a rerun with others is refused
    out = Path(out_dir)
    with tasks_lock(out):  # one run at a time, from the look at what OUT holds to the last rename
        refuse_other_tasks(out, recorded, force)  # before the drawing
        pool = generated = want = n_train + n_heldout
        for _ in range(4):
            # the split keeps a problem's wordings (EN and KO) on one side, so the held-out set can fall short of its
            # size (19 of 20, the train side then 201): draw a larger pool, whose small groups fill it, and leave the
            # pool's extra train tasks out, so both files hold what was asked
            try:
                for _ in range(5):  # a removed task is replaced by drawing further: the first tasks stay the same
                    drawn = generate_tasks(generated, **options)
                    pooled, overlap = decontaminate(drawn, refs, n=n, threshold=threshold)
                    if len(pooled) >= pool:
                        break
                    generated += 2 * (pool - len(pooled))
            except ValueError:  # the combinations ran out of distinct tasks: a larger pool is not to be had
                if pool == want:
                    raise
                break
            tasks, kept, report = drawn, pooled, overlap
            train, heldout = split_tasks(kept[:pool], heldout_n=n_heldout, seed=seed)
            if len(heldout) == n_heldout or len(kept) < pool:
                break
            pool += 4 * (n_heldout - len(heldout))
            generated = max(generated, pool)
        train = train[:n_train]
        removed = sorted({i for r in report.values() for i in r.get("removed_ids", [])})
        summary = {"train": len(train), "heldout": len(heldout), "generated": len(tasks), "removed": len(removed),
                   "by_family": {"train": dict(Counter(t.family for t in train)),
                                 "heldout": dict(Counter(t.family for t in heldout))},
                   "options": recorded, "overlap": report,
                   "files": {key: str(out / name) for key, name in zip(("train", "heldout", "decontamination"), NAMES)}}
        if (len(train), len(heldout)) != (n_train, n_heldout):  # said, not left for the reader to find in the counts
            summary["note"] = (f"{len(train)} train and {len(heldout)} held-out tasks, not the {n_train} and "
                               f"{n_heldout} asked: {len(kept)} distinct tasks were left after decontamination, and "
                               "a problem's wordings (EN and KO) go to one side whole, so the groups could not add up "
                               "to the sizes; allow more levels, families or languages, or ask for fewer")

        def write(folder: Path) -> None:
            write_jsonl(folder / "train.jsonl", train)
            write_jsonl(folder / "heldout.jsonl", heldout)
            write_text_atomic(folder / "decontamination.json", json.dumps(summary, ensure_ascii=False, indent=2))

        publish_tasks(out, write)
    return summary
