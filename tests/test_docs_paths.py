"""Every repository path the README, docs/, recipes and code comments cite exists, and every section they cite by
name ("docs/training.md, "Faults"") is a heading or a bold lead-in of that page: a renamed file or section
otherwise leaves readers a dead reference."""

import glob
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a path starting at one of the repository's top folders, not inside a longer path or word
PATH = re.compile(r"(?<![\w/.-])((?:docs|axk1|tests|benchmarks|recipes|\.ci)/[\w./*{},-]*[\w*}])")
# the quotes may be escaped, as inside a Python string ("see (docs/data.md, \\"Sources\\")")
SECTION = re.compile(r"((?:docs|benchmarks)/[\w.-]+\.md)`?,? \\?\"([^\"\\]+)\\?\"")


def _sources() -> list[Path]:
    return [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml", *ROOT.glob("docs/*.md"),
            *ROOT.glob("benchmarks/*.md"), *ROOT.glob("recipes/**/*.toml"), *ROOT.glob("axk1/**/*.py"),
            *ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")]


def _expand(cited: str) -> list[str]:
    """`recipes/posttrain/{sft-*,rl,tasks}.toml` -> one pattern per alternative; `file.py::name` -> the file."""
    cited = cited.split("::")[0].rstrip(".,")
    braces = re.search(r"\{([^}]*)\}", cited)
    if not braces:
        return [cited]
    return [cited[:braces.start()] + alt + cited[braces.end():] for alt in braces.group(1).split(",")]


def dead_paths(text: str) -> list[str]:
    # not paths of this repository: a store key (axk1/cli.py), a test's sample value and module name, a unit
    # (documents per second, benchmarks/RESULTS.md), and what a run writes (recipes/data/../../out)
    return [alt for m in PATH.finditer(text) for alt in _expand(m.group(1))
            if not glob.glob(str(ROOT / alt)) and not (ROOT / alt).exists() and "/../" not in alt
            and not alt.startswith(("axk1/error/", "recipes/out/", "tests/test_train_device")) and alt != "docs/s"]


def dead_sections(text: str) -> list[str]:
    dead = []
    for page, section in SECTION.findall(" ".join(text.split())):
        body = (ROOT / page).read_text() if (ROOT / page).exists() else ""
        titles = [line.lstrip("#").strip() for line in body.splitlines() if line.startswith("#")]
        titles += re.findall(r"\*\*([^*]+)\*\*", body)
        if not any(section.lower() in t.lower() for t in titles):
            dead.append(f'{page}, "{section}"')
    return dead


def test_cited_paths_and_sections_exist():
    cited, dead = 0, []
    for source in _sources():
        if source.name == Path(__file__).name:  # its own examples of dead references
            continue
        text = source.read_text(errors="replace")
        cited += len(PATH.findall(text))
        dead += [f"{source.relative_to(ROOT)}: {d}" for d in dead_paths(text) + dead_sections(text)]
    assert cited > 500  # the pattern still finds the citations (a broken one would pass vacuously)
    assert not dead, "\n".join(dead)


def test_the_checker_finds_a_dead_path_and_section():
    text = ('see `docs/trainng.md` and (docs/training.md, "Resume"), `recipes/posttrain/{rl,sft-thnk}.toml`, '
            '`axk1/train/recipe.py::load_recipe`, (docs/training.md, "Fault tolerance"), '
            '"(docs/data.md, \\"Nowhere\\")"')
    assert dead_paths(text) == ["docs/trainng.md", "recipes/posttrain/sft-thnk.toml"]
    assert dead_sections(text) == ['docs/training.md, "Fault tolerance"', 'docs/data.md, "Nowhere"']
