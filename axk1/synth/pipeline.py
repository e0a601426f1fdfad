"""`axk1 data synth`: documents → passages → teacher requests (concurrent, cached) → samples → checks → files.

Accounting: every document is used, or excluded with a reason; every request is answered (from the cache or
the teacher) or failed with a reason; every answer is a generated sample, kept or rejected with a reason
(generated = kept + rejected). Results are processed in job order, not arrival order, so reruns give the same
files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import zlib
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from axk1.file_set import publish_set
from axk1.checkpoint.run_lock import RunLock
from axk1.synth.documents import looks_like_math, read_documents, split_passages
from axk1.synth.filters import Decontaminator, SampleFilter, cut_reply, encoding_problem, reply_problem
from axk1.synth.formats import chat_messages, parse_reply
from axk1.synth.recipe import SynthRecipe, TaskConfig
from axk1.synth.progress import Progress
from axk1.synth.teacher import (ResponseCache, Teacher, TeacherReply, bounded, capped, ends_the_run, inline_reasoning,
                                 worth_caching)
from axk1.text.contamination import BUILTIN
from axk1.text.side_files import SYNTH_CACHE_SUFFIX, synth_side_paths

LANGUAGE_NAMES = {"ko": "Korean", "en": "English"}


@dataclass
class Job:
    doc_id: str
    passage_index: int
    passage: str
    task: TaskConfig
    language: str
    prompt: str
    seed: int


@dataclass
class SynthSummary:
    documents: int = 0
    documents_used: int = 0
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> documents
    passages_dropped: dict[str, int] = field(default_factory=dict)  # reason -> passages of used documents
    requests: int = 0
    sent: int = 0
    cache_hits: int = 0
    # cached replies stored cut under a lower [teacher] max_reply_chars than this run's: asked again (in `sent`)
    reasked_longer_cap: int = 0
    failed: int = 0
    first_failure: str = ""  # the first failed request's reason, which the CLI shows when every one failed
    generated: int = 0
    kept: int = 0
    rejected: int = 0
    by_task: dict[str, dict[str, int]] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)  # check -> samples
    outputs: dict[str, str] = field(default_factory=dict)
    # every request failed: the earlier run's files were left as they were (not emptied), the failures written to
    # OUT.latest.failed.jsonl
    kept_previous: bool = False

    def table(self) -> str:
        lines = [f"{'task':<16}{'requests':>9}{'failed':>8}{'generated':>11}{'kept':>7}{'rejected':>10}"]
        for name, c in self.by_task.items():
            lines.append(f"{name:<16}{c['requests']:>9}{c['failed']:>8}{c['generated']:>11}{c['kept']:>7}{c['rejected']:>10}")
        lines.append(f"{'total':<16}{self.requests:>9}{self.failed:>8}{self.generated:>11}{self.kept:>7}{self.rejected:>10}")
        lines.append(f"documents: {self.documents} read, {self.documents_used} used, "
                     + (", ".join(f"{n} excluded ({r})" for r, n in self.excluded.items()) or "none excluded"))
        if self.passages_dropped:
            lines.append("passages dropped: " + ", ".join(f"{n} {r}" for r, n in self.passages_dropped.items()))
        lines.append(f"teacher: {self.sent} requests sent, {self.cache_hits} answered from the cache"
                     + (f" ({self.reasked_longer_cap} cached replies stored cut under a lower [teacher] max_reply_chars"
                        " asked again)" if self.reasked_longer_cap else ""))
        if self.rejections:
            lines.append("rejected by check: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejections.items())))
        return "\n".join(lines)


def _seed(base: int, *parts: object) -> int:
    return (base + zlib.crc32("|".join(map(str, parts)).encode())) % (2**31)


def _task_applies(task: TaskConfig, domain: str | None, passage: str) -> bool:
    if not task.domains:
        return True
    return domain in task.domains or (task.math_heuristic and looks_like_math(passage))


def plan_jobs(documents: Path, recipe: SynthRecipe, summary: SynthSummary, limit: int | None = None,
              excluded_items: list[dict] | None = None) -> list[Job]:
    """The requests for every usable document; each unusable one is counted under its reason (summary.excluded)
    and, when `excluded_items` is given, listed there with its line (the .excluded.jsonl file)."""
    jobs: list[Job] = []
    excluded: Counter = Counter()
    dropped: Counter = Counter()

    def exclude(line: int, doc_id: str | None, reason: str, detail: str) -> None:
        excluded[reason] += 1
        if excluded_items is not None:
            excluded_items.append({"file": str(documents), "line": line, "doc_id": doc_id, "reason": reason,
                                   "detail": detail})

    for n, doc, problem in read_documents(documents):
        if limit is not None and summary.documents >= limit:
            break
        summary.documents += 1
        if doc is None:
            exclude(n, None, problem.split(":", 1)[0], problem)
            continue
        left_out: Counter = Counter()
        passages = split_passages(doc.text, recipe.passages, left_out)
        if not passages:
            reason = f"no passage of {recipe.passages.min_chars}+ chars"
            exclude(n, doc.id, reason, f"{documents}:{n}: {len(doc.text)} chars of text")
            continue
        before = len(jobs)
        for i, passage in enumerate(passages):
            for task in recipe.tasks:
                if not _task_applies(task, doc.domain, passage):
                    continue
                for lang in dict.fromkeys(doc.language if lang == "auto" else lang for lang in task.languages):
                    if lang not in task.prompt_texts:
                        continue  # no prompt in that language for this task
                    # the passage goes in last: a document quoting "{audience}" must reach the teacher unchanged
                    prompt = (task.prompt_texts[lang].replace("{audience}", task.audience.get(lang, ""))
                              .replace("{language}", LANGUAGE_NAMES[lang]).replace("{passage}", passage))
                    jobs.append(Job(doc.id, i, passage, task, lang, prompt,
                                    _seed(recipe.teacher.seed, doc.id, i, task.name, lang)))
        if len(jobs) == before:
            exclude(n, doc.id, "no task applies (domain or language)",
                    f"{documents}:{n}: domain {doc.domain!r}, language {doc.language!r}")
        else:
            summary.documents_used += 1
            dropped += left_out  # an excluded document's pieces are counted under its reason, not again here
    summary.excluded = dict(excluded)
    summary.passages_dropped = dict(dropped)
    return jobs


async def _answer(jobs: list[Job], teacher: Teacher, cache: ResponseCache, concurrency: int, progress: bool,
                  summary: SynthSummary) -> list[tuple[TeacherReply | None, str | None]]:
    """One (reply, error) per job, in job order. Cached replies cost no request, not even a model listing."""
    if not teacher.model:
        teacher.model = cache.remembered_model(teacher.base_url) or ""
    cap = teacher.spec.max_reply_chars

    def lookup():
        """The cached replies under this run's cap (None where missing), and the missing jobs' indices."""
        keys = [cache.key(teacher.request(j.prompt, j.seed, j.task.thinking)) for j in jobs]
        stored = [cache.get(k) for k in keys]
        results = [(None if reply is None else capped(reply, cap), None) for reply in stored]
        missing = [i for i, (reply, _) in enumerate(results) if reply is None]
        summary.cache_hits = len(jobs) - len(missing)
        summary.reasked_longer_cap = sum(1 for i in missing if stored[i] is not None)
        return keys, results, missing

    keys, results, missing = lookup()
    if not missing:
        return results
    if not teacher.spec.model:  # ask the server which model it serves, then key the misses by it
        teacher.model = ""
        await teacher.resolve_model()
        cache.remember_model(teacher.base_url, teacher.model)
        keys, results, missing = lookup()

    stop: list[str] = []  # a reply every later request would get too (ends_the_run): none more is sent

    async def one(i: int):
        if stop:
            return i, None, f"not sent: an earlier request got {stop[0]}", False
        request = teacher.request(jobs[i].prompt, jobs[i].seed, jobs[i].task.thinking)
        try:  # a malformed reply (teacher.checked) or one the cache cannot store fails this job, not the run
            reply = await teacher.ask(request)
            if worth_caching(reply):
                cache.put(keys[i], reply)
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            if ends_the_run(e) and not stop:
                stop.append(f"{reason.rstrip('.')} (a 404: the server serves no such model, --teacher-model or "
                            "[teacher] model, or no such endpoint, --teacher; every request would get it)")
            return i, None, reason, True
        return i, reply, None, True

    with Progress(len(missing), progress) as bar:
        async for i, reply, error, sent in bounded(concurrency, (lambda i=i: one(i) for i in missing)):
            summary.sent += sent
            results[i] = (reply, error)
            bar.update()
    return results


def _sample(job: Job, reply: TeacherReply, teacher: Teacher, recipe: SynthRecipe) -> tuple[dict, str | None]:
    parsed = parse_reply(job.task.kind, reply.content, reply.reasoning)
    sample = {
        "id": hashlib.sha1(f"{job.doc_id}|{job.passage_index}|{job.task.name}|{job.language}".encode()).hexdigest()[:16],
        "text": parsed.text, "task": job.task.name, "kind": job.task.kind, "language": job.language,
        "fields": parsed.fields,
        "source": {"doc_id": job.doc_id, "passage_index": job.passage_index, "passage_chars": len(job.passage)},
        "metadata": {"teacher": teacher.base_url, "model": teacher.model, "prompt_id": f"{job.task.name}.{job.language}",
                     "prompt_file": job.task.prompts[job.language].name,
                     "prompt_sha": hashlib.sha1(job.task.prompt_texts[job.language].encode()).hexdigest()[:12],
                     "style": job.task.audience.get(job.language) or job.task.kind, "seed": job.seed,
                     "temperature": recipe.teacher.temperature, "thinking": job.task.thinking,
                     "finish_reason": reply.finish_reason, "usage": reply.usage},
    }
    messages = chat_messages(job.task.kind, parsed.fields) if parsed.error is None else None
    if messages:  # the same sample as a chat row, which `axk1 sft` reads (a pretraining reader takes the text)
        sample["messages"] = messages
    return sample, parsed.error


COMPRESSED_SUFFIXES = (".gz", ".zst", ".bz2", ".xz", ".zip")


def output_paths(output: Path, cache_path: str | Path | None = None) -> dict[str, Path]:
    """Every file a run writes: the kept samples and the side files beside them, and the response cache."""
    # the side files' names are the ones every reader of a folder passes over (axk1/text/side_files.py)
    return {"kept": output, **synth_side_paths(output),
            "cache": Path(cache_path) if cache_path else output.with_name(output.name + SYNTH_CACHE_SUFFIX)}


def check_outputs(paths: dict[str, Path], inputs: list[Path]) -> None:
    """Before any work: no output may be an input (`-o docs.jsonl` would empty the documents) or another output,
    and the kept file must be plain JSONL under a plain name (it is not compressed)."""
    kept = paths["kept"]
    if kept.suffix.lower() in COMPRESSED_SUFFIXES:
        raise ValueError(f"-o {kept}: samples are written as plain JSONL; name it e.g. {kept.with_suffix('')} "
                         "and compress it afterwards")
    if kept.is_dir():
        raise IsADirectoryError(f"-o {kept} is a folder: give the JSONL file to write, e.g. {kept / 'synth.jsonl'}")
    seen: dict[Path, str] = {}
    for what, path in paths.items():
        resolved = path.resolve()
        if resolved in seen:
            raise ValueError(f"the {what} file and the {seen[resolved]} file would both be {path}: choose another "
                             "-o or --cache")
        seen[resolved] = what
    for source in inputs:
        if source.resolve() in seen:
            raise ValueError(f"the {seen[source.resolve()]} output {source} is an input of this run; writing it "
                             "would destroy it: choose another -o (or --cache)")


# a run's files, replaced as one set (file_set.publish_set); not the cache, which every reply is written to at once
PUBLISHED = ("kept", "rejected", "failed", "excluded", "summary", "latest_failed")


def _staging(output: Path) -> str:
    """The staging folder (file_set.publish_set) of the run writing `output`, in its folder: one per kept file, as
    the run lock is, and hidden, as the data sources pass over such folders."""
    return f".{output.name}.synth-staging"


def run_synth(documents: str | Path, recipe: SynthRecipe, teacher_url: str, output: str | Path,
              cache_path: str | Path | None = None, api_key: str | None = None, extra_benchmarks: list[str] = (),
              limit: int | None = None, progress: bool = True) -> SynthSummary:
    output, documents = Path(output), Path(documents)
    paths = output_paths(output, cache_path)
    spec = recipe.filters
    sources = list(spec.benchmarks) + [str(Path(b).resolve()) for b in extra_benchmarks]
    inputs = [documents] + [task.prompts[lang] for task in recipe.tasks for lang in task.prompts]
    inputs += [recipe.path.parent / b for b in sources if b != BUILTIN] + ([recipe.path] if recipe.path else [])
    check_outputs(paths, inputs)
    output.parent.mkdir(parents=True, exist_ok=True)
    # one run at a time on an output and on a cache: two at once each paid for every request, and the one ending
    # last replaced the other's files
    with synth_locks(paths["kept"], paths["cache"]):
        return _run_locked(documents, recipe, teacher_url, paths, sources, api_key, limit, progress)


def synth_locks(output: Path, cache: Path) -> ExitStack:
    """The run locks (axk1/checkpoint/run_lock.py) on the kept file and on the cache, each a lock file beside it,
    taken in one order (resolved paths) that every run follows."""
    stack = ExitStack()
    flags = {output.resolve(): (output, "-o"), cache.resolve(): (cache, "--cache")}
    try:
        for resolved in sorted(flags):
            path, flag = flags[resolved]
            stack.enter_context(RunLock(path.parent, flag=flag, job="`axk1 data synth` run", file=path.name,
                                        harm="would each pay for every request, and the one ending last would "
                                        "replace the other's files"))
    except BaseException:
        stack.close()
        raise
    return stack


def _run_locked(documents: Path, recipe: SynthRecipe, teacher_url: str, paths: dict[str, Path], sources: list[str],
                api_key: str | None, limit: int | None, progress: bool) -> SynthSummary:
    spec = recipe.filters
    summary = SynthSummary()
    decontaminator = Decontaminator(sources, recipe.path.parent, spec.decontam_ngram) if sources else None
    excluded_items: list[dict] = []
    jobs = plan_jobs(documents, recipe, summary, limit, excluded_items)
    summary.requests = len(jobs)
    cache = ResponseCache(paths["cache"])
    teacher = Teacher(teacher_url, recipe.teacher, api_key)

    async def answer_all():
        try:
            return await _answer(jobs, teacher, cache, recipe.teacher.concurrency, progress, summary)
        finally:
            await teacher.close()

    try:
        results = asyncio.run(answer_all())
    finally:
        cache.close()

    checker = SampleFilter(spec, decontaminator)
    rejections: Counter = Counter()
    names = {k: paths[k].name for k in PUBLISHED}

    def write(folder: Path) -> None:
        """The run's files, written into the staging folder (file_set.publish_set renames them into place)."""
        files = {k: open(folder / names[k], "w", encoding="utf-8") for k in ("kept", "rejected", "failed", "excluded")}
        try:
            files["excluded"].writelines(json.dumps(x, ensure_ascii=False) + "\n" for x in excluded_items)
            _sort_out(jobs, results, teacher, recipe, checker, summary, rejections, files)
        finally:
            for f in files.values():
                f.close()
        summary.rejections = dict(rejections)
        summary.outputs = {k: str(v) for k, v in paths.items()}
        if summary.requests and summary.failed == summary.requests and any(p.exists() for p in
                                                                          (paths["kept"], paths["summary"])):
            # Nothing new to write: an earlier run's samples are worth more than none. Its files are left whole,
            # side files too, so that they describe one run; this run's failures go beside them, under their own
            # name, and the set published is that file alone.
            summary.kept_previous = True
            os.replace(folder / names["failed"], folder / names["latest_failed"])
            for k in ("kept", "rejected", "excluded"):
                (folder / names[k]).unlink()
            return
        (folder / names["summary"]).write_text(json.dumps(asdict(summary), indent=2, ensure_ascii=False),
                                               encoding="utf-8")

    def not_written(why: str) -> OSError:
        return OSError(f"the samples of this run could not be written beside {paths['kept']} ({why}): free space "
                       "or choose another -o; the files there are as they were (the cache keeps the replies)")

    # A new set replaces the old one whole (a stop between two renames left this run's kept file beside the earlier
    # run's rejected file and summary), and an earlier failed attempt's latest.failed file goes with it. `known` is
    # read once write has returned: a run that kept the previous set removes none of it.
    known = (names[k] for k in PUBLISHED if not summary.kept_previous)
    publish_set(paths["kept"].parent, _staging(paths["kept"]), write, known, not_written)
    return summary


