"""The `axk1 data` verb: `pdf`, `run`, `stats`, `contamination`, `tokenizer train`, `lm …` (axk1/data/lm_cli.py),
`classifier`, `starter`.
Wire it in axk1/cli.py with `add_data_parser(sub)` inside build_parser()."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from axk1.atomic_file import write_text_atomic
from axk1.cli_args import bounded_int, name_sub_verbs, non_negative_int, positive_float, positive_int
from axk1.data.lm_cli import add_lm_parser
from axk1.data.tokenizer_config import MAX_VOCAB_SIZE, MIN_VOCAB_SIZE, TokenizerConfig
from axk1.data.stats import input_files


def vocab_size(text: str) -> int:
    """--vocab-size: a whole number a tokenizer can have (far larger sizes abort the trainer with no message)."""
    return bounded_int(text, MIN_VOCAB_SIZE, f"from {MIN_VOCAB_SIZE} to {MAX_VOCAB_SIZE:,}", most=MAX_VOCAB_SIZE)


def cmd_pdf(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from axk1.data.pdf import PdfConfig, PdfError
    from axk1.data.pdf_worker import PdfWorker
    from axk1.data.source_files import PDF_SUFFIXES

    src = Path(args.path)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist: give a PDF file or a folder of PDFs")
    # every entry named as a PDF, not just regular files: a FIFO or a dangling link was skipped unsaid, and the
    # count ("1 PDFs: 1 extracted") hid it; each fails below with its reason
    files = sorted(p for p in src.rglob("*") if not p.is_dir() and p.name.lower().endswith(PDF_SUFFIXES)) \
        if src.is_dir() else [src]
    if not files:
        raise FileNotFoundError(f"no PDF files ({', '.join(PDF_SUFFIXES)}) under {src}")
    cfg = PdfConfig(join="rules+kiwi" if args.kiwi else "rules", ocr=args.ocr, detect_columns=not args.no_columns,
                    max_memory_mb=args.max_memory_mb, timeout_s=args.timeout, ocr_page_timeout_s=args.ocr_page_timeout)
    ok = failed = 0
    ocr = {"pages": 0, "failed": 0, "not_tried": 0}  # over all files: what OCR read and what it could not
    reasons: dict[str, int] = {}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f, PdfWorker(cfg) as worker:
        for path in tqdm(files, desc="PDFs", unit="file", disable=len(files) < 2):
            rel = str(path.relative_to(src)) if src.is_dir() else path.name
            try:
                if path.exists() and not path.is_file():  # a FIFO would block the worker's open() for ever
                    raise PdfError("not_a_regular_file", "a FIFO, socket or device; not opened")
                res = worker.extract(path)
                rec = {"id": rel, "text": res.text, "metadata": {"source": "pdf", "path": rel, "pdf": res.metadata()}}
                ok += 1
                for k in ocr:
                    ocr[k] += res.ocr.get(k, 0)
            except PdfError as e:
                rec = {"id": rel, "text": "", "metadata": {"path": rel, "failure_reason": f"pdf_{e.reason}",
                                                           "detail": e.detail}}
                failed += 1
                reasons[f"pdf_{e.reason}"] = reasons.get(f"pdf_{e.reason}", 0) + 1
                if len(files) == 1:
                    print(f"{rel}: not extracted: pdf_{e.reason} ({e.detail})", file=sys.stderr)
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    why = f" ({', '.join(f'{k}: {v}' for k, v in sorted(reasons.items()))}; reasons in the JSONL)" if reasons else ""
    scans = (f"; OCR: {ocr['pages']} pages read, {ocr['failed']} failed, {ocr['not_tried']} not tried for time "
             "(pages in metadata.pdf.rejected_pages)") if any(ocr.values()) else ""
    print(f"{len(files)} PDFs: {ok} extracted, {failed} failed{why}{scans} -> {out}")
    return 0 if ok else 1  # nothing extracted at all: a failure for scripts too


def cmd_run(args: argparse.Namespace) -> int:
    from axk1.data.config import load_pipeline_config
    from axk1.data.pipeline import prepare_run, run_pipeline
    from axk1.data.stats import account, summary_text

    # --executor and --workers are two overrides by name: applied with the others, before validation
    overrides = list(getattr(args, "overrides", None) or [])
    if args.executor:
        overrides += ["--run.executor", args.executor]
    if args.workers is not None:  # positive_int: a 0 was dropped by a truthiness test here, the file's workers ran
        overrides += ["--run.workers", str(args.workers)]
    cfg = load_pipeline_config(args.pipeline, overrides)
    prepared = prepare_run(cfg)  # a run refused for its inputs writes nothing, not even its folder and lock
    with data_run_lock(cfg.out):  # before --force deletes anything or a stage writes, until summary.json is written
        ran: list[str] = []
        stages = run_pipeline(cfg, force=args.force, pipeline_file=args.pipeline, ran=ran, stages=prepared)
        if cfg.run.executor != "local":
            print(f"submitted {len(stages)} stages to {cfg.run.executor}; `axk1 data stats {cfg.out}` when done")
            return 0
        acc = account(cfg.out)
        if not ran:  # datatrove's completion markers skipped every task: nothing below was made by this launch
            print(f"nothing to do: every stage had finished in {cfg.out} with these settings and input files; the "
                  "accounting below is that earlier run's (--force runs afresh)")
        print(summary_text(acc))
        if (cfg.out / "tokens" / "manifest.json").exists():
            print(f"token shards: {cfg.out / 'tokens' / 'manifest.json'} (a recipe's [data] manifest)")
        write_text_atomic(cfg.out / "summary.json", json.dumps(acc.as_dict(), indent=2, ensure_ascii=False))
        return 0 if acc.balanced else 1


def data_run_lock(out: Path):
    """The lock of one `axk1 data run` on its run.output_dir (axk1/checkpoint/run_lock.py): two launches on one
    folder ran every stage twice, writing the same files at once, and one's --force deleted the other's outputs.
    The launching process holds it (a killed one's is taken over): the whole run under the local and Ray executors,
    only the submission under Slurm (docs/data.md)."""
    from axk1.checkpoint.run_lock import RunLock

    return RunLock(out, flag="--run.output_dir", job="`axk1 data run`",
                   harm="would each run every stage, writing the same files at once (and one's --force would delete "
                        "the other's outputs)")


def cmd_stats(args: argparse.Namespace) -> int:
    from axk1.data.stats import corpus_stats

    stats = corpus_stats(args.path)
    print(json.dumps(stats, indent=2, ensure_ascii=False))
    for f in stats.get("skipped_files", []):
        print(f"skipped: {f}", file=sys.stderr)
    if stats.get("bad_rows"):
        print(f"{sum(stats['bad_rows'].values())} rows could not be summarised (bad_rows; first: "
              f"{stats['bad_row_examples'][0]})", file=sys.stderr)
    return 0


def refuse_replacing(out: Path, force: bool) -> None:
    if (out / "tokenizer.json").exists() and not force:
        raise FileExistsError(f"{out / 'tokenizer.json'} exists (shards made with it would no longer match): "
                              "give another -o, or --force to replace it")


@contextmanager
def tokenizer_lock(out: Path, made: list[Path], force: bool):
    """The run lock on a tokenizer training's -o (axk1/checkpoint/run_lock.py), held until its files are written:
    two trainings into one folder both said "trained", the last to end replacing the other's tokenizer.json unsaid.
    A training that does not go ahead leaves neither the folders it made (`made`, taken back with the lock's own)
    nor a lock file of its own."""
    from axk1.checkpoint.run_lock import RunLock

    with RunLock(out, flag="-o", job="tokenizer training", made=made,
                 harm="would each write tokenizer.json, the last to end replacing the other's"):
        refuse_replacing(out, force)  # again, now it is held: a training that ended since the first look wrote one
        yield


def cmd_contamination(args: argparse.Namespace) -> int:
    from axk1.data.contamination_audit import audit, summary_lines

    report = audit(args.paths, args.benchmark, args.ngram, args.text_field, args.id_field)
    for line in summary_lines(report):
        print(line)
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"report: {args.output}")
    if not report["documents"]:  # a gate that checked nothing must not pass: every row lacked the text
        print(f"nothing was checked: no row has a `{args.text_field}` string or chat messages (`messages` / "
              "`conversations`); name the field holding the text with --text-field", file=sys.stderr)
        return 2 if args.check else 0
    return 1 if args.check and report["contaminated_documents"] else 0


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    import time
    from collections import Counter

    from axk1.output_folder import writable_folder
    from axk1.data.tokenizer import (chars_per_token, iter_jsonl_texts, size_shortfall, skipped_rows_line,
                                     train_tokenizer)
    from axk1.text.tokenizer_file import load_tokenizer

    # everything checked before training, which takes minutes to hours: no late refusal, no silent overwrite
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"-o {out} is a file: give the folder to write tokenizer.json and "
                                 "tokenizer_config.json into")
    refuse_replacing(out, args.force)
    inputs = input_files(args.inputs, "input")
    heldout: list[tuple[str, list[str]]] = []
    for spec in args.heldout:
        name, sep, file = spec.partition("=")
        if not sep or not name or not file:
            raise ValueError(f"--heldout {spec!r}: write NAME=FILE, e.g. ko=ko.jsonl")
        held_skipped: Counter = Counter()
        held_first: dict[str, str] = {}
        texts = list(iter_jsonl_texts(input_files([file], f"--heldout {name}"), held_skipped, held_first))
        if not texts and not held_skipped:
            raise ValueError(f"--heldout {spec!r}: {file} has no row with a non-empty `text`")
        if not texts:
            raise ValueError(f"--heldout {spec!r}: {file} has no row to measure, every one skipped: "
                             f"{skipped_rows_line(held_skipped, held_first)}")
        if held_skipped:
            print(f"--heldout {name}: rows skipped (not measured): {skipped_rows_line(held_skipped, held_first)}",
                  file=sys.stderr)
        heldout.append((name, texts))
    made = writable_folder(out, "-o")  # made (and written to) now, not refused after the training
    skipped: Counter = Counter()
    first_at: dict[str, str] = {}
    t0 = time.perf_counter()
    cfg = TokenizerConfig(vocab_size=args.vocab_size, min_frequency=args.min_frequency)
    with tokenizer_lock(out, made, args.force):
        path = train_tokenizer(iter_jsonl_texts(inputs, skipped, first_at), out, cfg)
    tok = load_tokenizer(path)
    size = tok.get_vocab_size(with_added_tokens=True)
    print(f"trained {path} in {time.perf_counter() - t0:.1f}s: {size:,} entries (asked for {args.vocab_size:,})")
    warning = size_shortfall(size, cfg)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if skipped:
        print(f"rows skipped (not trained on): {skipped_rows_line(skipped, first_at)}", file=sys.stderr)
    if heldout:
        for name, texts in heldout:
            print(f"  {name}: {chars_per_token(tok, texts):.2f} characters/token")
    return 0


STARTER_RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "data" / "starter.toml"


def starter_run_command(output: str | Path, web: bool) -> str:
    """The `axk1 data run` of the starter recipe over the corpus in `output`: the recipe reads out/starter/<part>
    (relative to itself), so a corpus built elsewhere needs each source's path given, or the run reads another
    (an older out/starter, silently) or none."""
    import shlex

    from axk1.toml_file import read_toml

    recipe = STARTER_RECIPE.relative_to(Path.cwd()) if STARTER_RECIPE.is_relative_to(Path.cwd()) else STARTER_RECIPE
    words = ["axk1", "data", "run", str(recipe)]
    raw = read_toml(STARTER_RECIPE, "pipeline")
    # the run's output beside the corpus (out/starter -> out/data, as the recipe has it), not inside the repository
    # the recipe lives in, wherever the command is run from; a --web corpus's run in a folder of its own (data-web):
    # in out/data, after the plain starter's run had filled it, the printed command was refused as a run "made with
    # other settings"
    data = Path(output).resolve().parent / ("data-web" if web else "data")
    if data != (STARTER_RECIPE.parent / raw["run"]["output_dir"]).resolve():
        words += ["--run.output_dir", str(data), "--tokenize.tokenizer", str(data / "tokenizer")]
    for i, source in enumerate(raw["sources"]):
        read = (STARTER_RECIPE.parent / source["path"]).resolve()
        built = Path(output).resolve() / read.name
        if built != read:
            words += [f"--sources.{i}.path", str(built)]
        if web and read.name == "web":
            words += [f"--sources.{i}.type", "warc"]  # the web part is a WARC file
    return shlex.join(words)


def cmd_classifier(args: argparse.Namespace) -> int:
    from axk1.data.classify import train_domain_classifier

    out = Path(args.output)
    if out.exists() and not args.force:  # a run that read the old one would not be redone by a relaunch
        raise FileExistsError(f"{out} exists: give another -o, or --force to replace it")
    inputs = input_files(args.inputs, "input")
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = train_domain_classifier(inputs, out, args.label_field)
    print(json.dumps(counts, indent=2))
    if counts["unlabelled"]:
        print(f"{counts['unlabelled']} records had no {args.label_field!r} label and were not trained on",
              file=sys.stderr)
    print(f"next, in the pipeline file: [annotate] domain_model = \"{out}\"", file=sys.stderr)
    return 0


def cmd_starter(args: argparse.Namespace) -> int:
    from axk1.data.starter import build_starter_corpus

    counts = build_starter_corpus(args.output, scale=args.scale, web_dir=args.web)
    print(json.dumps(counts, indent=2, ensure_ascii=False))
    # on stderr: stdout stays the counts' JSON
    print(f"next, the pipeline over it:\n  {starter_run_command(args.output, bool(args.web))}", file=sys.stderr)
    return 0


def add_data_parser(subparsers: argparse._SubParsersAction, extra=()) -> argparse.ArgumentParser:
    """Registers `axk1 data ...`; `extra` are functions that add more sub-verbs to `data` (e.g. add_synth_parser)."""
    from axk1.data.pdf import PdfConfig

    p = subparsers.add_parser("data", help="pretraining data: PDF extraction, the pipeline, stats, tokenizer",
                              description="Korean-aware pretraining data pipeline on datatrove.")
    sub = p.add_subparsers(dest="data_command", required=True)

    q = sub.add_parser("pdf", help="extract Korean-aware text from a PDF or a folder of PDFs to JSONL")
    q.add_argument("path", help="a PDF file or a folder (searched recursively)")
    q.add_argument("-o", "--output", required=True, help="output JSONL (one record per PDF; failures have a reason)")
    q.add_argument("--ocr", choices=["auto", "tesseract", "none"], default="auto",
                   help="OCR for pages that fail the garbage gate (default auto: tesseract when installed)")
    # one flag and its negation: --no-kiwi was a switch of its own that nothing read, so `--kiwi --no-kiwi` ran Kiwi;
    # now the last one typed wins
    q.add_argument("--kiwi", action=argparse.BooleanOptionalAction, default=False,
                   help="let Kiwi's spacing model settle the Korean line breaks the rules leave open (better joins; "
                        "loading it costs ~5 s); --no-kiwi, the default: join broken lines by rules only")
    q.add_argument("--no-columns", action="store_true", help="trust stream order; no multi-column detection")
    q.add_argument("--max-memory-mb", type=positive_int, default=PdfConfig.max_memory_mb, metavar="MB",
                   help="each file is extracted in a worker process capped at this much memory; a file that needs "
                        "more (a compression bomb) fails as pdf_memory_limit (default %(default)s)")
    q.add_argument("--timeout", type=positive_float, default=PdfConfig.timeout_s, metavar="S",
                   help="seconds allowed a file before it fails as pdf_timeout (default %(default)s); OCR stops "
                        "short of it and keeps the pages it read")
    q.add_argument("--ocr-page-timeout", type=positive_float, default=PdfConfig.ocr_page_timeout_s, metavar="S",
                   help="seconds allowed OCR on one page before the page is rejected (default %(default)s)")
    q.set_defaults(func=cmd_pdf)

    q = sub.add_parser("run", help="run a pipeline.toml: extract, filter, dedup, annotate, tokenize, shard",
                       description="Any setting of the file can be overridden as --section.key value "
                       "(e.g. --run.tasks 8, --sources.0.path DIR).")
    q.add_argument("pipeline", help="pipeline TOML (see recipes/data/starter.toml); relative paths in it are "
                   "relative to its folder")
    # datatrove marks each finished task (logs/<stage>/completions) and a relaunch skips those: said after Ctrl-C
    q.set_defaults(interrupt_hint=" (finished tasks are kept: run the same command to resume, redoing only the "
                   "unfinished ones)")
    q.add_argument("--executor", choices=["local", "slurm", "ray"], default=None, help="override run.executor")
    q.add_argument("--workers", type=positive_int, default=None,
                   help="override run.workers (local executor), at least 1")
    q.add_argument("--force", action="store_true",
                   help="delete the pipeline's earlier outputs in run.output_dir and run afresh (needed when settings "
                        "or input files changed; without it a relaunch with the same ones resumes, redoing only "
                        "unfinished tasks); refused, deleting nothing, where that folder holds anything else")
    q.set_defaults(func=cmd_run, accepts_overrides=True)

    q = sub.add_parser("stats", help="summarise a corpus (a run folder or JSONL files)")
    q.add_argument("path", help="a run folder of `axk1 data run` (its run.output_dir) or a JSONL file")
    q.set_defaults(func=cmd_stats)

    q = sub.add_parser("contamination", help="which rows of evaluation sets a corpus holds (nothing is changed)",
                       description="Checks every document of JSONL files against evaluation sets with the n-grams "
                                   "of [filters.decontamination] (docs/data.md) and reports the rows found.")
    q.add_argument("paths", nargs="+", help="JSONL files (.jsonl, .jsonl.gz) or folders of them (a run's documents/)")
    q.add_argument("--benchmark", action="append", default=[], required=True, metavar="SET",
                   help='"humaneval" or an evaluation set\'s JSONL file; repeatable')
    q.add_argument("--ngram", type=int, default=13,
                   help="words in an n-gram (Korean: 3 x as many characters; default %(default)s)")
    q.add_argument("--text-field", default="text", help="the field holding a document's text (default %(default)s); "
                   "a row without it that is a chat row (`messages`, ShareGPT `conversations`) is checked on its "
                   "user and assistant turns")
    q.add_argument("--id-field", default="id", help="the field naming a document in the report (default %(default)s; "
                   "a row without it: file:line)")
    q.add_argument("-o", "--output", default=None, help="also write the report as JSON here")
    q.add_argument("--check", action="store_true", help="exit 1 when any document is contaminated (a gate), 2 when no row could be checked")
    q.set_defaults(func=cmd_contamination)

    q = sub.add_parser("tokenizer", help="tokenizer tools")
    tsub = q.add_subparsers(dest="tokenizer_command", required=True, metavar="{train}")
    t = tsub.add_parser("train", help="train a byte-level BPE tokenizer (Hangul-aware pre-tokenizer, chat template)")
    t.add_argument("inputs", nargs="+", help="JSONL files or folders with a `text` field")
    t.add_argument("-o", "--output", required=True, help="output folder for tokenizer.json + tokenizer_config.json")
    t.add_argument("--vocab-size", type=vocab_size, default=TokenizerConfig.vocab_size,
                   help=f"vocabulary size, {MIN_VOCAB_SIZE} to {MAX_VOCAB_SIZE} (default %(default)s, A.X K1's)")
    t.add_argument("--min-frequency", type=non_negative_int, default=TokenizerConfig.min_frequency,
                   help="merges seen fewer times than this are not learnt (default %(default)s)")
    t.add_argument("--force", action="store_true", help="replace an existing tokenizer.json in the output folder")
    t.add_argument("--heldout", nargs="*", default=[], metavar="NAME=FILE",
                   help="held-out JSONL sets to report characters per token on, e.g. ko=ko.jsonl code=code.jsonl "
                        "(checked before training)")
    t.set_defaults(func=cmd_tokenizer_train)

    add_lm_parser(sub)

    q = sub.add_parser("classifier", help="train the domain classifier [annotate] domain_model reads",
                       description="Trains the naive Bayes domain classifier (axk1/data/classify.py) on labelled "
                                   "JSONL: one record a line with \"text\" and a domain label, top level or in "
                                   "\"metadata\" (docs/data.md, \"Domains, difficulty, curriculum\").")
    q.add_argument("inputs", nargs="+", help="JSONL files (.jsonl, .jsonl.gz) or folders of them")
    q.add_argument("-o", "--output", required=True, help="the classifier file to write (.npz)")
    q.add_argument("--label-field", default="domain", help="the field holding a record's domain (default "
                   "%(default)s); records without one are counted and left out")
    q.add_argument("--force", action="store_true", help="replace an existing output file")
    q.set_defaults(func=cmd_classifier)

    q = sub.add_parser("starter", help="build the offline starter corpus (stdlib code, math, statutes, PDFs)")
    q.add_argument("-o", "--output", required=True, help="folder for the corpus, one subfolder a part (the starter "
                   "recipe reads out/starter; for another folder the command prints the `axk1 data run` to use)")
    q.add_argument("--scale", type=positive_int, default=1, help="multiply the generated parts (default %(default)s)")
    q.add_argument("--web", metavar="DIR", default=None,
                   help="build the web part from the saved pages under DIR (*.html, one site per subfolder), written "
                   "to web/pages.warc.gz, instead of generated prose")
    q.set_defaults(func=cmd_starter)
    for add in extra:
        add(sub)
    name_sub_verbs(sub, "data")  # `axk1 data stats: error: ...`
    return p
