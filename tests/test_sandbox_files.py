"""Whatever a graded program leaves in its folder, the verdict comes back and the folder goes: folders nested past
the recursion limit (shutil.rmtree raised RecursionError, which ignore_errors does not catch, so the grade was lost
and the folder, whatever it held, stayed in /tmp), folders made unreadable, links (removed, never followed)."""

import os
import stat

from axk1.eval import sandbox
from axk1.eval.execution import run_checked, run_tests
from axk1.eval.sandbox import Limits, run_python
from axk1.eval.sandbox_files import remove_tree

DEPTH = 1200  # past the default recursion limit (1000)


def _chain(name: str) -> str:
    """Program text that nests DEPTH folders under `name`, each moved into the next, so every path stays short."""
    return (f"import os\nos.mkdir('n0')\nfor i in range(1, {DEPTH}):\n    os.mkdir('n%d' % i)\n"
            f"    os.rename('n%d' % (i - 1), 'n%d/x' % i)\nos.rename('n{DEPTH - 1}', {name!r})\n")


LOCKED = "os.makedirs('locked/inner')\nopen('locked/inner/f', 'w').write('x')\nos.chmod('locked', 0)\n"


def _made_folders(monkeypatch) -> list:
    """The run folders the sandbox makes from now on (each must be gone when its run returns)."""
    made = []
    fresh = sandbox._fresh_dir

    def recording(files):
        made.append(fresh(files))
        return made[-1]

    monkeypatch.setattr(sandbox, "_fresh_dir", recording)
    return made


def test_remove_tree_takes_any_depth_locked_folders_and_follows_no_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    top = tmp_path / "run"
    folder = top / "work"
    folder.mkdir(parents=True)
    (folder / "n0").mkdir()
    for i in range(1, DEPTH):
        (folder / f"n{i}").mkdir()
        os.rename(folder / f"n{i - 1}", folder / f"n{i}" / "x")
    (folder / "locked" / "inner").mkdir(parents=True)
    (folder / "locked" / "inner" / "f").write_text("x")
    os.chmod(folder / "locked" / "inner", 0)
    os.chmod(folder / "locked", 0o100)
    (folder / "link").symlink_to(outside)
    (folder / "file-link").symlink_to(outside / "keep")
    (folder / ".axk1-rm-1").mkdir()  # a name the flattening uses, taken already
    (folder / ".axk1-rm-1" / "y").write_text("y")
    os.chmod(folder, 0)

    assert remove_tree(top) is True
    assert not top.exists()
    assert (outside / "keep").read_text() == "kept" and stat.S_IMODE(outside.stat().st_mode) != 0
    assert remove_tree(top) is True  # gone already: nothing to do
    single = tmp_path / "single"
    single.write_text("x")
    assert remove_tree(single) is True and not single.exists()


def test_a_program_nesting_folders_past_the_recursion_limit_gets_its_verdict_and_leaves_no_folder(monkeypatch):
    made = _made_folders(monkeypatch)
    add = {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"], "fn_name": None}
    # test 0 also nests a chain under the name the runner gives test 1's error file (the runner removes it)
    program = ("import os\na, b = map(int, input().split())\nif a == 1:\n"
               + "".join("    " + line + "\n" for line in (_chain(".err1") + LOCKED).splitlines()) + "print(a + b)\n")
    outcome = run_tests(program, add, "tolerant", timeout_s=20)
    assert outcome.verdict == "pass", outcome
    checked = run_checked(_chain("deep") + LOCKED + "def f(x):\n    return x\n", "assert f(1) == 1\n")
    assert checked.verdict == "pass", checked
    script = run_python(_chain("deep") + LOCKED + "os.chmod('.', 0)\nprint('done')\n",
                        limits=Limits(wall_s=30, cpu_s=20))
    assert script.ok and script.stdout == "done\n", (script.stdout, script.stderr)
    assert len(made) == 3 and [path for path in made if os.path.lexists(path)] == []
