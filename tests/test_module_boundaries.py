"""Module boundaries checked on the source, beside the layering of tests/test_architecture.py: the model compiles
and distributes nothing itself, no module reaches into another's private names or attributes, only the
command-line modules parse arguments, and a name that meant two jobs is defined once."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.architecture_helpers import MODULES, ROOT


# The model is plain PyTorch: compilation and distribution are applied to it from outside (axk1/parallel/). Files of
# axk1/model/ that call torch.compile or use torch.distributed anyway, each with why. Keep the list short.
MODEL_EXCEPTIONS = {
    "attention_mask.py": "FlexAttention's kernel and block-mask build exist only compiled (eager flex_attention "
                         "materialises the T x T scores, create_block_mask evaluates the mask at every position); "
                         "compiled once per process outside the layers (DocumentMask.prepare), eager on CPU",
}


def _compile_or_distributed(source: str) -> list[str]:
    """Each torch.compile call and each use of torch.distributed in `source`, by line (is_compiling() and other
    questions to torch.compiler are not compilation)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "torch":
            names = [f"torch.{node.attr}"]
        else:
            continue
        hits = [n for n in names if n in ("torch.compile", "torch.distributed") or n.startswith("torch.distributed.")]
        found += [f"line {node.lineno}: {h}" for h in hits[:1]]
    return found


def test_the_model_compiles_and_distributes_nothing_itself():
    used = {p.relative_to(ROOT / "model").as_posix(): hits for p in sorted((ROOT / "model").rglob("*.py"))
            if (hits := _compile_or_distributed(p.read_text(encoding="utf-8")))}
    unlisted = {name: hits for name, hits in used.items() if name not in MODEL_EXCEPTIONS}
    assert not unlisted, (f"axk1/model/ calls torch.compile or uses torch.distributed in {unlisted}: apply it from "
                          "outside the model (axk1/parallel/), or list the file in MODEL_EXCEPTIONS with why")
    assert not MODEL_EXCEPTIONS.keys() - used.keys(), "MODEL_EXCEPTIONS lists files that no longer need it"


def test_the_model_check_sees_compile_and_distributed():
    seen = _compile_or_distributed("import torch\nimport torch.distributed as dist\nfrom torch.distributed import "
                                   "barrier\nf = torch.compile(g)\nif torch.compiler.is_compiling(): pass\n"
                                   "torch.distributed.get_rank()\n")
    assert [s.split(":")[0] for s in seen] == ["line 2", "line 3", "line 4", "line 6"], seen


