import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from axk1 import AXK1ForCausalLM, ModelConfig, save_pretrained
from axk1.cli import main


def _folder(tmp_path, config):
    torch.manual_seed(0)
    save_pretrained(AXK1ForCausalLM(config), tmp_path / "m")
    return tmp_path / "m"


def test_generate_from_token_ids(tmp_path, tiny_config, capsys):
    folder = _folder(tmp_path, tiny_config)
    assert main(["generate", str(folder), "--prompt", "1 5 9", "--max-new-tokens", "6"]) == 0
    captured = capsys.readouterr()
    tokens = captured.out.split()
    assert len(tokens) <= 6 and all(0 <= int(t) < tiny_config.vocab_size for t in tokens)
    assert "tok/s" in captured.err


def test_generate_without_a_limit_stays_within_the_context(tmp_path, tiny_config, capsys):
    """The default limit (32) was not clamped: a prompt within 32 tokens of the context was refused for a limit
    nobody set ("ask for at most 7"); an explicit limit past the context is still refused, naming how many fit."""
    folder = _folder(tmp_path, tiny_config)
    context = tiny_config.max_position_embeddings
    prompt = " ".join(["5"] * (context - 7))
    assert main(["generate", str(folder), "--prompt", prompt, "--device", "cpu"]) == 0
    assert 1 <= len(capsys.readouterr().out.split()) <= 7
    assert main(["generate", str(folder), "--prompt", prompt, "--max-new-tokens", "32", "--device", "cpu"]) == 2
    assert "ask for at most 7 new tokens" in capsys.readouterr().err


def test_generate_stops_at_generation_configs_eos(tmp_path, tiny_config, capsys):
    # A folder whose end of turn is listed in generation_config.json only (as `axk1 serve` and vLLM read it) ran on to
    # --max-new-tokens: generate stopped at config.json's eos alone.
    folder = _folder(tmp_path, tiny_config)
    args = ["generate", str(folder), "--prompt", "1 5 9", "--max-new-tokens", "6", "--device", "cpu"]
    assert main(args) == 0
    tokens = [int(t) for t in capsys.readouterr().out.split()]
    stop = tokens[2]
    assert stop not in tiny_config.eos_token_ids and stop not in tokens[:2]
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [stop]}))
    assert main(args) == 0
    captured = capsys.readouterr()
    assert [int(t) for t in captured.out.split()] == tokens[:2] and "finish: stop" in captured.err


def test_generate_picks_its_device_and_decode_loop(tmp_path, tiny_config, capsys):
    """--device (auto by default: CUDA when torch sees one) and --cuda-graph (the static decode step; captured on
    CUDA, uncaptured on CPU) give the plain loop's tokens; conflicting loops and a missing GPU are clear errors."""
    folder = _folder(tmp_path, tiny_config)
    args = ["generate", str(folder), "--prompt", "1 5 9", "--max-new-tokens", "6"]
    assert main(args + ["--device", "cpu"]) == 0
    plain = capsys.readouterr().out
    assert main(args + ["--device", "cpu", "--cuda-graph"]) == 0
    assert capsys.readouterr().out == plain
    assert main(args + ["--compile", "--cuda-graph"]) == 2
    assert "choose one" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(args + ["--device", "cuda"]) == 2
        assert "--device 'cuda' but this torch sees no GPU" in capsys.readouterr().err
    assert main(args + ["--device", "tpu9"]) == 2
    assert "is not a device" in capsys.readouterr().err
    assert main(["serve", str(folder), "--device", "tpu9"]) == 2  # before anything loads or listens
    assert "--device 'tpu9' is not a device" in capsys.readouterr().err
    for verb in (args, ["serve", str(folder)]):  # torch knows these devices; axk1 would fail deep in the model
        assert main(verb + ["--device", "meta"]) == 2
        assert "--device 'meta': axk1 runs on \"cpu\" or \"cuda\"" in capsys.readouterr().err
    assert main(["posttrain", "heldout", str(folder), str(tmp_path / "tasks.jsonl"), "--device", "tpu9"]) == 2
    assert "--device 'tpu9' is not a device" in capsys.readouterr().err


