"""`axk1 data run`: extract → clean/filter → dedup → annotate → tokenize → shard, as a chain of datatrove
executors (local, Slurm or Ray by one setting). Each stage keeps completion markers under logs/<stage>/, so a
relaunch redoes only unfinished tasks (keep run.tasks fixed between launches).

Output folders under run.output_dir:
  clean/      documents after extraction, PII scrubbing and filters      failed/    unreadable inputs + reason
  documents/  deduplicated, annotated documents (domain, difficulty)    excluded/  removed documents + reason
  tokens/     token shards + manifest.json                               counts/    inputs per extract task
  extracted/, site_lines/, site_boilerplate/
                           runs with web sources: pages before the filters, the line counts per site and the
                           boilerplate lines per site they give (axk1/data/site_boilerplate.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.dedup.exact_dedup import ExactDedupFilter, ExactDedupSignature, ExactFindDedups
from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from axk1.data.annotate_steps import annotate_steps
from axk1.data.config import STAGE_GROUPS, PipelineConfig
from axk1.data.dedup import ShingledMinhashSignature, exact_config
from axk1.data.dedup_check import MinhashPairCheck
from axk1.data.die_with_parent import children_die_with_this_process
from axk1.data.filter_steps import extract_filters_around_site_boilerplate
from axk1.data.local_executor import WatchedLocalExecutor, WorkerDied
from axk1.data.run_folder import INPUTS_FILE, note_changed_inputs
from axk1.data.run_settings import check_settings
from axk1.data.shards import ManifestStep, TokenShardWriter
from axk1.data.site_boilerplate import SiteBoilerplate, SiteLineCounter, SiteLineReducer
from axk1.data.source_files import check_source_paths
from axk1.data.sources import SourceReader
from axk1.data.task_count import stage_tasks
from axk1.data.tokenizer import TokenizerTrainStep
from axk1.file_size_limit import RAISE_IT, file_size_limit, limit_bytes


class ReasonWriter(JsonlWriter):
    """An exclusion writer that stamps a fixed reason on documents removed without one (dedup stages)."""

    def __init__(self, output_folder: str, reason: str):
        super().__init__(output_folder, output_filename="${rank}.jsonl.gz")
        self.reason = reason

    def write(self, document, rank: int = 0, **kwargs):
        document.metadata.setdefault("filter_reason", self.reason)
        super().write(document, rank, **kwargs)


@dataclass
class Stage:
    name: str
    group: str
    tasks: int
    steps: list


class _StageReader(JsonlReader):
    """The documents an earlier stage wrote; none where it kept none (every input failed or was excluded), where
    datatrove's reader raises "No files found", which ended such a run in a traceback."""

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if self.data_folder.list_files(recursive=self.recursive, glob_pattern=self.glob_pattern):
            yield from super().run(data, rank, world_size)
        elif data:
            yield from data


def _reader(folder: Path) -> JsonlReader:
    return _StageReader(str(folder), glob_pattern="*.jsonl.gz", recursive=False, add_file_path=False)


def _writer(folder: Path) -> JsonlWriter:
    return JsonlWriter(str(folder), output_filename="${rank}.jsonl.gz")


