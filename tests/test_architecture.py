"""The layering of docs/architecture.md, checked on the source: dependencies point down, and nothing imports in a
circle. Every module under axk1/ is parsed with `ast`; module-level and function-local imports count alike (a local
import still couples the two modules, it only defers the failure to run time).

A unit is a top-level subpackage (`axk1/train/`) or module (`axk1/config.py`) of axk1; `__init__` is the package's
own axk1/__init__.py (its public names). A unit may import its own modules, any unit of a lower layer, and a unit of
its own layer only through an edge listed in SIDEWAYS."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "axk1"

# Lowest first. Each layer may import only from the layers before it.
LAYERS = [
    {"user_file"},                                  # a user's file read as a regular file only
    {"presets", "toml_file", "json_text", "atomic_file", "output_folder", "hardware", "device", "text", "cli_args",
     "api_key", "http_json", "version", "rope_scaling", "signal_handlers", "settings_snapshot", "demo_stage",
     "file_size_limit", "process_rank", "sampling_ranges"},  # leaves
    {"token_shards"},                               # the token-shard format (writes with atomic_file, reads JSON)
    {"config", "dtype_flag"},                       # ModelConfig (reads presets), the dtype table; the --dtype flag
    {"model"},                                      # plain PyTorch
    {"parallel", "params", "flops"},                # applied to the model from outside; parameter and FLOP counts
    {"checkpoint"},                                 # reads and writes models, sharded or not (uses parallel)
    {"plan", "data", "synth", "train", "posttrain", "eval", "infer"},  # the capabilities
    {"demo", "long_context"},                       # run the capabilities end to end (the spine; context extension)
    {"cli_exit"},                                   # how a verb ends: exit codes, its error line, signals
    {"cli"},                                        # one verb per capability
    {"__main__", "__init__"},                       # `python -m axk1`; the package's public names
]

# The capabilities that reuse another one, and why. Anything else between capabilities is refused: a helper two
# capabilities share belongs in a lower layer (axk1/text/ is such a leaf).
SIDEWAYS = {
    ("plan", "train"): "the planner writes the trainer's recipe (train.recipe's dataclasses)",
    ("eval", "infer"): "the axk1 backend generates with infer.generate",
    ("posttrain", "train"): "SFT and RL run the pretraining trainer, its data, loss and optimizer",
    ("posttrain", "eval"): "rewards grade with eval's math grader and sandbox; decontamination reads eval sets",
    ("posttrain", "infer"): "rollouts generate with infer.generate; rows render with infer.chat",
    ("text", "json_text"): "benchmark files are read with the one JSON reader (it imports only user_file, below)",
    ("text", "atomic_file"): "a tokenizer folder's files are written whole or not at all (it imports nothing of axk1)",
    ("demo_stage", "toml_file"): "the demos' shipped recipes are read with the one TOML reader",
    ("dtype_flag", "config"): "every --dtype takes config's dtype names",
}

# Imports that break the rule today, each with why it is left. Empty: keep it so.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module under axk1/ (a package by its __init__.py)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The module an import of `name` loads: itself, or the nearest enclosing module (a name imported from a
    package's __init__, a function imported from a module)."""
    while name not in modules:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported axk1 module, line) for every import statement in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(_resolve(a.name, modules), node.lineno) for a in node.names if a.name.split(".")[0] == "axk1"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: strip level - 1 trailing parts of the package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != "axk1":
                continue
            for alias in node.names:  # `from axk1.plan import arch` imports the module axk1.plan.arch
                target = f"{base}.{alias.name}"
                found.append((target if target in modules else _resolve(base, modules), node.lineno))
    return found + _packages_run_on_the_way(module, found, modules)


