"""`axk1 export` and other runs into its folder: a second export into a folder another export is writing is
refused (the run lock, beside the folder), and an export stopped mid-write (Ctrl-C, SIGTERM) leaves no hidden
staging folder of shards behind."""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.checkpoint import export as export_module
from axk1.checkpoint.dcp import save_checkpoint
from axk1.cli import main
from axk1.cli_exit import Terminated
from axk1.output_folder import swap_siblings

REPO = str(Path(axk1.__file__).resolve().parents[1])  # the axk1 under test, for the other process


@pytest.fixture(scope="module")
def step(tmp_path_factory):
    """A one-step checkpoint of the tiny model, as the trainer writes it (the loss module holds the LM as `lm`)."""
    root = tmp_path_factory.mktemp("ckpt")
    config = ModelConfig.from_preset("axk1-tiny")
    torch.manual_seed(0)
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config)
    optimizer = torch.optim.AdamW(holder.parameters())
    return save_checkpoint(root, 1, holder, optimizer, {"model_config": config.to_dict()})


# An `axk1 export` that says "writing" once it is about to write its shards (its staging folder made), then
# waits for a line on stdin before it goes on: a long export, caught mid-write.
_PAUSED_EXPORT = textwrap.dedent("""
    import sys
    from axk1.checkpoint import export
    from axk1.cli import main

    real = export.save_pretrained

    def paused(model, folder, *args, **kwargs):
        print("writing", flush=True)
        sys.stdin.readline()
        return real(model, folder, *args, **kwargs)

    export.save_pretrained = paused
    sys.exit(main(["export", sys.argv[1], sys.argv[2]]))
""")


@contextlib.contextmanager
def _paused_export(step, out: Path):
    """An `axk1 export` of `step` into `out` in a process of its own, caught mid-write while the block runs; it is
    then let go on, and its (stdout, stderr) are appended to the list the block gets."""
    first = subprocess.Popen([sys.executable, "-c", _PAUSED_EXPORT, str(step), str(out)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=REPO))
    ended = []
    try:
        assert first.stdout.readline().strip() == "writing", first.stderr.read()
        yield first, ended
        first.stdin.write("go on\n")
        first.stdin.flush()
        ended.extend(first.communicate(timeout=300))
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, ended


def test_a_second_export_into_a_folder_being_exported_is_refused(step, tmp_path, capsys):
    """Two exports into one folder both printed "exported ... to OUT" (exit 0): the second renamed the first's
    staging folder aside as an interrupted export's and deleted it, so one of the two models was silently lost.
    The second is now refused in one line while the first writes, and the first finishes whole."""
    out = tmp_path / "model"
    with _paused_export(step, out) as (first, ended):
        capsys.readouterr()
        assert main(["export", str(step), str(out)]) == 2
        said = capsys.readouterr()
        assert "exported" not in said.out
        error = said.err.strip()
        assert "\n" not in error and f"{out} is in use by another model export or merge (`axk1 export`, `axk1 " \
            f"merge`, or the export at the end of `axk1 sft`, `axk1 rl` or a demo) (process {first.pid} " in error
        assert "two runs in one folder" in error and error.endswith("another OUT folder")
    stdout, stderr = ended
    assert stdout.strip().startswith(f"exported {step} to {out}")
    assert json.loads((out / "config.json").read_text())["model_type"]
    assert list(out.glob("*.safetensors")) and not (out / ".axk1-run.lock").exists()  # the folder: the model's
    assert not any(p.exists() for p in swap_siblings(out))
    assert main(["export", str(step), str(out)]) == 0  # once the first has ended, the folder is free


def test_a_merge_into_a_folder_being_exported_is_refused(step, tmp_path, capsys):
    """`axk1 merge` replaces its -o folder as an export does (a staging folder swapped in) but took no lock: a merge
    into a folder an export was writing said it was done, and one of the two models was lost. It takes the
    export's lock now: refused in one line, and the export finishes whole."""
    source, out = tmp_path / "source", tmp_path / "model"
    export_module.export_checkpoint(step, source)
    with _paused_export(step, out) as (first, ended):
        capsys.readouterr()
        assert main(["merge", str(source), str(source), "-o", str(out)]) == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and error.startswith(f"axk1 merge: error: {out} is in use by another model export "
                                                     f"or merge (`axk1 export`, `axk1 merge`, or the export at the "
                                                     f"end of `axk1 sft`, `axk1 rl` or a demo) (process {first.pid} ")
        assert error.endswith("another -o folder")
    assert ended[0].strip().startswith(f"exported {step} to {out}")
    assert not (out / "merge.json").exists()  # the export's model, not the merge's
    assert main(["merge", str(source), str(source), "-o", str(out)]) == 0  # the folder is free again
    assert (out / "merge.json").exists()


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Terminated])
def test_an_export_stopped_mid_write_leaves_no_staging_folder(step, tmp_path, monkeypatch, stop):
    """Only an OSError removed the staging folder: Ctrl-C or SIGTERM (axk1 raises its own BaseException for it)
    while the shards were written left `.OUT.partial` full of them (95 MB of the demo's model, terabytes of a
    large one). Any stop removes it and goes on as it was."""
    out = tmp_path / "model"

    def stopped(model, folder, *args, **kwargs):
        (folder / "model-00001-of-00009.safetensors").write_bytes(b"x" * 1000)
        raise stop()

    monkeypatch.setattr(export_module, "save_pretrained", stopped)
    with pytest.raises(stop):
        export_module.export_checkpoint(step, out)
    assert not any(p.exists() for p in swap_siblings(out)) and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_refused_export_or_merge_leaves_nothing_it_made(tmp_path, capsys):
    """The lock beside OUT was taken before the checkpoint was looked at: a refused export (no checkpoint there)
    left OUT's new parent folders holding `.OUT.axk1-run.lock`, where it used to leave nothing. A folder that was
    there stays with what it held."""
    (tmp_path / "emptyck").mkdir()
    there = tmp_path / "there"
    there.mkdir()
    (there / "keep.txt").write_text("mine")
    for argv in (["export", str(tmp_path / "emptyck"), str(tmp_path / "newq" / "m")],
                 ["export", str(tmp_path / "nonexist"), str(tmp_path / "newp" / "deeper" / "m")],
                 ["export", str(tmp_path / "nonexist"), str(there / "m")],
                 ["merge", str(tmp_path / "nonexist"), str(tmp_path / "nonexist"), "-o", str(tmp_path / "newr" / "m")]):
        assert main(argv) == 2, argv
        assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "emptyck", "there", "there/keep.txt"]


@pytest.mark.parametrize("verb, argv, flag", [("export", ["{ck}", "{out}"], "OUT"),
                                              ("merge", ["{ck}", "{ck}", "-o", "{out}"], "-o")])
def test_an_out_under_a_file_is_refused_with_the_verbs_own_option(tmp_path, capsys, verb, argv, flag):
    """The advice was the training run's ("give it a writable --out (or [checkpointing] dir)"), options that
    export and merge do not have; it names the verb's own now."""
    (tmp_path / "afile").write_text("a file")
    ck, out = tmp_path / "ck", tmp_path / "afile" / "m"
    ck.mkdir()
    assert main([verb, *(a.format(ck=ck, out=out) for a in argv)]) == 2
    error = capsys.readouterr().err
    assert f"give this run another {flag} folder, one you can write to, or move away the file {tmp_path / 'afile'} " \
        "that stands in its path" in error, error
    assert "--out" not in error and "[checkpointing]" not in error, error
