"""An `axk1 eval` of a local model (an axk1 folder, or hf:FOLDER) keeps each completion as its batch ends. It kept
them only once 64 requests were done: a Ctrl-C or SIGTERM 9 s into a run said "no completion was kept yet" with
16-24 completions finished, and the rerun asked for all of them again."""

import importlib
import json

import pytest
import transformers

from axk1.cli import main
from tests.eval_fake_server import aime_file, sample_records
from tests.serve_helpers import make_model_folder

N_PROBLEMS, N = 3, 4  # 12 requests: the axk1 backend's batches of 8 are 8 and 4, both in one runner chunk of 64


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("kept") / "model")


def _interrupt_from_call(owner, name: str, calls: list, stop_at: int):
    """owner.name counting its calls into `calls` (the prompts of each), a Ctrl-C raised from call `stop_at` on."""
    real = getattr(owner, name)

    def wrapped(*args, **kwargs):
        calls.append(args)
        if len(calls) >= stop_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapped


def _kept_keys(out) -> list[str]:
    path = out / "completions.jsonl"
    return [json.loads(line)["key"] for line in path.read_text().splitlines()] if path.exists() else []


def _eval(model: str, tmp_path, out) -> int:
    return main(["eval", "--model", model, "--aime-data", aime_file(tmp_path / "a.jsonl", N_PROBLEMS),
                 "-n", str(N), "--max-tokens", "4", "--device", "cpu", "-o", str(out)])


def _interrupted_then_rerun(monkeypatch, capsys, tmp_path, model: str, owner, name: str, first: int) -> list:
    """Ctrl-C from the second generation call: the first's `first` completions are kept, and the rerun asks only for
    the rest (the calls it made are returned)."""
    out = tmp_path / "run"
    calls: list = []
    monkeypatch.setattr(owner, name, _interrupt_from_call(owner, name, calls, stop_at=2))
    assert _eval(model, tmp_path, out) == 130
    assert len(calls) == 2  # the first call finished, the second was cut short
    kept = _kept_keys(out)
    assert len(kept) == first
    assert f"{first} completion(s) kept in" in capsys.readouterr().err
    monkeypatch.undo()

    calls.clear()
    monkeypatch.setattr(owner, name, _interrupt_from_call(owner, name, calls, stop_at=10 ** 6))  # counts only
    assert _eval(model, tmp_path, out) == 0
    after = _kept_keys(out)
    assert after[:first] == kept and len(after) == len(set(after)) == N_PROBLEMS * N  # reused, none twice
    assert json.loads((out / "config.json").read_text())["reused_completions"] == first
    assert len(sample_records(out)) == N_PROBLEMS * N
    return calls


def test_an_interrupted_eval_of_an_axk1_folder_keeps_its_finished_batch(folder, tmp_path, monkeypatch, capsys):
    generate_module = importlib.import_module("axk1.infer.generate")  # the package's `generate` is the function
    calls = _interrupted_then_rerun(monkeypatch, capsys, tmp_path, str(folder), generate_module, "generate", first=8)
    assert [len(prompts) for _, prompts in calls] == [N_PROBLEMS * N - 8]  # only the 4 not kept, in one batch


def test_an_interrupted_eval_of_a_transformers_model_keeps_each_finished_reply(folder, tmp_path, monkeypatch, capsys):
    calls = _interrupted_then_rerun(monkeypatch, capsys, tmp_path, f"hf:{folder}", transformers.GenerationMixin,
                                    "generate", first=1)
    assert len(calls) == N_PROBLEMS * N - 1  # one request a call: each but the kept one
