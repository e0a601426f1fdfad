"""Shared by the data tests: a stand-in for the pipeline's failed-documents writer; `axk1 data run` of a folder of
WARC files, or of JSONL documents; the domain classifier's pick."""

import json
import random
from pathlib import Path


class FailureSink:
    """Takes the reader's failures as the pipeline's writer would; `.docs` keeps each failed Document."""

    def __init__(self):
        self.docs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, doc, rank):
        self.docs.append(doc)


def run_warc_extract(root: Path, extra: str = "") -> int:
    """`axk1 data run` of the extract stage over the WARC files in root/in (two tasks, one worker), into root/out;
    `extra`: more pipeline TOML. Its exit status."""
    import argparse

    from axk1.data.cli import add_data_parser

    (root / "pipeline.toml").write_text(f"""[run]
output_dir = "{root / 'out'}"
tasks = 2
workers = 1
stages = ["extract"]
[[sources]]
type = "warc"
path = "{root / 'in'}"
name = "crawl"
""" + extra)
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers())
    args = parser.parse_args(["data", "run", str(root / "pipeline.toml")])
    return args.func(args)


def predict(classifier, text: str) -> str:
    """The classifier's most likely domain for `text` (what label_domain takes when the rules do not decide)."""
    proba = classifier.predict_proba(text)
    return max(proba, key=proba.get)


def english_text(seed):
    """A generated English document, the same for the same seed."""
    from axk1.data.textgen import english_document

    return english_document(random.Random(seed), 2, 4)


def write_docs(folder, n=2, tag=""):
    """`n` JSONL files of one generated document each in `folder` (`tag` before each text)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"f{i}.jsonl").write_text(json.dumps({"id": f"{i}", "text": tag + english_text(i)}) + "\n")


def data_run(*argv):
    """`axk1 data run` with these arguments, in this process: its exit status."""
    import argparse

    from axk1.data.cli import add_data_parser

    p = argparse.ArgumentParser()
    add_data_parser(p.add_subparsers())
    args = p.parse_args(["data", "run", *map(str, argv)])
    return args.func(args)
