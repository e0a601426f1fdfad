"""run.output_dir of `axk1 data run`: --force deletes only the pipeline's own outputs (it deleted the whole folder:
inputs, the pipeline file, a user's notes), a relaunch over changed input files is refused naming them (it printed
the old table and exited 0), the same pipeline launched from another folder is the same run (it was refused
as "other settings"), and a second launch on a folder in use is refused (both ran every stage at once)."""

import json
import re

import pytest

from axk1.checkpoint.run_lock import LOCK_FILE, FolderInUse

from axk1.data.config import config_from_dict, load_pipeline_config
from axk1.data.run_folder import RUN_ENTRIES, run_entries
from axk1.data.run_settings import SETTINGS_FILE, check_settings
from tests.train_helpers import lock_held_elsewhere, try_lock_from_another_process
from tests.data_helpers import data_run, english_text, write_docs


def write_pipeline(root, output_dir="out", source="../docs", stages='["extract"]'):
    (root / "proj").mkdir(parents=True, exist_ok=True)
    toml = root / "proj" / "p.toml"
    toml.write_text(f'[run]\noutput_dir = "{output_dir}"\ntasks = 1\nworkers = 1\nstart_method = "fork"\n'
                    f'stages = {stages}\n[[sources]]\ntype = "jsonl"\npath = "{source}"\nfilter = false\n'
                    '[filters.quality]\nword_tokenizer = "regex"\n')
    return toml