def build_stages(cfg: PipelineConfig, tasks: int | None = None) -> list[Stage]:
    """`tasks`: of each stage that shards its input files (default run.tasks; prepare_run's: axk1/data/task_count.py)."""
    out, n, f, d = cfg.out, tasks or cfg.run.tasks, cfg.filters, cfg.dedup
    excl = out / "excluded"
    stages: list[Stage] = []
    if "extract" in cfg.run.stages:
        steps = [SourceReader(cfg.sources, failed_writer=_writer(out / "failed"), counts_folder=str(out / "counts"),
                              pdf_config=cfg.pdf, web_config=cfg.web, skip=str(out), listing=str(out / INPUTS_FILE))]
        scrub, filters = extract_filters_around_site_boilerplate(f, lambda name: _writer(excl / name))
        filters.append(_writer(out / "clean"))
        if _site_boilerplate(cfg):
            # Lines are counted over every task's pages before any is removed: four stages instead of one. The
            # list's steps marked before_site_boilerplate (PII) run before extracted/, so that it, the line counts
            # and excluded/site_boilerplate/ hold no number (axk1/data/filter_steps.py).
            stages.append(Stage("extract", "extract", n, steps + scrub + [_writer(out / "extracted")]))
            stages.append(Stage("site_lines", "extract", n,
                                [_reader(out / "extracted"), SiteLineCounter(str(out / "site_lines"))]))
            stages.append(Stage("site_boilerplate", "extract", n,
                                [SiteLineReducer(str(out / "site_lines"), str(out / "site_boilerplate"),
                                                 f.site_boilerplate)]))
            remove = SiteBoilerplate(str(out / "site_boilerplate"), _writer(excl / "site_boilerplate"))
            stages.append(Stage("filter", "extract", n, [_reader(out / "extracted"), remove] + filters))
        else:
            stages.append(Stage("extract", "extract", n, steps + scrub + filters))
    if "dedup" in cfg.run.stages:
        dd = out / "dedup"
        if d.exact:
            stages.append(Stage("exact_signatures", "dedup", n,
                                [_reader(out / "clean"), ExactDedupSignature(str(dd / "exact_sigs"), exact_config())]))
            stages.append(Stage("exact_find", "dedup", 1,
                                [ExactFindDedups(str(dd / "exact_sigs"), str(dd / "exact_dups"), exact_config())]))
        if d.near:
            pre = [_reader(out / "clean")] + _exact_filter(cfg, writer=True)
            stages.append(Stage("minhash_signatures", "dedup", n,
                                pre + [ShingledMinhashSignature(str(dd / "minhash_sigs"), d)]))
            mh = d.minhash_config()
            stages.append(Stage("minhash_buckets", "dedup", d.num_buckets,
                                [MinhashDedupBuckets(str(dd / "minhash_sigs"), str(dd / "minhash_buckets"), config=mh)]))
            pairs = dd / "minhash_buckets"
            if d.min_jaccard:  # LSH's candidate pairs checked against the threshold (axk1/data/dedup_check.py)
                stages.append(Stage("minhash_check", "dedup", 1,
                                    [MinhashPairCheck(str(dd / "minhash_sigs"), str(pairs), str(dd / "minhash_checked"),
                                                      d.num_buckets, d.hashes_per_bucket, d.min_jaccard)]))
                pairs = dd / "minhash_checked"
            stages.append(Stage("minhash_cluster", "dedup", 1,
                                [MinhashDedupCluster(str(pairs), str(dd / "minhash_remove"), mh,
                                                     save_cluster_size=True)]))
    if "annotate" in cfg.run.stages:
        steps = [_reader(out / "clean")]
        if "dedup" in cfg.run.stages or (out / "dedup").exists():
            near_writer = not d.near  # exact-duplicate exclusions were written by minhash_signatures when it ran
            steps += _exact_filter(cfg, writer=near_writer)
            if d.near:
                steps.append(MinhashDedupFilter(str(out / "dedup" / "minhash_remove"), load_cluster_sizes=True,
                                                exclusion_writer=ReasonWriter(str(excl / "near_duplicate"),
                                                                              "near_duplicate")))
        steps += annotate_steps(cfg.annotate, lambda name: _writer(excl / name)) + [_writer(out / "documents")]
        stages.append(Stage("annotate", "annotate", n, steps))
    if "tokenize" in cfg.run.stages:
        t = cfg.tokenize
        if t.train_vocab_size > 0:
            stages.append(Stage("tokenizer_train", "tokenize", 1,
                                [TokenizerTrainStep(str(out / "documents"), t.tokenizer, t.train_vocab_size,
                                                   t.train_digits_per_token, t.train_sample_bytes)]))
        stages.append(Stage("tokenize", "tokenize", n, [_reader(out / "documents"),
                                                        TokenShardWriter(str(out / "tokens"), t.tokenizer,
                                                                         t.difficulty_buckets)]))
        stages.append(Stage("manifest", "tokenize", 1, [ManifestStep(str(out / "tokens"), t.tokenizer,
                                                                     t.difficulty_buckets)]))
    return stages