def _packages_run_on_the_way(module: str, found: list[tuple[str, int]], modules: dict[str, Path]) -> list:
    """Importing `axk1.eval.tasks.base` first runs the package `axk1.eval.tasks`'s __init__ (which imports every
    task): an edge as real as the import written. Packages enclosing the importer itself are already loaded."""
    mine = {module.rsplit(".", k)[0] for k in range(module.count(".") + 1)}
    out = []
    for target, line in found:
        parts = target.split(".")
        out += [(".".join(parts[:k]), line) for k in range(1, len(parts))
                if ".".join(parts[:k]) in modules and ".".join(parts[:k]) not in mine]
    return out


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()
GRAPH = {m: _imports(m, p, MODULES) for m, p in MODULES.items()}
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each a set of nodes importing in a circle."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in MODULES}
    assert not units - LAYER_OF.keys(), f"place these in LAYERS (tests/test_architecture.py): {units - LAYER_OF.keys()}"
    assert not LAYER_OF.keys() - units, f"LAYERS names units that no longer exist: {LAYER_OF.keys() - units}"


def test_no_import_cycle_between_modules():
    edges = {m: {t for t, _ in imports if t != m} for m, imports in GRAPH.items()}
    cycles = _cycles(edges)
    assert cycles == [], f"modules importing each other, directly or through others: {cycles}"


def test_no_import_cycle_between_units():
    edges = defaultdict(set)
    for m, imports in GRAPH.items():
        edges[_unit(m)] |= {_unit(t) for t, _ in imports} - {_unit(m)}
    cycles = _cycles(edges)
    assert cycles == [], f"packages importing each other, directly or through others: {cycles}"


def test_dependencies_point_down():
    wrong = []
    for m, imports in GRAPH.items():
        for target, line in imports:
            a, b = _unit(m), _unit(target)
            if a == b or (a, b) in EXCEPTIONS or LAYER_OF[b] < LAYER_OF[a]:
                continue
            if LAYER_OF[b] == LAYER_OF[a] and (a, b) in SIDEWAYS:
                continue
            kind = "upward" if LAYER_OF[b] > LAYER_OF[a] else "sideways (not in SIDEWAYS)"
            wrong.append(f"{MODULES[m].relative_to(ROOT.parent)}:{line} imports {target}: {kind}")
    wrong = sorted(set(wrong))  # `from x import a, b, c` is one statement, one line
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("edge", sorted(SIDEWAYS) + sorted(EXCEPTIONS))
def test_listed_edges_are_used(edge):
    """A listed edge nobody uses any more goes from the list, so the list stays the truth."""
    used = {(_unit(m), _unit(t)) for m, imports in GRAPH.items() for t, _ in imports}
    assert edge in used, f"{edge} is listed but no longer imported: remove it"


def test_the_checker_sees_local_imports(tmp_path):
    """The parser counts an import inside a function as much as one at the top of the file."""
    pkg = tmp_path / "axk1"
    (pkg / "model").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "checkpoint.py").write_text("from axk1.model.a import f\n")
    (pkg / "model" / "__init__.py").write_text("")
    (pkg / "model" / "a.py").write_text("def f():\n    from axk1.checkpoint import g\n    return g\n")
    modules = {"axk1": pkg / "__init__.py", "axk1.checkpoint": pkg / "checkpoint.py",
               "axk1.model": pkg / "model" / "__init__.py", "axk1.model.a": pkg / "model" / "a.py"}
    graph = {m: {t for t, _ in _imports(m, p, modules)} for m, p in modules.items()}
    assert graph["axk1.model.a"] == {"axk1.checkpoint"}
    assert _cycles(graph) == [["axk1.checkpoint", "axk1.model.a"]]


def test_the_checker_sees_the_package_an_import_runs_first(tmp_path):
    """`from axk1.eval.tasks.base import digest` in translate.py ran tasks/__init__.py, which imports lcb_ko, which
    imports translate: a cycle no import statement spells, so the checker missed it and `import
    axk1.eval.translate` failed in a fresh interpreter."""
    pkg = tmp_path / "axk1"
    (pkg / "tasks").mkdir(parents=True)
    files = {"axk1": "__init__.py", "axk1.translate": "translate.py", "axk1.tasks": "tasks/__init__.py",
             "axk1.tasks.base": "tasks/base.py", "axk1.tasks.ko": "tasks/ko.py"}
    text = {"axk1.translate": "from axk1.tasks.base import digest\n", "axk1.tasks": "from axk1.tasks import ko\n",
            "axk1.tasks.ko": "from axk1.translate import t\nfrom axk1.tasks.base import digest\n"}
    modules = {m: pkg / f for m, f in files.items()}
    for m, path in modules.items():
        path.write_text(text.get(m, ""))
    graph = {m: {t for t, _ in _imports(m, p, modules)} for m, p in modules.items()}
    assert graph["axk1.translate"] == {"axk1.tasks.base", "axk1.tasks"}
    assert graph["axk1.tasks.ko"] == {"axk1.translate", "axk1.tasks.base"}  # its own package is already loading
    assert _cycles(graph) == [["axk1.tasks", "axk1.tasks.ko", "axk1.translate"]]