def test_force_deletes_only_the_runs_outputs_and_refuses_a_folder_holding_more(tmp_path):
    write_docs(tmp_path / "docs")
    toml = write_pipeline(tmp_path, stages='["extract", "dedup", "annotate"]')
    assert data_run(toml) == 0
    out = tmp_path / "proj" / "out"
    made = {p.name for p in out.iterdir()}
    cfg = load_pipeline_config(toml)
    assert made <= run_entries(cfg) and {"settings.json", "inputs.json", "logs", "clean", "documents"} <= made
    (out / "precious.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"also holds precious\.txt; nothing was deleted"):
        data_run(toml, "--force")
    assert {p.name for p in out.iterdir()} == made | {"precious.txt"}  # nothing deleted
    (out / "precious.txt").unlink()
    assert data_run(toml, "--force") == 0
    assert (out / "documents").is_dir() and (out / SETTINGS_FILE).is_file()


def test_force_refuses_a_folder_holding_the_inputs_or_the_pipeline_file(tmp_path):
    """`output_dir = "."`: the old --force deleted the inputs, the pipeline file and everything beside them."""
    write_docs(tmp_path / "proj" / "docs")
    toml = write_pipeline(tmp_path, output_dir=".", source="docs")
    (tmp_path / "proj" / "precious.txt").write_text("mine")
    cfg = load_pipeline_config(toml)
    check_settings(cfg)  # a first launch into "." writes its settings there
    before = sorted(p.name for p in (tmp_path / "proj").iterdir())
    with pytest.raises(ValueError, match=r"holds .*docs, .*p\.toml \(a source or the pipeline file\); nothing was"):
        check_settings(cfg, force=True, pipeline_file=toml)
    assert sorted(p.name for p in (tmp_path / "proj").iterdir()) == before
    assert (tmp_path / "proj" / "docs" / "f0.jsonl").exists()


def test_force_refuses_a_folder_no_run_made(tmp_path):
    write_docs(tmp_path / "docs")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("notes")
    cfg = config_from_dict({"run": {"output_dir": str(mine), "stages": ["extract"]},
                            "sources": [{"type": "jsonl", "path": str(tmp_path / "docs")}]})
    with pytest.raises(ValueError, match=r"also holds notes\.txt; nothing was deleted"):
        check_settings(cfg, force=True)
    (mine / "notes.txt").unlink()
    (mine / "logs").mkdir()  # a name the pipeline writes, but no run's settings.json beside it
    with pytest.raises(ValueError, match="no settings.json: no `axk1 data run` made it"):
        check_settings(cfg, force=True)
    assert (mine / "logs").is_dir()


def test_a_tokenizer_the_run_trains_in_its_folder_is_its_own_one_it_reads_is_not(tmp_path):
    raw = {"run": {"output_dir": str(tmp_path / "out")}, "sources": [{"type": "jsonl", "path": str(tmp_path)}],
           "tokenize": {"tokenizer": str(tmp_path / "out" / "tok"), "train_vocab_size": 300}}
    assert "tok" in run_entries(config_from_dict(raw)) - set(RUN_ENTRIES)
    raw["tokenize"]["train_vocab_size"] = 0
    assert "tok" not in run_entries(config_from_dict(raw))


def test_changed_inputs_are_refused_naming_them_and_an_unchanged_relaunch_says_it_did_nothing(tmp_path, capsys):
    write_docs(tmp_path / "docs", n=3)
    toml = write_pipeline(tmp_path)
    assert data_run(toml) == 0
    assert "earlier run" not in capsys.readouterr().out
    assert data_run(toml) == 0  # unchanged: resumes (here: every task had finished)
    assert "nothing to do: every stage had finished" in capsys.readouterr().out
    write_docs(tmp_path / "docs", n=2, tag="Rewritten. ")
    (tmp_path / "docs" / "f2.jsonl").unlink()
    (tmp_path / "docs" / "new.jsonl").write_text(json.dumps({"text": english_text(99)}) + "\n")
    with pytest.raises(ValueError, match=r"docs: 2 changed \(f0\.jsonl, f1\.jsonl\), 1 added \(new\.jsonl\), "
                                         r"1 removed \(f2\.jsonl\).*pass --force"):
        data_run(toml)
    assert data_run(toml, "--force") == 0
    assert "nothing to do" not in capsys.readouterr().out
    summary = json.loads((tmp_path / "proj" / "out" / "summary.json").read_text())
    assert summary["inputs"] == 3  # the new files were read


def test_the_same_pipeline_from_another_folder_is_the_same_run(tmp_path, monkeypatch):
    write_docs(tmp_path / "docs")
    toml = write_pipeline(tmp_path)
    check_settings(load_pipeline_config(toml.resolve()))
    monkeypatch.chdir(tmp_path / "proj")
    check_settings(load_pipeline_config("p.toml"))  # was refused: run.output_dir ('/…/out' -> 'out'), ...
    cfg = load_pipeline_config("p.toml", ["--run.output_dir", "out", "--sources.0.path", "../docs"])
    check_settings(cfg)  # the same paths given on the command line
    cfg.sources[0].path = str(tmp_path / "proj")
    with pytest.raises(ValueError, match=r"sources\.0\.path"):
        check_settings(cfg)  # other files are other settings still


def test_a_run_recorded_before_paths_were_resolved_still_resumes(tmp_path, monkeypatch):
    """settings.json written by the version that kept paths as given ('out', '../docs'): relaunching that run is no
    change of settings, from its folder or from another."""
    write_docs(tmp_path / "docs")
    write_pipeline(tmp_path)
    monkeypatch.chdir(tmp_path / "proj")
    with monkeypatch.context() as m:
        m.setattr("axk1.data.run_settings._resolved", lambda value, base=None: value)
        check_settings(load_pipeline_config("p.toml"))
    assert json.loads((tmp_path / "proj" / "out" / SETTINGS_FILE).read_text())["sources.0.path"] == "../docs"
    check_settings(load_pipeline_config("p.toml"))
    monkeypatch.chdir(tmp_path)
    check_settings(load_pipeline_config("proj/p.toml"))


def test_a_source_holding_the_run_folder_does_not_read_the_runs_own_files(tmp_path):
    """output_dir inside a `text` source's folder: the relaunch read settings.json, summary.json and the run's
    outputs as documents (and the inputs check saw them as added files)."""
    corpus = tmp_path / "proj" / "corpus"
    corpus.mkdir(parents=True)
    for i in range(2):
        (corpus / f"t{i}.txt").write_text(english_text(i))
    toml = write_pipeline(tmp_path, output_dir="corpus/out", source="corpus")
    toml.write_text(toml.read_text().replace('type = "jsonl"', 'type = "text"'))
    out = corpus / "out"
    for argv in ([toml], [toml], [toml, "--force"]):
        assert data_run(*argv) == 0
        assert json.loads((out / "summary.json").read_text())["inputs"] == 2


@pytest.mark.parametrize("damage", ["", "[1, 2", "[]x", '[{"source": "docs", "files": 3}]', '{"a": 1}', "[" * 100_000])
def test_a_damaged_inputs_file_is_said_and_written_afresh(tmp_path, capsys, damage):
    """inputs.json cut by a kill mid-write (it was written in place) or edited failed every relaunch with a bare
    JSON error, or a traceback."""
    write_docs(tmp_path / "docs")
    toml = write_pipeline(tmp_path)
    assert data_run(toml) == 0
    recorded = tmp_path / "proj" / "out" / "inputs.json"
    recorded.write_text(damage)
    capsys.readouterr()
    assert data_run(toml) == 0
    assert "is not a listing of the sources' files" in capsys.readouterr().err
    assert json.loads(recorded.read_text())[0]["files"]  # written afresh


@pytest.mark.parametrize("damage", ['{"run": ', "[" * 100_000, "[]"])
def test_a_damaged_settings_file_is_one_line_naming_it_and_the_ways_on(tmp_path, capsys, damage):
    """settings.json cut by a kill mid-write (it was written in place) failed every relaunch with a bare JSON error
    that named no file (`Expecting value: line 1 column 9 (char 8)`), or a RecursionError traceback. Passing over
    it would let a relaunch with other settings keep the old outputs: it is refused, saying what to do."""
    from axk1.cli import main

    write_docs(tmp_path / "docs")
    toml = write_pipeline(tmp_path)
    assert data_run(toml) == 0
    settings = tmp_path / "proj" / "out" / SETTINGS_FILE
    settings.write_text(damage)
    capsys.readouterr()
    assert main(["data", "run", str(toml)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"axk1 data run: error: data-run settings {settings} ") and err.count("\n") == 1, err
    assert "pass --force" in err and f"or delete {settings} if" in err
    assert main(["data", "run", str(toml), "--force"]) == 0
    assert json.loads(settings.read_text())["run.tasks"] == 1


def test_an_old_settings_file_naming_a_deeper_folder_than_there_is_is_a_change_not_a_traceback(tmp_path):
    """An old settings.json whose relative run.output_dir has more parts than the folder's absolute path
    (the folder moved): IndexError."""
    write_docs(tmp_path / "docs")
    toml = write_pipeline(tmp_path)
    check_settings(load_pipeline_config(toml))
    settings = tmp_path / "proj" / "out" / SETTINGS_FILE
    recorded = json.loads(settings.read_text())
    recorded["run.output_dir"] = "/".join(["d"] * 60)
    settings.write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match="other settings"):
        check_settings(load_pipeline_config(toml))


def test_a_dangling_link_among_the_inputs_fails_alone(tmp_path):
    """A link whose target is gone (a moved download) stopped the whole run in the input listing ("No such file or
    directory", exit 2); it is one failed input now, the other files kept."""
    from axk1.data.stats import account

    write_docs(tmp_path / "docs")
    (tmp_path / "docs" / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    toml = write_pipeline(tmp_path)
    assert data_run(toml) == 0
    acc = account(tmp_path / "proj" / "out")
    assert acc.balanced and acc.kept == 2 and sum(acc.failed.values()) == 1
    assert "gone.jsonl" in str(acc.failed_items)
    assert data_run(toml) == 0  # the relaunch compares the same listing: nothing changed


def _listing(folder):
    # the lock file is left out: it holds the last holder's pid, whose digit count varies from run to run
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")
                  if p.is_file() and p.name != LOCK_FILE)


def test_a_second_launch_on_a_folder_in_use_is_refused_and_a_dead_launchs_lock_is_taken_over(tmp_path):
    """Two `axk1 data run` on one run.output_dir (a requeued job while the first still ran) both ran every stage,
    writing the same files at once, and one's --force deleted the other's outputs."""
    write_docs(tmp_path / "docs")
    toml = write_pipeline(tmp_path)
    out = tmp_path / "proj" / "out"
    assert data_run(toml) == 0
    before = _listing(out)
    with lock_held_elsewhere(out) as holder:
        with pytest.raises(FolderInUse, match=rf"^{re.escape(str(out))} is in use by another `axk1 data run` "
                                              rf"\(process {holder.pid} on .*another --run\.output_dir folder$"):
            data_run(toml, "--force")
        assert _listing(out) == before  # nothing deleted
    assert data_run(toml, "--force") == 0  # the killed holder's lock file is taken over
    assert try_lock_from_another_process(out) == "taken"  # and given up when the launch ends


def test_a_launch_holds_its_folder_while_it_runs(tmp_path, monkeypatch):
    import axk1.data.pipeline as pipeline

    real, seen = pipeline.run_pipeline, []

    def run_pipeline(cfg, **kwargs):
        seen.append(try_lock_from_another_process(cfg.out))  # a second launch, as the stages start
        return real(cfg, **kwargs)

    monkeypatch.setattr(pipeline, "run_pipeline", run_pipeline)
    write_docs(tmp_path / "docs")
    assert data_run(write_pipeline(tmp_path)) == 0
    assert len(seen) == 1 and seen[0].startswith(f"{tmp_path / 'proj' / 'out'} is in use by another "), seen
