"""Nothing in the package that only the tests or benchmarks reach: every module under axk1/ is imported by another
one of axk1 (a verb reaches it), or is a program axk1 runs in a process of its own. Helpers that only tests and
benchmarks call live in tests/ (tests/synthetic_shards.py, tests/vllm_folder.py, tests/memory_census.py, ...):
in the package, they read as features no command has, and docs/architecture.md listed one ("vLLM folder checks")
that no command reached."""

from tests.architecture_helpers import axk1_imports, axk1_modules

# Run as programs, by file, in the code sandbox's and math-verify's own processes (a bare `import sandbox_ns`
# from a child started on the file's folder), never imported as axk1 modules.
PROGRAMS = {
    "axk1.eval.code_judge", "axk1.eval.code_runner", "axk1.eval.math_verify_worker", "axk1.eval.sandbox_child",
    "axk1.eval.sandbox_guard", "axk1.eval.sandbox_landlock", "axk1.eval.sandbox_ns", "axk1.eval.sandbox_zygote",
}
ENTRY_POINTS = {"axk1", "axk1.__main__"}  # `import axk1`, `python -m axk1`


def test_every_module_is_reached_from_the_package():
    modules = axk1_modules()
    imported = {target for module, path in modules.items() for target, _ in axk1_imports(module, path, modules)
                if target != module}
    unreached = sorted(set(modules) - imported - PROGRAMS - ENTRY_POINTS)
    assert unreached == [], (f"{unreached}: no module of axk1 imports these; move what only tests or benchmarks "
                             "use to tests/, or call it where a user would want it")


def test_the_programs_are_still_files_of_the_package():
    assert PROGRAMS <= set(axk1_modules())  # a renamed one is taken off the list, not left to excuse another