# Modules that are not imported as axk1.*: `python -m axk1` runs the CLI on import; the sandbox's fork server runs
# as a script beside its siblings (sandbox_boot.py starts it; it imports `sandbox_child`, not axk1.eval.*).
NOT_IMPORTED_ALONE = {"axk1.__main__": "runs the CLI when imported",
                      "axk1.eval.sandbox_zygote": "a script run by sandbox_boot with its folder on sys.path"}


@pytest.mark.slow  # ~25 s; test_no_import_cycle_between_modules sees the same cycles from the source
def test_every_module_imports_alone():
    """Each module imported first, as a user's `python -c "import axk1.eval.translate"` does: every axk1 module is
    dropped from sys.modules before the next is imported (third-party ones stay: they are not what is checked)."""
    import subprocess
    import sys

    names = sorted(set(MODULES) - NOT_IMPORTED_ALONE.keys())
    script = ("import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n"
              "    for k in [k for k in sys.modules if k == 'axk1' or k.startswith('axk1.')]:\n"
              "        del sys.modules[k]\n"
              "    try:\n        importlib.import_module(name)\n"
              "    except Exception as e:\n        failed.append(f'{name}: {e!r}')\n"
              "print('\\n'.join(failed))\n")
    done = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True,
                          cwd=ROOT.parent, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", done.stdout


def test_docs_diagram_shows_these_layers():
    """docs/architecture.md draws LAYERS top (highest) to bottom: each row names exactly its layer's units (as
    `name.py` or `name/`), so a unit added here and not there (cli_args.py was missing) fails."""
    import re

    text = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = text.split("```")[1]
    rows, row = [], []
    for line in diagram.splitlines():
        if line.strip() in ("│", "▼"):
            if row:
                rows.append(row)
            row = []
        elif line.strip():
            row.append(line)
    rows.append(row)
    named = [set(re.findall(r"\b(\w+)(?:\.py\b|/)", " ".join(r))) - {"axk1"} for r in rows]
    assert named == list(reversed(LAYERS))


def test_the_package_rows_that_list_files_list_every_module():
    """The table rows of docs/architecture.md that name a package's files (text/, model/, parallel/, checkpoint/)
    name all of them: model/attention_mask.py, six of checkpoint/'s and every one of parallel/'s were missing, so
    a reader looking for the run lock or the safe DCP reader was told they did not exist."""
    import re

    text = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in ("text", "model", "parallel", "checkpoint"):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{package}/` |"))
        named = set(re.findall(r"`(\w+)\.py`", row))
        files = {p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
        assert files - named == set(), (package, sorted(files - named))
        assert named - files == set(), (package, sorted(named - files))


MAX_LINES = 400  # the style guide's "files under ~400 lines": a file a newcomer reads in one sitting


def test_every_module_is_short_enough_to_read_in_one_sitting():
    """No module of the package passes 400 lines. Nothing held the rule: config.py reached 405 (four concepts, the
    YaRN block among them) before a merge was caught by hand; the fix for a long file is a new file for one of its
    concepts, not a longer limit."""
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these into files of one concept each: {long}"


def test_every_unit_below_the_spine_has_a_row_in_the_docs_table():
    """docs/architecture.md's table has a row for every package and module up to the capabilities (the spine and
    the command line above them are in its diagram): a merge once dropped the `plan/` row while rewriting its
    neighbour, and nothing noticed."""
    import re

    text = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    named = {m for row in rows for m in re.findall(r"`(\w+)(?:\.py|/)`", row)}
    spine = next(i for i, layer in enumerate(LAYERS) if "demo" in layer)
    units = set().union(*LAYERS[:spine])
    assert units - named == set(), f"add a row to docs/architecture.md for: {sorted(units - named)}"


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
