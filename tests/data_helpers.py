"""Shared by the data tests: a stand-in for the pipeline's failed-documents writer; `axk1 data run` of a folder of
WARC files."""

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