# what each stage group reads, and the group that writes it
STAGE_INPUTS = {"dedup": ("extract", "clean"), "annotate": ("extract", "clean"), "tokenize": ("annotate", "documents")}


def check_stage_inputs(cfg: PipelineConfig) -> None:
    """A stage run without the one that makes its input, on a folder where that input is not there, is refused
    before anything runs: it read nothing and reported `in 0` (dedup), or failed with a traceback about a file the
    skipped stage would have written (tokenize's manifest)."""
    for group in cfg.run.stages:
        maker, folder = STAGE_INPUTS.get(group, (None, None))
        if maker is not None and maker not in cfg.run.stages and not (cfg.out / folder).is_dir():
            raise ValueError(f"run.stages {cfg.run.stages}: {group!r} reads {cfg.out / folder}/, which {maker!r} "
                             f"writes, and {cfg.out} has none yet: add {maker!r} to run.stages (or run it first)")


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.iterdir())


def _site_boilerplate(cfg: PipelineConfig) -> bool:
    return cfg.filters.site_boilerplate.enabled and any(s.type in ("warc", "html") for s in cfg.sources)


def _exact_filter(cfg: PipelineConfig, writer: bool) -> list:
    if not cfg.dedup.exact:
        return []
    w = ReasonWriter(str(cfg.out / "excluded" / "exact_duplicate"), "exact_duplicate") if writer else None
    return [ExactDedupFilter(str(cfg.out / "dedup" / "exact_dups"), exact_config(), exclusion_writer=w)]


def make_executor(cfg: PipelineConfig, stage: Stage, depends=None):
    """The one place where local / Slurm / Ray differ."""
    logs = str(cfg.out / "logs" / stage.name)
    r = cfg.run
    if r.executor == "local":
        # datatrove's LocalPipelineExecutor, which waited for ever when a pool worker died
        return WatchedLocalExecutor(stage.steps, tasks=stage.tasks, workers=min(r.workers, stage.tasks),
                                    logging_dir=logs, start_method=r.start_method, stage=stage.name)
    if r.executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        s = cfg.slurm
        if not s.partition:
            raise ValueError("run.executor = 'slurm' needs [slurm] partition = <name>")
        return SlurmPipelineExecutor(stage.steps, tasks=stage.tasks, time=s.time, partition=s.partition,
                                     cpus_per_task=s.cpus_per_task, mem_per_cpu_gb=s.mem_per_cpu_gb,
                                     sbatch_args=s.sbatch_args or None, job_name=f"{r.name}-{stage.name}",
                                     logging_dir=logs, depends=depends)
    try:
        import ray
    except ImportError:
        raise ValueError("run.executor = 'ray' needs ray: pip install 'axk1[ray]'") from None
    from datatrove.executor.ray import RayPipelineExecutor

    if not ray.is_initialized():  # joins the cluster named by RAY_ADDRESS (`ray start`), else starts a local one
        ray.init(log_to_driver=False)
    return RayPipelineExecutor(stage.steps, tasks=stage.tasks, workers=r.workers, logging_dir=logs, depends=depends,
                               cpus_per_task=cfg.ray.cpus_per_task, mem_per_cpu_gb=cfg.ray.mem_per_cpu_gb)


def prepare_run(cfg: PipelineConfig) -> list[Stage]:
    """The run's stages, once what it reads is known to exist: its sources (a local run's: a cluster's nodes may see
    other paths), the stages' inputs, and what building the steps reads (benchmark lists, models). Called before
    anything is written, the run's lock and folder included."""
    if cfg.run.executor == "local" and "extract" in cfg.run.stages:
        check_source_paths(cfg.sources)
    check_stage_inputs(cfg)
    first = next((group for group in STAGE_GROUPS if group in cfg.run.stages), None)  # in the order they run
    first_input = cfg.out / STAGE_INPUTS[first][1] if first in STAGE_INPUTS else None
    return build_stages(cfg, stage_tasks(cfg, first_input))


