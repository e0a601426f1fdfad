"""The layering of docs/architecture.md, checked on the source: dependencies point down, and nothing imports in a
circle. Every module under axk1/ is parsed with `ast`; module-level and function-local imports count alike (a local
import still couples the two modules, it only defers the failure to run time).

A unit is a top-level subpackage (`axk1/train/`) or module (`axk1/config.py`) of axk1; `__init__` is the package's
own axk1/__init__.py (its public names). A unit may import its own modules, any unit of a lower layer, and a unit of
its own layer only through an edge listed in SIDEWAYS.

The tests obey a rule of their own: a test module (tests/test_*.py) imports what it shares from helper modules
(tests/*_helpers.py and the like), never from another test module."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.architecture_helpers import MODULES, ROOT, axk1_imports


# Lowest first. Each layer may import only from the layers before it.
LAYERS = [
    {"user_file"},                                  # a user's file read as a regular file only
    {"presets", "toml_file", "json_text", "atomic_file", "output_folder", "hardware", "device", "text", "cli_args",
     "api_key", "http_json", "version", "rope_scaling", "signal_handlers", "settings_snapshot", "demo_stage",
     "file_size_limit", "process_rank", "sampling_ranges", "compressed_file"},  # leaves
    # the token-shard format (atomic_file, JSON); a verb's flags from a TOML file; a set of files replaced as one
    # (output_folder, signal_handlers: eval's results, posttrain's tasks)
    {"token_shards", "cli_flag_file", "file_set"},
    {"config", "dtype_flag"},                       # ModelConfig (reads presets), the dtype table; the --dtype flag
    {"model"},                                      # plain PyTorch
    {"parallel", "params", "flops"},                # applied to the model from outside; parameter and FLOP counts
    {"checkpoint"},                                 # reads and writes models, sharded or not (uses parallel)
    {"plan", "data", "synth", "train", "posttrain", "eval", "infer"},  # the capabilities
    {"demo", "long_context"},                       # run the capabilities end to end (the spine; context extension)
    {"cli_report"},                                 # a verb's error line, once per torchrun launch
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
    ("text", "compressed_file"): "a compressed benchmark file is read with the one reader (a leaf of no import)",
    ("text", "atomic_file"): "a tokenizer folder's files are written whole or not at all (it imports nothing of axk1)",
    ("demo_stage", "toml_file"): "the demos' shipped recipes are read with the one TOML reader",
    ("dtype_flag", "config"): "every --dtype takes config's dtype names",
    ("cli_args", "sampling_ranges"): "--seed takes the one seed range, the one `axk1 serve` takes too",
}

# Imports that break the rule today, each with why it is left. Empty: keep it so.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {m: axk1_imports(m, p, MODULES) for m, p in MODULES.items()}
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
    graph = {m: {t for t, _ in axk1_imports(m, p, modules)} for m, p in modules.items()}
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
    graph = {m: {t for t, _ in axk1_imports(m, p, modules)} for m, p in modules.items()}
    assert graph["axk1.translate"] == {"axk1.tasks.base", "axk1.tasks"}
    assert graph["axk1.tasks.ko"] == {"axk1.translate", "axk1.tasks.base"}  # its own package is already loading
    assert _cycles(graph) == [["axk1.tasks", "axk1.tasks.ko", "axk1.translate"]]


TESTS = Path(__file__).resolve().parent
# `from tests.test_x import ...`, `import tests.test_x`, `from tests import test_x` in code a test hands a child
# process as a string: the child runs the other test module's top level just the same
TEST_IMPORT_IN_TEXT = re.compile(r"^[ \t]*(?:from[ \t]+(tests\.test_\w+)[ \t]+import|import[ \t]+(tests\.test_\w+)|"
                                 r"from[ \t]+tests[ \t]+import[ \t]+\(?[ \t]*(test_\w+))", re.M)


def _test_modules_imported(path: Path) -> list[tuple[str, int]]:
    """(imported test module, line) for every import of a tests/test_*.py module in the file: import statements at
    any depth, relative ones included, and code held in strings."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if re.match(r"(tests\.)?test_", a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if re.match(r"(tests\.)?test_", base):  # `from tests.test_x import ...`, `from .test_x import ...`
                found.append((base, node.lineno))
            elif base == "tests" or (node.level and not base):  # `from tests import test_x`, `from . import test_x`
                found += [(a.name, node.lineno) for a in node.names if a.name.startswith("test_")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for m in TEST_IMPORT_IN_TEXT.finditer(node.value):
                found.append((next(g for g in m.groups() if g), node.lineno + node.value.count("\n", 0, m.start())))
    return sorted(found, key=lambda f: f[1])


def test_no_test_module_imports_another_test_module():
    """Importing a test module runs its top level (its fixtures and constants are built, its imports made) and ties
    two test files together: renaming one breaks the other. What tests share lives in helper modules."""
    found = [f"{p.relative_to(TESTS.parent)}:{line} imports {name}" for p in sorted(TESTS.glob("*.py"))
             for name, line in _test_modules_imported(p)]
    assert not found, ("move what these import into a helper module (tests/*_helpers.py, or a new one for its "
                       "area) and import it from there:\n" + "\n".join(found))


def test_the_test_import_checker_sees_every_form(tmp_path):
    """Each way of importing a test module is found; helper modules, and names that only look alike, are not.
    (TESTS_ stands for the package here, or this file's own text would be an import of test_b.)"""
    path = tmp_path / "test_a.py"
    path.write_text("from TESTS_.test_b import helper\nimport TESTS_.test_c\nfrom TESTS_ import test_d\n"
                    "from .test_e import x\nfrom . import test_f\n"
                    "def f():\n    from TESTS_.test_g import y\n"
                    'CHILD = """\nimport os\nfrom TESTS_.test_h import z\n"""\n'
                    "from TESTS_.train_helpers import write_recipe\nfrom TESTS_ import serve_helpers\n"
                    "from axk1.eval.test_cases import run\nTEXT = 'the test_i tests'\n".replace("TESTS_", "tests"))
    assert _test_modules_imported(path) == [
        ("tests.test_b", 1), ("tests.test_c", 2), ("test_d", 3), ("test_e", 4), ("test_f", 5), ("tests.test_g", 7),
        ("tests.test_h", 10)]


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
