"""Building the command line's parser imports no torch: `axk1 --help` and `axk1 VERB --help` took ~2 s, most of it
torch and the planner's torch.distributed, imported only to build flags. A verb imports what it runs when it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "safetensors")


def _run(code: str) -> str:
    """`code` in a fresh interpreter (this one imported torch long ago); its stdout."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_building_the_parser_imports_no_torch():
    code = ("import sys\nfrom axk1.cli import build_parser\nbuild_parser()\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    assert _run(code).strip() == "[]"


def test_every_verbs_help_imports_no_torch():
    """Each verb's --help (and `plan sweep`'s, `data run`'s) as main() runs it: printed, exit 0, no torch."""
    code = ("import argparse, contextlib, io, sys\nfrom axk1.cli import build_parser, main\n"
            "sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))\n"
            "verbs = [[v] for v in sub.choices] + [['plan', 'sweep'], ['plan', 'fit'], ['data', 'run']]\n"
            "for verb in verbs:\n"
            "    text = io.StringIO()\n"
            "    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):\n"
            "        main([*verb, '--help'])\n"
            "    assert text.getvalue().startswith('usage: axk1 ' + ' '.join(verb)), (verb, text.getvalue()[:200])\n"
            f"print(len(verbs), sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    count, loaded = _run(code).strip().split(" ", 1)
    assert int(count) > 10 and loaded == "[]"