# A name with a leading underscore is its module's own: another module that imports it couples itself to what the
# owner may change without notice (moe.py's `_Combine`, `_SwiGLU` and `_compute_dtype` were imported by
# parallel/expert_parallel.py; they are public in model/expert_kernels.py now). Each import still allowed, with why.
# Keep it short: a name another module needs is public.
PRIVATE_IMPORT_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _private_imports(module: str, path: Path, source: str | None = None) -> list[tuple[str, int]]:
    """(`module.name`, line) for each private name of another axk1 module that `path` imports (`from axk1.x import
    _y`, relative forms too) or reads off an imported axk1 module (`from axk1 import x` then `x._y`)."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != "axk1":
                continue
            for alias in node.names:
                if private(alias.name):
                    found.append((f"{base}.{alias.name}", node.lineno))
                else:
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in node.names if a.name.split(".")[0] == "axk1"})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = ast.unparse(node.value)
            if base in aliases or base.split(".")[0] == "axk1":
                found.append((f"{aliases.get(base, base)}.{node.attr}", node.lineno))
    return found


def test_no_module_imports_another_modules_private_names():
    wrong = [f"{path.relative_to(ROOT.parent)}:{line} uses {name}" for m, path in MODULES.items()
             for name, line in _private_imports(m, path)
             if (path.relative_to(ROOT).as_posix(), name) not in PRIVATE_IMPORT_EXCEPTIONS]
    assert wrong == [], ("make these names public where they are defined (or move them to a module both import):\n"
                         + "\n".join(wrong))


def test_listed_private_imports_are_used():
    used = {(path.relative_to(ROOT).as_posix(), name) for m, path in MODULES.items()
            for name, _ in _private_imports(m, path)}
    assert not PRIVATE_IMPORT_EXCEPTIONS.keys() - used, "PRIVATE_IMPORT_EXCEPTIONS lists imports no longer made"


def test_the_private_name_check_sees_every_form():
    source = ("from axk1.model.moe import MoE, _Combine\nfrom .generate import _as_prompts as ap\n"
              "from axk1 import cli_args\nimport axk1.text.korean as ko\nfrom axk1.model import moe\n"
              "x = cli_args._whole_number('1', 0, '')\ny = ko._hangul\nz = moe.__name__\nw = self._own\n")
    seen = _private_imports("axk1.infer.speculative", ROOT / "infer" / "speculative.py", source)
    assert sorted(seen, key=lambda s: s[1]) == [("axk1.model.moe._Combine", 1), ("axk1.infer.generate._as_prompts", 2),
                                                ("axk1.cli_args._whole_number", 6), ("axk1.text.korean._hangul", 7)]


def _is_cli_module(relative: str) -> bool:
    """cli.py, cli_*.py, */cli.py, */*_cli.py and __main__.py: the modules that own a verb's command line."""
    name = relative.rpartition("/")[2]
    return name in ("cli.py", "__main__.py") or name.startswith("cli_") or name.endswith("_cli.py")


# argparse belongs to the command line: a capability that takes an argparse.Namespace can be driven only by its verb
# (a recipe, a test or another capability must fake a command line to call it). Modules outside the cli files that
# import it anyway, each with why. Keep the list short.
ARGPARSE_EXCEPTIONS = {
    "dtype_flag.py": "declares the one --dtype flag every verb adds to its parser (add_dtype_flag)",
    "api_key.py": "declares --api-key-env and refuses --api-key on the parsers of serve, eval and data synth",
    "eval/settings.py": "checks a --config file's values with the flags' own types (cli_args.positive_int), so "
                        "it catches their argparse.ArgumentTypeError",
}


def _imports_argparse(source: str) -> list[int]:
    """The lines that import argparse (any form)."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "argparse" for a in node.names))
            or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "argparse")]


def test_only_the_command_line_modules_import_argparse():
    used = {rel: lines for p in sorted(ROOT.rglob("*.py"))
            if not _is_cli_module(rel := p.relative_to(ROOT).as_posix())
            and (lines := _imports_argparse(p.read_text(encoding="utf-8")))}
    unlisted = {rel: lines for rel, lines in used.items() if rel not in ARGPARSE_EXCEPTIONS}
    assert not unlisted, (f"argparse imported outside the cli modules: {unlisted}; take plain values (or a config "
                          "dataclass) and let the verb's cli.py parse the flags, or list it in ARGPARSE_EXCEPTIONS")
    assert not ARGPARSE_EXCEPTIONS.keys() - used.keys(), "ARGPARSE_EXCEPTIONS lists files that no longer import it"


def test_the_argparse_check_knows_the_cli_modules_and_every_import_form():
    assert [_is_cli_module(r) for r in ("cli.py", "cli_args.py", "data/cli.py", "data/lm_cli.py", "__main__.py",
                                        "eval/backends.py", "client.py", "data/cli_helpers.py")] == \
        [True, True, True, True, True, False, False, True]
    assert _imports_argparse("import argparse\nfrom argparse import Namespace\nimport os, argparse as ap\n"
                             "import argparser\n") == [1, 2, 3]


# Names that meant two jobs in two modules, renamed on one side by the design review: each stays defined once, where
# this says (a reader, or a grep, finding one of them finds the one it meant).
ONE_JOB_NAMES = {
    "write_manifest": "token_shards.py",      # the shard format's manifest; the corpus's is write_corpus_manifest
    "run_tests": "eval/execution.py",         # grade a program; the judge process's side is judge_io_tests
    "dry_run_command": "plan/next_steps.py",  # the command the plan prints; train's --dry-run is run_dry_run
    "load_recipe": "train/recipe.py",         # a training recipe; the synth one is load_synth_recipe
}


def test_names_that_meant_two_jobs_are_defined_once():
    defined: dict[str, list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ONE_JOB_NAMES:
                defined[node.name].append(path.relative_to(ROOT).as_posix())
    assert dict(defined) == {name: [where] for name, where in ONE_JOB_NAMES.items()}


# An object's `_private` attributes are its class's own: a module that sets one on an object it was handed (a
# model's `_compiled_decode_step`, set by infer/generate.py) stashes state where its owner does not know of it. Each
# module that still does, with why. Keep it short.
PRIVATE_SET_EXCEPTIONS = {
    "eval/sandbox_guard.py": "replaces subprocess's `_fork_exec` inside the sandbox, so the program graded cannot "
                             "start a process (the guard's whole job)",
}


def _private_attributes_set(source: str) -> list[str]:
    """`line N: target` for each assignment (or setattr with a literal name) to a `_private` attribute of an object
    other than `self` or `cls`."""
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    found = []
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in (t for top in targets for t in ast.walk(top)):
            if isinstance(target, ast.Attribute) and private(target.attr) and \
                    ast.unparse(target.value) not in ("self", "cls"):
                found.append(f"line {node.lineno}: {ast.unparse(target)}")
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "setattr" and len(node.args) >= 2 and \
                isinstance(node.args[1], ast.Constant) and private(str(node.args[1].value)) and \
                ast.unparse(node.args[0]) not in ("self", "cls"):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_sets_a_private_attribute_of_another_object():
    used = {p.relative_to(ROOT).as_posix(): hits for p in sorted(ROOT.rglob("*.py"))
            if (hits := _private_attributes_set(p.read_text(encoding="utf-8")))}
    unlisted = {name: hits for name, hits in used.items() if name not in PRIVATE_SET_EXCEPTIONS}
    assert not unlisted, (f"private attributes set from outside their class: {unlisted}; keep the state beside the "
                          "object (a weakref.WeakKeyDictionary keyed by it), or give its class a public way")
    assert not PRIVATE_SET_EXCEPTIONS.keys() - used.keys(), "PRIVATE_SET_EXCEPTIONS lists files that no longer do it"


def test_the_private_attribute_check_sees_every_form():
    seen = _private_attributes_set("model._step = 1\nself._mine = 2\nmodel.lm_head._cache += 1\n"
                                   "setattr(model, '_x', 3)\nsetattr(self, '_y', 4)\nmodel.public = 5\n"
                                   "a, b._z = 6, 7\nclass C:\n    def f(cls):\n        cls._count = 0\n")
    assert sorted(s.split(":")[0] for s in seen) == ["line 1", "line 3", "line 4", "line 7"], seen
