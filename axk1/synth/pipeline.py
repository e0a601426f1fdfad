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
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from axk1.synth.documents import looks_like_math, read_documents, split_passages
from axk1.synth.filters import Decontaminator, SampleFilter
from axk1.synth.formats import parse_reply
from axk1.synth.recipe import SynthRecipe, TaskConfig
from axk1.synth.teacher import ResponseCache, Teacher, TeacherReply, bounded

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
    requests: int = 0
    sent: int = 0
    cache_hits: int = 0
    failed: int = 0
    generated: int = 0
    kept: int = 0
    rejected: int = 0
    by_task: dict[str, dict[str, int]] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)  # check -> samples
    outputs: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"{'task':<16}{'requests':>9}{'failed':>8}{'generated':>11}{'kept':>7}{'rejected':>10}"]
        for name, c in self.by_task.items():
            lines.append(f"{name:<16}{c['requests']:>9}{c['failed']:>8}{c['generated']:>11}{c['kept']:>7}{c['rejected']:>10}")
        lines.append(f"{'total':<16}{self.requests:>9}{self.failed:>8}{self.generated:>11}{self.kept:>7}{self.rejected:>10}")
        lines.append(f"documents: {self.documents} read, {self.documents_used} used, "
                     + (", ".join(f"{n} excluded ({r})" for r, n in self.excluded.items()) or "none excluded"))
        lines.append(f"teacher: {self.sent} requests sent, {self.cache_hits} answered from the cache")
        if self.rejections:
            lines.append("rejected by check: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejections.items())))
        return "\n".join(lines)


def _seed(base: int, *parts: object) -> int:
    return (base + zlib.crc32("|".join(map(str, parts)).encode())) % (2**31)


def _task_applies(task: TaskConfig, domain: str | None, passage: str) -> bool:
    if not task.domains:
        return True
    return domain in task.domains or (task.math_heuristic and looks_like_math(passage))


def plan_jobs(documents: Path, recipe: SynthRecipe, summary: SynthSummary, limit: int | None = None) -> list[Job]:
    jobs: list[Job] = []
    excluded: Counter = Counter()
    for _, doc, problem in read_documents(documents):
        if limit is not None and summary.documents >= limit:
            break
        summary.documents += 1
        if doc is None:
            excluded[problem.split(": ", 1)[-1] if "empty" in problem else "unreadable line"] += 1
            continue
        passages = split_passages(doc.text, recipe.passages)
        if not passages:
            excluded[f"no passage of {recipe.passages.min_chars}+ chars"] += 1
            continue
        before = len(jobs)
        for i, passage in enumerate(passages):
            for task in recipe.tasks:
                if not _task_applies(task, doc.domain, passage):
                    continue
                for lang in dict.fromkeys(doc.language if lang == "auto" else lang for lang in task.languages):
                    if lang not in task.prompt_texts:
                        continue  # no prompt in that language for this task
                    prompt = (task.prompt_texts[lang].replace("{passage}", passage)
                              .replace("{audience}", task.audience.get(lang, ""))
                              .replace("{language}", LANGUAGE_NAMES[lang]))
                    jobs.append(Job(doc.id, i, passage, task, lang, prompt,
                                    _seed(recipe.teacher.seed, doc.id, i, task.name, lang)))
        if len(jobs) == before:
            excluded["no task applies (domain or language)"] += 1
        else:
            summary.documents_used += 1
    summary.excluded = dict(excluded)
    return jobs


async def _answer(jobs: list[Job], teacher: Teacher, cache: ResponseCache, concurrency: int, progress: bool,
                  summary: SynthSummary) -> list[tuple[TeacherReply | None, str | None]]:
    """One (reply, error) per job, in job order. Cached replies cost no request, not even a model listing."""
    if not teacher.model:
        teacher.model = cache.remembered_model(teacher.base_url) or ""
    keys = [cache.key(teacher.request(j.prompt, j.seed, j.task.thinking)) for j in jobs]
    results: list[tuple[TeacherReply | None, str | None]] = [(cache.get(k), None) for k in keys]
    missing = [i for i, (reply, _) in enumerate(results) if reply is None]
    summary.cache_hits = len(jobs) - len(missing)
    if not missing:
        return results
    if not teacher.spec.model:  # ask the server which model it serves, then key the misses by it
        teacher.model = ""
        await teacher.resolve_model()
        cache.remember_model(teacher.base_url, teacher.model)
        keys = [cache.key(teacher.request(j.prompt, j.seed, j.task.thinking)) for j in jobs]
        results = [(cache.get(k), None) for k in keys]
        missing = [i for i, (reply, _) in enumerate(results) if reply is None]
        summary.cache_hits = len(jobs) - len(missing)

    async def one(i: int):
        request = teacher.request(jobs[i].prompt, jobs[i].seed, jobs[i].task.thinking)
        try:
            reply = await teacher.ask(request)
        except Exception as e:  # one failed request fails one job, not the run
            return i, None, f"{type(e).__name__}: {e}"
        cache.put(keys[i], reply)
        return i, reply, None

    from tqdm import tqdm

    with tqdm(total=len(missing), desc="teacher", unit="req", disable=not progress) as bar:
        async for i, reply, error in bounded(concurrency, [lambda i=i: one(i) for i in missing]):
            summary.sent += 1
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
    return sample, parsed.error


def run_synth(documents: str | Path, recipe: SynthRecipe, teacher_url: str, output: str | Path,
              cache_path: str | Path | None = None, api_key: str | None = None, extra_benchmarks: list[str] = (),
              limit: int | None = None, progress: bool = True) -> SynthSummary:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    summary = SynthSummary()
    spec = recipe.filters
    sources = list(spec.benchmarks) + [str(Path(b).resolve()) for b in extra_benchmarks]
    decontaminator = Decontaminator(sources, recipe.path.parent, spec.decontam_ngram) if sources else None
    jobs = plan_jobs(Path(documents), recipe, summary, limit)
    summary.requests = len(jobs)
    teacher = Teacher(teacher_url, recipe.teacher, api_key)
    cache = ResponseCache(cache_path or output.with_name(output.name + ".cache.sqlite"))

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
    paths = {"kept": output, "rejected": output.with_name(output.stem + ".rejected.jsonl"),
             "failed": output.with_name(output.stem + ".failed.jsonl"),
             "summary": output.with_name(output.stem + ".summary.json")}
    summary.by_task = {t.name: dict(requests=0, failed=0, generated=0, kept=0, rejected=0) for t in recipe.tasks}
    with open(paths["kept"], "w", encoding="utf-8") as kept, open(paths["rejected"], "w", encoding="utf-8") as rej, \
            open(paths["failed"], "w", encoding="utf-8") as failed:
        for job, (reply, error) in zip(jobs, results):
            counts = summary.by_task[job.task.name]
            counts["requests"] += 1
            if reply is None:
                counts["failed"] += 1
                summary.failed += 1
                failed.write(json.dumps({"doc_id": job.doc_id, "passage_index": job.passage_index,
                                         "task": job.task.name, "language": job.language, "reason": error},
                                        ensure_ascii=False) + "\n")
                continue
            counts["generated"] += 1
            summary.generated += 1
            sample, reason = _sample(job, reply, teacher, recipe)
            if reason is None:
                reason = checker.check(sample, job.passage)
            if reason is None:
                counts["kept"] += 1
                summary.kept += 1
                kept.write(json.dumps(sample, ensure_ascii=False) + "\n")
            else:
                counts["rejected"] += 1
                summary.rejected += 1
                rejections[reason.split(":", 1)[0]] += 1
                rej.write(json.dumps({**sample, "reason": reason, "reply": reply.content}, ensure_ascii=False) + "\n")
    summary.rejections = dict(rejections)
    summary.outputs = {k: str(v) for k, v in paths.items()}
    paths["summary"].write_text(json.dumps(asdict(summary), indent=2, ensure_ascii=False), encoding="utf-8")
    return summary
