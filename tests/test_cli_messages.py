"""What the recipe verbs say when a run stops or has nothing left: advice that works when followed."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from axk1.cli import main
from tests.train_helpers import write_recipe


def test_ctrl_c_before_the_first_checkpoint_does_not_send_the_user_to_resume(tmp_path, capsys, monkeypatch):
    """`timeout -s INT 3 axk1 train R` said "run the same command with --resume", which then refused: no checkpoint.
    The hint was set only when the interrupt landed inside fit(), not in the start-up before it."""
    from axk1.train.trainer import Trainer

    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "__init__", interrupted)  # while the model was being built
    assert main(["train", str(path)]) == 130
    err = capsys.readouterr().err
    assert "axk1 train: interrupted (no checkpoint was saved yet: run the command again to start over)" in err, err
    monkeypatch.undo()
    assert main(["train", str(path), "--max-steps", "2"]) == 0  # a checkpoint at step 2
    capsys.readouterr()
    monkeypatch.setattr(Trainer, "fit", interrupted)
    assert main(["train", str(path), "--resume"]) == 130
    assert "(the newest checkpoint is step 2: run the same command to go on)" in capsys.readouterr().err


def test_ctrl_c_while_the_recipe_is_read_says_to_run_it_again(monkeypatch, capsys, tmp_path):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("axk1.train.recipe.load_recipe", interrupted)
    assert main(["train", str(write_recipe(tmp_path)), "--resume"]) == 130
    assert "interrupted (nothing was saved yet: run the same command to start again)" in capsys.readouterr().err


def test_ctrl_c_while_the_verbs_are_imported_is_a_line_not_a_traceback(monkeypatch, capsys):
    """`timeout -s INT 1 axk1 train R` landed in build_parser()'s imports (torch), before main()'s handler."""
    import pytest

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("axk1.cli._build_parser", interrupted)
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["train", "recipe.toml"])
    assert e.value.code == 130
    assert "axk1: interrupted while starting (nothing was done" in capsys.readouterr().err


# `axk1` whose parser build (the verbs' imports) gets the signal argv[1] names, from the kernel as `kill` sends it
_STOPPED_WHILE_STARTING = """
import os, signal, sys
import axk1.cli as cli

stop = getattr(signal, sys.argv[1])

def stopped():
    os.kill(os.getpid(), stop)
    raise AssertionError("the signal did not stop the start-up")

cli._build_parser = stopped
sys.argv = ["axk1", "train", "recipe.toml"]
sys.exit(cli.main())
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_while_the_verbs_are_imported_is_a_line_as_ctrl_c_is(name):
    """A Ctrl-C in start-up said "axk1: interrupted while starting ..." (130), but a SIGTERM or SIGHUP, whose handler
    main() installed only once the command line was read, ended the process with no line (-15, -1)."""
    repo = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "RANK"}
    proc = subprocess.run([sys.executable, "-c", _STOPPED_WHILE_STARTING, name], capture_output=True, text=True,
                          timeout=120, env={**env, "PYTHONPATH": repo})
    assert proc.returncode == 128 + getattr(signal, name), (proc.returncode, proc.stderr[-3000:])
    assert proc.stderr.strip() == (f"axk1: stopped by {name} while starting (nothing was done: run the same command "
                                   "to start again)"), proc.stderr