def test_generate_text_needs_a_tokenizer(tmp_path, tiny_config, capsys):
    folder = _folder(tmp_path, tiny_config)
    assert main(["generate", str(folder), "--prompt", "안녕하세요"]) == 2
    assert "no tokenizer.json" in capsys.readouterr().err

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"])
    tokenizer.train_from_iterator(["안녕하세요 반갑습니다", "hello world"] * 50, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    assert main(["generate", str(folder), "--prompt", "안녕하세요", "--max-new-tokens", "4"]) == 0


def test_generate_rejects_missing_folder(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nowhere"), "--prompt", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv, says", [
    (["train", str(ROOT / "recipes"), "--dry-run"], f"{ROOT / 'recipes'} is not a regular file (a folder, "),
    (["data", "run", str(ROOT / "recipes" / "data")], f"{ROOT / 'recipes' / 'data'} is not a regular file (a folder, "),
    (["plan", "--gpu", "H200", "--gpus", "8", "--days", "1", "-o", str(ROOT / "README.md")],
     f"File exists: {ROOT / 'README.md'}"),
])
def test_a_path_of_the_wrong_kind_is_an_error_naming_it_not_a_traceback(argv, says, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_data_run_without_its_sources_is_refused_before_it_writes(tmp_path, capsys):
    """The shipped starter recipe before `axk1 data starter` (or from a copy whose ../../out is elsewhere): one line
    naming the source and the override, no reader task started, no run folder written."""
    recipe = tmp_path / "recipes" / "data" / "starter.toml"
    recipe.parent.mkdir(parents=True)
    shutil.copy(ROOT / "recipes" / "data" / "starter.toml", recipe)
    assert main(["data", "run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"source 'web': {tmp_path / 'out' / 'starter' / 'web'} does not exist" in err
    assert "--sources.0.path DIR" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, flag", [
    (["train", str(ROOT / "recipes" / "demo.toml"), "--dry-run", "--world-size", "-4"], "--world-size"),
    (["train", str(ROOT / "recipes" / "demo.toml"), "--dry-run", "--world-size", "0"], "--world-size"),
    (["posttrain", "heldout", "m", "t.jsonl", "--limit", "-2"], "--limit"),
    (["posttrain", "heldout", "m", "t.jsonl", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["posttrain", "tasks", "-o", "x", "--train", "-5"], "--train"),
    (["demo", "--steps", "-1"], "--steps"),
    (["serve", "m", "--port", "70000"], "--port"),
])
def test_bad_numbers_are_refused_before_any_work(argv, flag, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["generate", "m", "--prompt", "hi"], ["params", "axk1-tiny"], ["serve", "m"],
                                  ["eval"], ["export", "a", "b"], ["merge", "a", "b", "-o", "c"], ["demo"], ["demo-long"],
                                  ["plan"], ["plan", "sweep", "-o", "x"], ["posttrain", "tasks", "-o", "x"],
                                  ["data", "starter", "-o", "x"]])
def test_an_unknown_flag_is_refused_by_the_verb_that_was_given_it(argv, capsys):
    """`axk1 generate m --bogus` said `axk1: error: unrecognized arguments`, where every other error of a verb
    names it (`axk1 train: error: unexpected argument ...`): the verb's own parser says it now."""
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--bogus-flag"])
    verb = " ".join(a for a in argv if a in ("generate", "params", "serve", "eval", "export", "merge", "demo",
                                             "demo-long", "plan", "sweep", "posttrain", "tasks", "data", "starter"))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"axk1 {verb}: error: unrecognized arguments: --bogus-flag"


# The demo in a child (forked from the warm server) with faulthandler on: a native crash in what it runs (Kiwi,
# tokenizers, PDFium, torch) killed the pytest worker and the CI run with it; here it fails this test, with its stack.
DEMO_CHILD = """
import faulthandler, json, sys
from pathlib import Path
faulthandler.enable()
import axk1.demo as demo
import axk1.posttrain.pipeline as pipeline
from tests.demo_helpers import on_one_thread
demo.shipped_recipe = on_one_thread(demo.shipped_recipe)
pipeline.shipped_recipe = on_one_thread(pipeline.shipped_recipe)
summary = demo.run_demo(Path(sys.argv[1]), steps=2, progress=False)
Path(sys.argv[2]).write_text(json.dumps(summary, default=str))  # (paths as text)
"""


@pytest.mark.e2e
def test_demo_runs_the_spine_end_to_end(tmp_path):
    import axk1.demo as demo
    from tests.warm_ranks import run_code

    run = run_code(DEMO_CHILD, [str(tmp_path), str(tmp_path / "summary.json")],
                   {**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert run.returncode == 0, run.stderr[-6000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert ModelConfig.from_pretrained(tmp_path / "model").hidden_size == 64  # the shape above reached the export
    # the demo's own model (recipes/demo.toml as written: axk1-mini, 8,192 tokens) builds and trains a step's pass
    from axk1.train.recipe import load_recipe

    config = load_recipe(Path(demo.__file__).parents[1] / "recipes" / "demo.toml").model.build_config()
    assert (config.hidden_size, config.vocab_size, config.num_hidden_layers) == (384, 8192, 6)
    full = AXK1ForCausalLM(config)
    logits = full(torch.randint(0, config.vocab_size, (1, 16)))
    logits.float().logsumexp(-1).mean().backward()
    assert logits.shape == (1, 16, 8192) and torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in full.parameters() if p.grad is not None)
    assert summary["reload_max_abs_diff"] == 0
    model_dir = tmp_path / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (model_dir / name).exists()
    assert (tmp_path / "data" / "tokens" / "manifest.json").exists()
    assert all(len(tokens) > 0 for tokens in summary["completions"])
    assert 0 < summary["unigram_entropy"] < 10 and summary["losses"]
    report = (tmp_path / "report.md").read_text()
    assert "unigram entropy" in report and "train/loss.png" in report and "train/loss_by_domain.png" in report
    assert "so training saw the corpus ~" in report  # how often the corpus was seen, and what that means here
    tail = summary["losses"][-5:]
    if sum(tail) / len(tail) >= summary["unigram_entropy"]:  # a run this short: the report does not claim memorisation
        assert "has not yet learned even the tokens' frequencies" in report and "fall below the unigram" not in report
    assert "- web text: generated" in report and summary["web_source"].startswith("generated")  # no --web given
    assert "validation (documents held out of every shard" in report and "the gap is" in report
    assert any((tmp_path / "train" / "tensorboard").iterdir())
    out = run.stdout
    assert "518,983,059,456" in out and "in " in out and "kept" in out
    # post-training ran every stage (in its quick smoke form) and reported a table of all six models
    post = summary["posttrain"]
    assert set(post["table"]) == {"base", "sft-think", "sft-non-think", "merged", "overlap", "rl"}
    assert "## Post-training (Think-Fusion)" in report and "| rl |" in report
    assert (tmp_path / "posttrain" / "rl" / "rl_curves.png").exists() and "](posttrain/rl/rl_curves.png)" in report
    assert json.loads((tmp_path / "posttrain" / "merged" / "merge.json").read_text())["alpha"] == 0.8
    _serve_both_modes(Path(summary["model_dir"]))


def _serve_both_modes(model_dir):
    """The demo's final model through `axk1 serve` and the official openai client: think mode opens the reasoning
    channel (reasoning_content is a string), non-think mode does not (it is None)."""
    import openai

    from tests.serve_helpers import ServerProcess

    with ServerProcess(model_dir) as server:
        client = openai.OpenAI(base_url=server.base + "/v1", api_key="none")
        for thinking in (True, False):
            reply = client.chat.completions.create(
                model=client.models.list().data[0].id, max_tokens=8, temperature=0,
                messages=[{"role": "user", "content": "What is 12 plus 34?"}],
                extra_body={"chat_template_kwargs": {"enable_thinking": thinking}})
            message = reply.choices[0].message
            if thinking:
                assert isinstance(message.reasoning_content, str)
            else:
                assert message.reasoning_content is None and isinstance(message.content, str)


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "axk1.cli", "--help"], capture_output=True, text=True, check=True)
    for verb in ("params", "generate", "demo"):
        assert verb in out.stdout


def test_ctrl_c_ends_a_run_with_a_line_that_says_how_to_go_on(tmp_path):
    """SIGINT used to end `axk1 train` (and sft, rl) in a KeyboardInterrupt traceback; the checkpoints were fine."""
    import os
    import signal
    import time

    from tests.train_helpers import write_recipe

    recipe = write_recipe(tmp_path, steps_tokens=8 * 32 * 20_000)  # far longer than the test lasts
    # Forked from the warm server (tests/warm_ranks.py: torch imported once, not by a fresh interpreter) with a
    # terminal's signal dispositions: a shell's background job (`make test &`) starts with SIGINT ignored, which a
    # child would keep. Its faulthandler makes a run that does not end print every thread's stack (SIGABRT).
    from tests.warm_ranks import WarmPopen

    log = tmp_path / "train.log"
    log.touch()
    proc = WarmPopen(["train", str(recipe)], {**os.environ, "PYTHONPATH": str(ROOT)}, log)
    first = tmp_path / "run" / "checkpoints" / "step-000002"  # mid-run: a checkpoint exists to resume from
    deadline = time.monotonic() + 300  # a loaded machine (the whole suite beside other work) starts slowly
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert first.exists(), "the run wrote no checkpoint in 300 s"  # interrupt a running loop, not the start-up
    proc.send_signal(signal.SIGINT)
    try:
        err, _ = proc.communicate(timeout=120)  # its stdout and stderr, in one log
    except subprocess.TimeoutExpired:  # (seen once under a loaded suite: where it stood is the failure's message)
        proc.send_signal(signal.SIGABRT)
        err, _ = proc.communicate(timeout=60)
        raise AssertionError(f"no exit 120 s after Ctrl-C; its threads then:\n{err[-8000:]}") from None
    finally:
        proc.kill()  # never left training after a failure
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "axk1 train: interrupted" in err and "--resume" in err, err
    assert "(the newest checkpoint is step " in err, err  # it names the step a resume starts from


def test_ctrl_c_under_torchrun_is_said_by_rank_0_alone(monkeypatch, capsys):
    # every rank of a torchrun launch gets the interrupt: each printed the same line
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("axk1.cli.cmd_params", interrupted)
    for rank, said in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)
        assert main(["params", "axk1-tiny"]) == 130
        assert ("axk1 params: interrupted" in capsys.readouterr().err) is said


def test_ctrl_c_in_a_synchronous_save_is_an_interrupt_not_a_traceback(monkeypatch, capsys):
    """Ctrl-C while DCP wrote a checkpoint surfaced as its CheckpointException holding a rank's RuntimeError raised
    while the KeyboardInterrupt was handled (torch.save's "unexpected pos"): the CLI looked at the failure's type
    only and printed a 70-line traceback with exit 1, about one Ctrl-C in seven."""
    from torch.distributed.checkpoint.api import CheckpointException

    def interrupted_save(args):
        failures = {}
        try:  # DCP collects each rank's failure and raises them together afterwards, outside any handler
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        except RuntimeError as rank_failure:
            failures[0] = (rank_failure, None)
        raise CheckpointException("save", failures)

    monkeypatch.setattr("axk1.cli.cmd_params", interrupted_save)
    monkeypatch.delenv("RANK", raising=False)
    assert main(["params", "axk1-tiny"]) == 130
    err = capsys.readouterr().err
    assert "axk1 params: interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize("verb", ["demo", "demo-long"])
def test_a_demo_on_a_folder_in_use_is_refused_before_it_writes_anything(tmp_path, capsys, verb):
    """Nothing locked a demo's folder: a second demo-long there rewrote the token shards and the recipe under the
    first one's training (and a second `axk1 demo` its data, model and post-training) before the training folder's
    lock refused it. The advice names the demos' own flag."""
    import re

    from axk1.checkpoint.run_lock import LOCK_FILE
    from tests.train_helpers import lock_held_elsewhere

    with lock_held_elsewhere(tmp_path) as holder:
        assert main([verb, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"axk1 {verb}: error: {re.escape(str(tmp_path))} is in use by another training run \(process "
                     rf"{holder.pid} on .*another -o/--output folder$", err.strip()), err
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`axk1 params axk1-tiny --json | head -1`: head closes the pipe, the next write raised BrokenPipeError and the
    command said "error: [Errno 32] Broken pipe" and exited 2. Now it ends as shell tools do: 141, nothing said."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        proc = subprocess.run([sys.executable, "-m", "axk1", "params", "axk1-tiny", "--json"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_generate_takes_generation_configs_sampling_for_the_flags_left_out(tmp_path, tiny_config, capsys):
    """`axk1 generate` sampled greedily whatever the folder's generation_config.json shipped (A.X K1's authors'
    temperature and top_p), where transformers' generate applies it to what a call leaves out (its sampling values
    with do_sample only). A flag given still wins; the values taken are said."""
    folder = _folder(tmp_path, tiny_config)
    args = ["generate", str(folder), "--prompt", "1 5 9", "--device", "cpu", "--seed", "3"]
    assert main(args + ["--max-new-tokens", "12"]) == 0
    greedy = capsys.readouterr().out
    file = {"temperature": 5.0, "top_k": -1, "max_new_tokens": 12}
    (folder / "generation_config.json").write_text(json.dumps(file))  # no do_sample: greedy, as transformers
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out == greedy and "generation_config.json: max_new_tokens 12 (a flag" in captured.err
    (folder / "generation_config.json").write_text(json.dumps({**file, "do_sample": True}))
    assert main(args) == 0  # the file's temperature (5: a draw far from greedy) and limit
    captured = capsys.readouterr()
    assert captured.out != greedy and len(captured.out.split()) == 12
    assert "generation_config.json: temperature 5.0, top_k 0, max_new_tokens 12 (a flag overrides it)" in captured.err
    assert main(args + ["--temperature", "0", "--max-new-tokens", "12"]) == 0  # the flag wins
    captured = capsys.readouterr()
    assert captured.out == greedy and "temperature 5.0" not in captured.err
