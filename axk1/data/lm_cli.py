"""`axk1 data lm …`: the perplexity filter's n-gram models (docs/data.md, "Perplexity filter").

  train    a model of a reference corpus, here (pure Python: references of a few MB)
  tokens   a corpus as the model's tokens, one document a line: what KenLM's `lmplz` reads to train at any scale
  import   an ARPA file (lmplz's, SRILM's) as a model file, with held-out reference perplexities for percentiles
  export   a model file as ARPA, for KenLM or any other reader of the format
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

from axk1.cli_args import bounded_int
from axk1.data.stats import data_files, input_files

UNIT_CHOICES = ["auto", "kiwi", "words", "chars"]
UNIT_HELP = ("tokens: Kiwi morphemes (Korean), words and punctuation (English), characters; auto (the default): kiwi "
             "when the first documents are mostly Hangul, else words")


def _lm_order(text: str) -> int:
    return bounded_int(text, 2, "from 2 to 6", most=6)


def _lm_folds(text: str) -> int:
    return bounded_int(text, 2, "2 or more")


def _text_file(p: Path, skipped: Counter) -> Iterator[str]:
    """A plain-text file as one document (none when it is blank, counted in `skipped`)."""
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"reference file {p} is not UTF-8 text ({e}): give text or JSONL files") from None
    if text.strip():
        yield text
    else:
        skipped["empty text file"] += 1


def _reference_texts(specs: list[str], skipped: Counter) -> Iterator[str]:
    """The documents of `axk1 data lm train`'s inputs: a plain-text file is one document; JSONL files give their
    rows' `text` (iter_jsonl_texts; rows without one are counted in `skipped`); a folder gives both, its *.txt files
    (a folder of them was refused as holding no JSONL) and its JSONL files."""
    from axk1.data.tokenizer import iter_jsonl_texts

    for spec in specs:
        p = Path(spec)
        if p.is_file() and not p.name.endswith((".jsonl", ".jsonl.gz")):
            yield from _text_file(p, skipped)
        elif p.is_dir() and (texts := sorted(f for f in p.rglob("*.txt") if f.is_file())):
            for f in texts:
                yield from _text_file(f, skipped)
            if data_files(p)[0]:
                yield from iter_jsonl_texts(input_files([spec], "reference"), skipped)
        else:
            yield from iter_jsonl_texts(input_files([spec], "reference"), skipped)


def cmd_lm_train(args: argparse.Namespace) -> int:
    import time

    from axk1.data.perplexity_model import train_reference_model

    out = _model_output(args)
    _check_inputs(args.inputs, "reference")
    skipped: Counter = Counter()
    units, texts = _units(args, _reference_texts(args.inputs, skipped))
    t0 = time.perf_counter()
    model = train_reference_model(texts, args.order, units, args.folds)
    model.meta["inputs"] = [str(p) for p in args.inputs]
    model.save(out)
    m = model.meta
    ref = m["reference_perplexities"]
    print(f"trained {out} in {time.perf_counter() - t0:.1f}s: order {args.order}, {units}, {m['documents']} documents, "
          f"{m['tokens']:,} tokens, {len(model.vocab.tokens):,} types")
    _print_percentiles(ref)
    if skipped:
        print("documents skipped (not trained on): " + ", ".join(f"{n} {why}" for why, n in skipped.most_common()),
              file=sys.stderr)
    return 0


def _model_output(args: argparse.Namespace) -> Path:
    """-o, checked before any long work: a model file, not a folder, and not one already there unless --force."""
    out = Path(args.output)
    if out.is_dir():
        raise IsADirectoryError(f"-o {out} is a folder: give the model file to write, e.g. {out / 'ko.npz'}")
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists (runs filtered with it would no longer match): give another -o, or "
                              "--force to replace it")
    return out


def _print_percentiles(reference: list[float]) -> None:
    import numpy as np

    pct = {q: np.percentile(reference, q) for q in (50, 90, 95, 99)}  # as [filters.perplexity] percentile reads them
    print("held-out perplexity of the reference documents: " + ", ".join(f"p{q} {v:,.1f}" for q, v in pct.items()))


def _units(args: argparse.Namespace, texts: Iterator[str]) -> tuple[str, Iterator[str]]:
    """--units, with auto decided on the first documents (which are given back in front of the rest)."""
    from itertools import chain

    from axk1.data.perplexity_model import guess_units

    if args.units != "auto":
        return args.units, texts
    first = [t for _, t in zip(range(20), texts)]
    units = guess_units(first)
    print(f"units: {units} (from the first {len(first)} documents; --units to choose)")
    return units, chain(first, texts)


def _check_inputs(specs: list[str], what: str) -> None:
    for spec in specs:  # checked before the long read: no late refusal
        if not Path(spec).exists():
            raise FileNotFoundError(f"{what} {spec} does not exist: give text files, JSONL files or folders of them")


def cmd_lm_tokens(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from axk1.data.perplexity_model import lm_tokens
    from axk1.text.arpa import SPACE

    _check_inputs(args.inputs, "input")
    skipped: Counter = Counter()
    units, texts = _units(args, _reference_texts(args.inputs, skipped))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    docs = tokens = 0
    with open(out, "w", encoding="utf-8") as f:
        for text in tqdm(texts, desc="documents", unit="doc"):
            words = [SPACE if t == " " else t for t in lm_tokens(text, units)]
            if words:
                f.write(" ".join(words) + "\n")
                docs += 1
                tokens += len(words)
    print(f"{out}: {docs:,} documents, {tokens:,} {units} tokens; next: lmplz -o 4 < {out} > model.arpa, then "
          f"axk1 data lm import model.arpa --units {units} --reference HELD_OUT -o lm.npz")
    if skipped:
        print("documents skipped: " + ", ".join(f"{n} {why}" for why, n in skipped.most_common()), file=sys.stderr)
    return 0


def cmd_lm_import(args: argparse.Namespace) -> int:
    import math

    from tqdm import tqdm

    from axk1.data.perplexity_model import lm_tokens
    from axk1.text.arpa import read_arpa

    out = _model_output(args)
    _check_inputs(args.reference, "reference")
    if args.units == "auto":
        raise ValueError("give --units: the tokens the ARPA model was trained on (kiwi, words or chars), as "
                         "`axk1 data lm tokens` wrote them")
    model = read_arpa(args.arpa, {"units": args.units})
    skipped: Counter = Counter()
    perplexities = []
    for text in tqdm(_reference_texts(args.reference, skipped), desc="reference perplexities", unit="doc",
                     disable=not args.reference):
        logp, events = model.score(model.vocab.encode(lm_tokens(text, args.units)))
        perplexities.append(round(math.exp(-logp / events), 3))
    model.meta.update(documents=len(perplexities), reference_perplexities=sorted(perplexities),
                      inputs=[str(p) for p in args.reference])
    model.save(out)
    sizes = ", ".join(f"{len(model.tables[k]):,} {k}-grams" for k in model.tables)
    print(f"imported {args.arpa} as {out}: order {model.order}, {len(model.vocab.tokens):,} types, {sizes}")
    if perplexities:
        _print_percentiles(perplexities)
    else:
        print("no --reference documents: a threshold for this model must be max_perplexity, not percentile")
    return 0


def cmd_lm_export(args: argparse.Namespace) -> int:
    from axk1.text.arpa import write_arpa
    from axk1.text.ngram_lm import NgramLM

    model = NgramLM.load(args.model, keep_arrays=True)
    path = write_arpa(model, args.output)
    print(f"wrote {path}: order {model.order}, {len(model.vocab.tokens):,} types (KenLM: kenlm.Model({str(path)!r}), "
          "or build_binary for a faster load)")
    return 0


def add_lm_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("lm", help="n-gram language models for the perplexity filter")
    lsub = q.add_subparsers(dest="lm_command", required=True, metavar="{train,tokens,import,export}")
    t = lsub.add_parser("train", help="train a Kneser-Ney n-gram model on a reference corpus of good text",
                        description="The model of [filters.perplexity] (docs/data.md, \"Perplexity filter\"). Each "
                        "reference document's held-out perplexity is stored with it, for a percentile threshold.")
    t.add_argument("inputs", nargs="+", help="plain-text files (one document each), JSONL files or folders of them "
                   "with a `text` field")
    t.add_argument("-o", "--output", required=True, help="the model file to write (.npz)")
    t.add_argument("--order", type=_lm_order, default=4, help="n-gram order, 2 to 6 (default %(default)s; 5-6 for "
                   "--units chars)")
    t.add_argument("--units", choices=UNIT_CHOICES, default="auto", help=UNIT_HELP)
    t.add_argument("--folds", type=_lm_folds, default=5, help="the reference perplexities are each document's under a "
                   "model of the other folds (default %(default)s)")
    t.add_argument("--force", action="store_true", help="replace an existing model file")
    t.set_defaults(func=cmd_lm_train)

    t = lsub.add_parser("tokens", help="write documents as the model's tokens, one a line (for KenLM's lmplz)")
    t.add_argument("inputs", nargs="+", help="plain-text files (one document each), JSONL files or folders of them")
    t.add_argument("-o", "--output", required=True, help="the text file to write")
    t.add_argument("--units", choices=UNIT_CHOICES, default="auto", help=UNIT_HELP)
    t.set_defaults(func=cmd_lm_tokens)

    t = lsub.add_parser("import", help="an ARPA model (KenLM's lmplz, SRILM) as a model file of the filter")
    t.add_argument("arpa", help="the .arpa file")
    t.add_argument("-o", "--output", required=True, help="the model file to write (.npz)")
    t.add_argument("--units", choices=UNIT_CHOICES, default="auto",
                   help="the tokens it was trained on (required: the default, auto, cannot be read from an ARPA file)")
    t.add_argument("--reference", nargs="*", default=[], help="held-out good documents (not trained on): their "
                   "perplexities make a percentile threshold possible")
    t.add_argument("--force", action="store_true", help="replace an existing model file")
    t.set_defaults(func=cmd_lm_import)

    t = lsub.add_parser("export", help="a model file as ARPA (for KenLM and other tools)")
    t.add_argument("model", help="a model file of `axk1 data lm train` or `import`")
    t.add_argument("-o", "--output", required=True, help="the .arpa file to write")
    t.set_defaults(func=cmd_lm_export)