def test_a_run_that_max_steps_ends_says_to_raise_it_not_to_make_a_new_recipe(tmp_path, capsys):
    """`--resume --max-steps 2` after 3 steps of an 80-step recipe said "complete at step 3 of 2 ... a longer run needs
    a recipe with more tokens, in a new --out folder": the limit was --max-steps."""
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)  # 4 steps
    assert main(["train", str(path), "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert main(["train", str(path), "--resume", "--max-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "max_steps (--max-steps or [run] max_steps) is 1 of the recipe's 4 steps" in out, out
    assert "a larger --max-steps" in out and "new --out folder" not in out



def test_resume_auto_starts_a_fresh_run_and_goes_on_from_its_checkpoint(tmp_path, capsys):
    """A scheduler's requeued job (sbatch --requeue) runs one command line again: `--resume` refused the first launch
    (no checkpoint) and a launch without it refused the folder it had filled. `--resume auto` does both."""
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)  # 4 steps
    assert main(["train", str(path), "--resume", "auto", "--max-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "--resume auto: no checkpoint in " in out and " yet: the run starts" in out, out
    assert main(["train", str(path), "--resume", "auto"]) == 0
    out = capsys.readouterr().out
    assert "--resume auto: going on from step 2, the newest checkpoint in " in out, out
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]  # each step once: continued, not started over
    with pytest.raises(SystemExit):
        main(["train", str(path), "--resume", "always"])
    assert "invalid choice: 'always'" in capsys.readouterr().err

def test_a_prompt_is_text_wherever_a_tokenizer_can_read_it_and_ids_are_asked_for_by_name(tmp_path, tiny_config,
                                                                                          capsys, monkeypatch):
    """`--prompt "2024"` on a folder with tokenizer.json went in as the token id 2024 (and `--prompt 99999` failed
    "token id out of range"), though the help said the prompt is text there. Now digits are text when a tokenizer
    exists, and --prompt-ids is the way to give ids."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    import functools
    import importlib
    from axk1 import AXK1ForCausalLM, save_pretrained

    torch.manual_seed(0)
    folder = tmp_path / "m"
    save_pretrained(AXK1ForCausalLM(tiny_config), folder)
    assert main(["generate", str(folder), "--prompt", "hello", "--max-new-tokens", "2"]) == 2  # no tokenizer: ids
    assert "--prompt-ids '1 42 7'" in capsys.readouterr().err
    assert main(["generate", str(folder), "--prompt", "5 9", "--max-new-tokens", "2"]) == 0
    capsys.readouterr()
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    tokenizer.train_from_iterator(["the year 2024 and 99999"] * 50, trainers.BpeTrainer(vocab_size=300))
    tokenizer.save(str(folder / "tokenizer.json"))
    generate_module = importlib.import_module("axk1.infer.generate")  # (axk1.infer.generate is also a function)
    seen, real = [], generate_module.generate

    @functools.wraps(real)  # the flags' defaults are read from its signature
    def spy(model, prompts, **kw):
        seen.append(list(prompts[0]))
        return real(model, prompts, **kw)

    monkeypatch.setattr(generate_module, "generate", spy)
    for prompt in ("2024", "99999"):
        assert main(["generate", str(folder), "--prompt", prompt, "--max-new-tokens", "2"]) == 0, prompt
        assert seen[-1] == tokenizer.encode(prompt).ids, prompt
    assert main(["generate", str(folder), "--prompt-ids", "5,9", "--max-new-tokens", "2"]) == 0
    assert seen[-1] == [5, 9]
    out = capsys.readouterr().out.splitlines()[-1].split()
    assert out and all(t.isdigit() for t in out)  # ids in, ids out
    assert main(["generate", str(folder), "--prompt-ids", "five", "--max-new-tokens", "2"]) == 2
    assert "--prompt-ids takes token ids" in capsys.readouterr().err


def test_a_tokenizer_smaller_than_asked_says_so_and_a_model_larger_than_its_tokenizer_is_noted(tmp_path, capsys):
    """`axk1 data tokenizer train docs -o tok` (163,840 asked) gave 3,084 entries and said nothing; a recipe with
    vocab_size 8192 then trained ~5,000 embedding rows no token uses, silently."""
    import json

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"short text number {i % 7}"}) + "\n" for i in range(40)))
    assert main(["data", "tokenizer", "train", str(docs), "-o", str(tmp_path / "tok"), "--vocab-size", "4096"]) == 0
    captured = capsys.readouterr()
    assert "(asked for 4,096)" in captured.out
    assert "warning: the tokenizer has" in captured.err and "too small for more merges" in captured.err

    recipe = write_recipe(tmp_path)  # shards of a 512-id tokenizer (the manifest's vocab_size)
    assert main(["train", str(recipe), "--dry-run", "--model.overrides.vocab_size", "8192"]) == 0
    out = capsys.readouterr().out
    assert "note: the model's vocab_size is 8,192 but the shards' tokenizer has 512 ids" in out, out
    assert main(["train", str(recipe), "--dry-run"]) == 0  # axk1-tiny's own vocab_size: no note
    assert "never trained" not in capsys.readouterr().out


def test_plan_mfu_as_a_percentage_says_the_flag_takes_a_fraction(capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main(["plan", "--gpu", "H100", "--gpus", "8", "--days", "1", "--mfu", "40"])
    assert e.value.code == 2
    assert "--mfu is a fraction of the peak (for 40% give 0.4)" in capsys.readouterr().err


def test_global_tokens_below_one_sequence_is_refused_and_a_remainder_is_said_at_start(tmp_path, capsys):
    """`global_tokens = 100` at seq_len 256 became one 256-token sequence a step, and a remainder was dropped, both
    without a word outside the dry run."""
    recipe = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)  # seq_len 32
    assert main(["train", str(recipe), "--batch.global_tokens", "20"]) == 2
    assert "[batch] global_tokens = 20 is less than one sequence of seq_len 32" in capsys.readouterr().err
    assert main(["train", str(recipe), "--batch.global_tokens", "100", "--max-steps", "1"]) == 0
    assert "note: [batch] global_tokens = 100 is not a multiple of seq_len 32: a step at that length takes 3 " \
           "sequences = 96 tokens" in capsys.readouterr().out


def test_a_negative_batch_size_is_refused_and_an_ignored_one_is_said_at_start(tmp_path, capsys):
    """`global_tokens = -1` passed the recipe check and the dry run and trained one sequence a step; a
    global_sequences beside a global_tokens was said to be ignored by the dry run alone."""
    recipe = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)  # global_sequences = 8, seq_len 32
    for key in ("global_tokens", "global_sequences"):
        for dry in ([], ["--dry-run"]):
            assert main(["train", str(recipe), f"--batch.{key}", "-1", *dry]) == 2
            assert f"[batch] {key} = -1 is negative: set it > 0" in capsys.readouterr().err
    assert main(["train", str(recipe), "--batch.global_tokens", "256", "--max-steps", "1"]) == 0
    assert capsys.readouterr().out.count("note: [batch] global_sequences = 8 is ignored: global_tokens = 256 "
                                         "decides the sequences per step") == 1


def test_ctrl_c_in_a_data_run_says_a_rerun_resumes(monkeypatch, capsys, tmp_path):
    """`axk1 data run` after Ctrl-C said "interrupted" alone; a relaunch resumes (datatrove's completion markers,
    tests/test_data_pipeline.py::test_run_end_to_end_two_workers_and_relaunch)."""
    import axk1.data.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(axk1.data.cli, "cmd_run", interrupted)
    assert main(["data", "run", str(tmp_path / "p.toml")]) == 130
    assert "axk1 data: interrupted (finished tasks are kept: run the same command to resume" in capsys.readouterr().err


def test_generate_refuses_a_temperature_that_is_not_a_finite_number_and_a_seed_torch_cannot_take(tmp_path, capsys,
                                                                                                 tiny_config):
    """`--temperature nan` passed `temperature < 0` and sampled from NaN probabilities (the vocabulary's last id every
    time, exit 0); `--seed 99999999999999999999999` was "Overflow when unpacking long long", naming no flag."""
    import pytest
    import torch

    from axk1 import AXK1ForCausalLM, save_pretrained
    from axk1.infer.sampling import check_sampling

    torch.manual_seed(0)
    folder = tmp_path / "m"
    save_pretrained(AXK1ForCausalLM(tiny_config), folder)
    for flag, value, said in (("--temperature", "nan", "nan must be a finite number >= 0"),
                              ("--temperature", "inf", "inf must be a finite number >= 0"),
                              ("--seed", str(2**64), "must be from -2**63 to 2**63 - 1")):
        with pytest.raises(SystemExit) as stop:
            main(["generate", str(folder), "--prompt-ids", "1 2 3", "--max-new-tokens", "2", flag, value])
        assert stop.value.code == 2
        assert f"argument {flag}: " in (err := capsys.readouterr().err) and said in err, err
    for temperature in (float("nan"), float("inf"), -1.0):  # the library's check, which the server's engine uses too
        with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
            check_sampling(temperature, 1.0, 0)
    assert main(["generate", str(folder), "--prompt-ids", "1 2 3", "--max-new-tokens", "2", "--temperature", "0.7",
                 "--seed", str(2**63 - 1)]) == 0


def test_train_refuses_max_steps_0_which_trained_the_whole_run(tmp_path, capsys):
    """`axk1 train R --max-steps 0` became [run] max_steps = 0, "all stages", and trained all 12 steps (sft and rl
    refuse 0)."""
    import pytest

    path = write_recipe(tmp_path)
    for value in ("0", "-1"):
        with pytest.raises(SystemExit) as stop:
            main(["train", str(path), "--max-steps", value])
        assert stop.value.code == 2
        assert f"argument --max-steps: {value} must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_named_option_given_0_is_refused_naming_the_flag_typed(tmp_path, capsys):
    """`axk1 data run P --workers 0` and `axk1 data synth ... --concurrency 0` were dropped by a truthiness test and
    ran with the file's value, silently; a negative --concurrency was refused as `--teacher.concurrency`, a flag
    nobody typed."""
    import pytest

    for argv, flag in ((["data", "run", str(tmp_path / "pipe.toml")], "--workers"),
                       (["data", "synth", str(tmp_path / "docs.jsonl"), "--teacher", "openai:http://127.0.0.1:9/v1",
                         "--recipe", str(tmp_path / "synth.toml"), "-o", str(tmp_path / "out.jsonl")], "--concurrency")):
        for value in ("0", "-2"):
            with pytest.raises(SystemExit) as stop:
                main([*argv, flag, value])
            assert stop.value.code == 2
            assert f"argument {flag}: {value} must be at least 1" in capsys.readouterr().err


def test_the_progress_bar_writes_plain_lines_where_stderr_is_not_a_terminal(tmp_path, capsys):
    """`[logging] progress = true` (the default) wrote tqdm's carriage-return frames into a log file when the output
    was redirected; there it is now one line per log row, and no frame."""
    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace("progress = false", "progress = true").replace("every_steps = 1",
                                                                                          "every_steps = 2"))
    assert main(["train", str(path), "--max-steps", "3"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("train: step")]
    assert [line.split("  ")[0] for line in lines] == ["train: step 2/3", "train: step 3/3"], err
    assert "stage s1" in lines[0] and "loss " in lines[0]