def run_pipeline(cfg: PipelineConfig, progress: bool = True, force: bool = False, pipeline_file=None,
                 ran: list[str] | None = None, stages: list[Stage] | None = None) -> list[str]:
    """Runs (or, on a cluster, submits) every stage in order; returns the names of the stages launched. An output
    folder made with other settings or over other input files is refused unless `force` (axk1/data/run_settings.py;
    `pipeline_file` is never deleted). `ran` (local executor) gets the stages that had a task left to do: none
    means every stage had finished before, and what the folder holds is an earlier launch's result. `stages`:
    prepare_run's, when the caller has them."""
    stages = prepare_run(cfg) if stages is None else stages
    check_settings(cfg, force, pipeline_file)
    if cfg.run.executor == "local":
        with children_die_with_this_process():  # the executor's Manager outlived a killed launch (die_with_parent.py)
            _run_local(cfg, stages, progress, ran)
        if "extract" in cfg.run.stages:
            note_changed_inputs(cfg)
    else:
        # Cluster executors chain by `depends`; running the last one submits (or waits for) the whole chain.
        prev = None
        for stage in stages:
            prev = make_executor(cfg, stage, depends=prev)
        if prev is not None:
            prev.run()
    return [s.name for s in stages]


def _run_local(cfg: PipelineConfig, stages: list, progress: bool, ran: list[str] | None) -> None:
    from tqdm import tqdm

    for stage in tqdm(stages, desc="pipeline stages", unit="stage", disable=not progress):
        if stage.group != "extract" and "extract" in cfg.run.stages and not _has_files(cfg.out / "clean"):
            # every input was excluded or failed: the later stages would fail on an empty folder
            print(f"no document survived extraction and the filters; the stages after it have nothing to do "
                  f"(reasons: {cfg.out / 'excluded'}, {cfg.out / 'failed'})")
            break
        try:
            executor = make_executor(cfg, stage)
            if ran is not None and executor.get_incomplete_ranks(range(stage.tasks)):
                ran.append(stage.name)
            executor.run()
        except WorkerDied:
            raise  # names the worker, how it ended and what to do
        except OSError as e:  # a full disk most often: the bare "[Errno 28]" named neither folder nor stage
            raise write_error(e, cfg.out, stage.name) from e


def write_error(e: OSError, out: Path, stage: str) -> OSError:
    """A stage's failed write as one line naming the file (or the folder) and what to do: a file-size limit
    (EFBIG) is no full disk, and named as the checkpoint writer names it (axk1/file_size_limit.py). The errno of a
    write in a worker process comes back without the file's name: the one at the limit is found by its size."""
    again = "run the same command again: the tasks that finished are kept"
    limit = file_size_limit([e])
    if limit:
        where = e.filename or _file_at_limit(out) or f"a file under {out}"
        return OSError(e.errno, f"file too large: the pipeline's stage '{stage}' failed writing {where}: it reached "
                                f"the file-size limit ({limit}, or a per-file quota of the file system). {RAISE_IT}, "
                                f"then {again}")
    where = f"{e.filename}" if e.filename else str(out)
    return OSError(e.errno, f"{e.strerror or e}: the pipeline's stage '{stage}' failed writing under {where}; fix "
                            f"that (free space, or --run.output_dir on a larger disk) and {again}")


def _file_at_limit(out: Path) -> str | None:
    """The file under `out` whose size is this process's file-size limit (the one a write stopped at), if any."""
    soft = limit_bytes()
    if soft is None:
        return None
    return next((str(p) for p in sorted(out.rglob("*")) if p.is_file() and p.stat().st_size >= soft), None)