def _sort_out(jobs: list[Job], results: list, teacher: Teacher, recipe: SynthRecipe, checker: SampleFilter,
              summary: SynthSummary, rejections: Counter, files: dict) -> None:
    """Each answer, in job order, to the failed, kept or rejected file, counted per task."""
    summary.by_task = {t.name: dict(requests=0, failed=0, generated=0, kept=0, rejected=0) for t in recipe.tasks}
    for job, (reply, error) in zip(jobs, results):
        counts = summary.by_task[job.task.name]
        counts["requests"] += 1
        if reply is None:
            counts["failed"] += 1
            summary.failed += 1
            summary.first_failure = summary.first_failure or str(error)
            files["failed"].write(json.dumps({"doc_id": job.doc_id, "passage_index": job.passage_index,
                                             "task": job.task.name, "language": job.language, "reason": error},
                                            ensure_ascii=False) + "\n")
            continue
        counts["generated"] += 1
        summary.generated += 1
        reply = inline_reasoning(reply)  # `<think>trace</think>answer` from a server that parses no reasoning
        sample, format_error = _sample(job, reply, teacher, recipe)
        # in order: size (the parse saw only the cut reply; a reply cut at max_tokens, maybe while reasoning, has
        # no format to judge), what the reply carries whatever its format, the format, then the sample checks (the
        # last, as it remembers kept samples for the duplicate check)
        oversize = None if reply.full_chars is None else (
            f"length: the reply has {reply.full_chars} chars > [teacher] max_reply_chars "
            f"{recipe.teacher.max_reply_chars} (stored cut)")
        reason = (oversize or cut_reply(reply.content, reply.reasoning, reply.finish_reason, recipe.teacher.max_tokens)
                  or reply_problem(reply.content, job.prompt, job.passage, reply.reasoning)
                  or encoding_problem(reply.content, reply.reasoning) or format_error
                  or checker.check(sample, job.passage))
        if reason is None:
            counts["kept"] += 1
            summary.kept += 1
            files["kept"].write(json.dumps(sample, ensure_ascii=False) + "\n")
        else:
            counts["rejected"] += 1
            summary.rejected += 1
            rejections[reason.split(":", 1)[0]] += 1
            files["rejected"].write(json.dumps({**sample, "reason": reason, "reply": reply.content},
                                              ensure_ascii=False) + "\n")
