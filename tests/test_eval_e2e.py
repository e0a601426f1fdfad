"""`axk1 eval` end to end: against a real `axk1 serve` process serving a saved axk1-tiny model (real server, real
client), against a standard-library OpenAI-compatible server whose replies the test chooses (so the scores are
known), with the native and transformers backends, and LCB-ko translation with its survival check."""

import argparse
import json
import re
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from axk1.eval.backends import Backend, Completion, Request, Sampling
from axk1.eval.openai_backend import OpenAIBackend
from axk1.eval.cli import add_eval_parser
from axk1.eval.tasks import get_task
from axk1.eval.tasks.lcb_ko import LCBKoOptions
from axk1.eval.tasks.humaneval import read_problems
from tests.aime_rows import ROWS, write_aime
from tests.serve_helpers import JsonHandler, ServerProcess, make_model_folder
from tests.lcb_helpers import encode_private, lcb_row

pytestmark = pytest.mark.e2e


def _eval(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def aime_files(tmp_path_factory) -> dict[str, str]:
    """Local AIME-shaped files, so no run needs the network: {"en": path, "ko": path}."""
    return {lang: str(path) for lang, path in write_aime(tmp_path_factory.mktemp("aime")).items()}


# ---- a real `axk1 serve` -------------------------------------------------------------------------------------
def test_eval_against_a_real_axk1_serve_process(tiny_folder, aime_files, tmp_path):
    out = tmp_path / "run"
    with ServerProcess(tiny_folder) as server:
        code = _eval("--model", f"openai:{server.base}/v1", "--tasks", "aime25,passkey", "--aime-data",
                     aime_files["en"], "--limit", "2", "-n", "2", "--max-tokens", "8", "--thinking", "on",
                     "--concurrency", "4", "--passkey-lengths", "400", "-o", str(out))
    assert code == 0
    records = _records(out)
    assert len(records) == 2 * 2 + 2 * 2
    assert all(r["raw_output"] for r in records)
    # thinking on: the server splits reasoning off; an untrained model rarely closes it, so most are truncated
    assert all(r["raw_output"].startswith("<think>") for r in records)
    assert {r["status"] for r in records} <= {"truncated", "no_answer", "wrong", "correct"}
    assert {r["seed"] for r in records} == {0, 1}
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["backend"]["model"] == "model" and results["config"]["sampling"]["thinking"] is True
    assert results["tasks"]["aime25"]["metrics"]["n_problems"] == 2
    # passkey's prompts were counted by the server's /tokenize (vLLM's route, which axk1 serve has too)
    assert results["tasks"]["passkey"]["info"]["sizing"] == "the whole prompt's tokens, counted by the backend"
    assert all(392 <= r["meta"]["prompt_tokens"] <= 400 for r in records if r["task"] == "passkey")
    for name in ("report.md", "scores.png", "passkey.png", "config.json"):
        assert (out / name).stat().st_size > 0


def test_a_model_folder_gives_the_servers_verdict_on_a_request_too_long_for_its_context(tiny_folder, aime_files,
                                                                                          tmp_path, capsys):
    """`--model FOLDER` with the default --max-tokens 32768 on a 1,024-token model cut each reply to the room its
    prompt left and graded it (finish_reason length, exit 0), while the same folder through `axk1 serve` was refused
    (a 400) and the sample too_long, NOT MEASURED, exit 1. Now the folder and the `hf:` backend refuse the same
    request the same way; with a --max-tokens that fits, none of the three refuses."""
    common = ("--tasks", "aime25", "--aime-data", aime_files["en"], "--limit", "1", "--temperature", "0")

    def verdict(model, *extra, name):
        code = _eval("--model", model, *common, *extra, "-o", str(tmp_path / name))
        return code, [r["status"] for r in _records(tmp_path / name)]

    with ServerProcess(tiny_folder) as server:
        served = verdict(f"openai:{server.base}/v1", name="served")
        served_fits = verdict(f"openai:{server.base}/v1", "--max-tokens", "4", name="served-fits")
    assert served == (1, ["too_long"])
    assert verdict(str(tiny_folder), "--device", "cpu", name="folder") == served
    assert verdict(f"hf:{tiny_folder}", "--device", "cpu", name="hf") == served
    assert "NOT MEASURED: 1/1 samples too long" in capsys.readouterr().out
    assert served_fits[0] == 0 and served_fits[1] != ["too_long"]
    assert verdict(str(tiny_folder), "--device", "cpu", "--max-tokens", "4", name="folder-fits")[1] != ["too_long"]


# ---- a standard-library OpenAI-compatible server with chosen replies -----------------------------------------
class _Canned(JsonHandler):
    """Seed 0 answers right and seed 1 wrong, so avg@2 = 50 and pass@2 = 100; the first request gets a 503."""

    answers: dict = {}
    solutions: dict = {}
    lock = threading.Lock()
    calls = 0
    in_flight = 0
    peak = 0

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": "canned-model", "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.endswith("/chat/completions"):  # /tokenize (vLLM's) is not OpenAI's: a 404, as there
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        cls = type(self)
        with cls.lock:
            cls.calls += 1
            first = cls.calls == 1
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
        try:
            time.sleep(0.05)
            if first:
                return self._send(503, {"error": {"message": "warming up"}})
            message = self.reply(body["messages"][-1]["content"], body["seed"])
            self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                             "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6}})
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def reply(self, prompt: str, seed: int) -> dict:
        right = seed == 0
        for problem, answer in self.answers.items():
            if prompt.startswith(problem):
                final = f"The answer is \\boxed{{{answer if right else 1}}}."
                return {"content": final, "reasoning_content": "Let me think. Maybe \\boxed{999}?"}
        for task_prompt, solution in self.solutions.items():
            if task_prompt in prompt:
                body = solution if right else "    return None\n"
                return {"content": f"```python\n{task_prompt}{body}```"}
        key = re.search(r"The pass key is (\d+)", prompt)
        if key:
            return {"content": key.group(1) if right else "I do not know."}
        return {"content": "?"}


@pytest.fixture
def canned_server():
    rows = ROWS["en"] + ROWS["ko"]

    class Handler(_Canned):
        answers = {r["problem"].strip(): r["answer"] for r in rows}
        solutions = {p["prompt"]: p["canonical_solution"] for p in read_problems()[:3]}
        calls = in_flight = peak = 0

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", Handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_eval_scores_and_report_over_http(canned_server, aime_files, tmp_path):
    base, handler = canned_server
    out = tmp_path / "run"
    assert _eval("--model", f"openai:{base}", "--tasks", "aime25,humaneval,passkey", "--aime-data", aime_files["en"],
                 "--limit", "3", "-n", "2", "--concurrency", "4", "--passkey-lengths", "64", "--passkey-trials", "1",
                 "-o", str(out)) == 0
    results = json.loads((out / "results.json").read_text())
    aime = results["tasks"]["aime25"]
    assert aime["score"] == 50.0 and aime["metrics"]["pass@2"] == 100.0 and aime["metrics"]["stderr_problems"] == 0.0
    assert aime["statuses"] == {"correct": 3, "wrong": 3}
    assert aime["extraction_methods"] == {"boxed": 6}  # the \boxed{999} inside the reasoning was ignored
    assert results["tasks"]["humaneval"]["metrics"]["n_problems"] == 3
    assert results["tasks"]["humaneval"]["score"] == 50.0
    assert results["tasks"]["humaneval"]["statuses"] == {"pass": 3, "wrong_answer": 3}
    assert results["tasks"]["passkey"]["score"] == 50.0 and len(results["tasks"]["passkey"]["grid"]) == 3
    records = _records(out)
    assert len(records) == 3 * 2 * 3
    first = records[0]
    assert first["messages"][0]["content"].endswith("put your final answer within \\boxed{}.")
    assert first["raw_output"].startswith("<think>Let me think") and first["answer"].startswith("The answer is")
    config = json.loads((out / "config.json").read_text())
    assert config["backend"]["model"] == "canned-model" and config["sampling"]["temperature"] == 0.6
    assert config["tasks_info"]["aime25"]["dataset_hash"] and config["tasks_info"]["aime25"]["prompt_hash"]
    report = (out / "report.md").read_text()
    assert ("| AIME25 (not comparable: first 3 problems only (--limit); avg@2; the card's are avg@16-64 (-n 16); 3 "
            "problems, not AIME 2025's 30) | 50.0 | 28.9 | 0.0 | 3 × 2 | — | — | — | — | — | — | — |") in report
    assert handler.peak > 1  # requests really were concurrent
    assert handler.calls == len(records) + 1  # every sample once, plus the retried 503


def test_openai_backend_errors_are_clear(canned_server):
    base, _ = canned_server
    with pytest.raises(ValueError, match="http"):
        OpenAIBackend("127.0.0.1:8000")
    with pytest.raises(ValueError, match="could not list models"):
        OpenAIBackend("http://127.0.0.1:9/v1")  # nothing listens on the discard port
    dead = OpenAIBackend("http://127.0.0.1:9/v1", model="m", retries=0)
    [completion] = dead.generate([Request([{"role": "user", "content": "hi"}])], Sampling(max_tokens=4))
    assert completion.finish_reason == "error" and "request failed" in completion.error
    with pytest.raises(ValueError, match="unknown task"):
        _eval("--model", f"openai:{base}", "--tasks", "mmlu", "-o", "/tmp/never")


# ---- in-process backends ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["", "hf:"])
def test_native_and_transformers_backends_run_the_harness(tiny_folder, aime_files, tmp_path, prefix):
    out = tmp_path / "run"
    assert _eval("--model", f"{prefix}{tiny_folder}", "--tasks", "aime25-ko,passkey", "--aime-ko-data",
                 aime_files["ko"], "--limit", "1", "--max-tokens", "6", "--thinking", "off", "--passkey-lengths", "256",
                 "-o", str(out)) == 0
    records = _records(out)
    assert len(records) == 2
    assert all(r["n_tokens"] is not None and r["n_tokens"] <= 6 for r in records)
    assert all(r["status"] in ("truncated", "wrong", "no_answer", "correct") for r in records)
    backend = json.loads((out / "config.json").read_text())["backend"]
    assert backend["backend"] == ("hf" if prefix else "axk1")
    assert backend["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")  # --device auto, the default
    with pytest.raises(ValueError, match="--device 'tpu9' is not a device"):
        _eval("--model", f"{prefix}{tiny_folder}", "--device", "tpu9", "-o", str(out))
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        _eval("--model", str(make_model_folder(tmp_path / "bare", with_tokenizer=False)), "-o", str(out))


# ---- LCB-ko ------------------------------------------------------------------------------------------------------
class _Translator(Backend):
    """Stands in for a translation model: faithful for one statement, drops a number from the other."""

    name = "test-translator"

    def __init__(self):
        self.calls = 0

    def generate(self, requests, sampling, done=None):
        out = []
        for request in requests:
            self.calls += 1
            text = request.messages[0]["content"].split("\n\n", 1)[1]
            if "print N+M" in text:
                out.append(Completion("<think>translate</think>" + text.replace("Given N and M, print N+M.",
                                                                                "N과 M이 주어질 때 N+M을 출력하세요.")))
            else:
                out.append(Completion("`x`에 대해 [x // 2, x / 반]을 반환하세요."))
        return out

    def describe(self):
        return {"backend": self.name}


def test_lcb_ko_translation_survival_check_and_cache(tmp_path):
    stdin = {"input": "1 2\n", "output": "3\n", "testtype": "stdin"}
    fn = {"input": "4", "output": "[2, 2.0]", "testtype": "functional"}
    rows = [lcb_row("abc400_a", "2025-03-01T12:00:00", "atcoder", "easy", "Given N and M, print N+M.\n\nSample Input 1\n\n"
                 "1 2\n\nSample Output 1\n\n3", [stdin], [stdin]),
            lcb_row("two-halves", "2025-04-10T00:00:00", "leetcode", "medium", "Return [x // 2, x / 2] for `x`.", [fn], [],
                 starter="class Solution:\n    def halves(self, x):\n        ", func="halves")]
    path = tmp_path / "test6.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert encode_private([stdin])  # the rows use the upstream encoding
    translator = _Translator()
    options = LCBKoOptions(data={"lcb": str(path)}, translator=translator,
                           translation_cache=str(tmp_path / "tr.json"), lcb_cache=str(tmp_path / "cache"))
    data = get_task("lcb-ko").load(options)
    assert [p.id for p in data.problems] == ["abc400_a"]
    assert "N과 M이 주어질 때" in data.problems[0].messages[0]["content"]
    assert "Read the inputs from stdin" in data.problems[0].messages[0]["content"]  # instructions stay English
    [excluded] = data.info["excluded"]
    assert excluded["question_id"] == "two-halves" and "lost numbers" in excluded["reason"]
    assert "lost span '`x`'" not in excluded["reason"] and data.info["instructions"] == "en"
    assert translator.calls == 3  # two statements, one retry of the failed one
    again = get_task("lcb-ko").load(options)
    assert translator.calls == 3 and again.info["translation_version"] == data.info["translation_version"]


def test_settings_from_a_toml_config_file(canned_server, aime_files, tmp_path):
    base, _ = canned_server
    config = tmp_path / "run.toml"
    config.write_text(f'model = "openai:{base}"\ntasks = ["aime25-ko"]\nlimit = 2\nn = 1\ntemperature = 0.0\n'
                      f'max_tokens = 64\naime_ko_data = {json.dumps(aime_files["ko"])}\n')
    out = tmp_path / "run"
    assert _eval("--config", str(config), "--limit", "1", "-o", str(out)) == 0  # the command line wins
    saved = json.loads((out / "config.json").read_text())
    assert saved["tasks"] == ["aime25-ko"] and saved["sampling"]["max_tokens"] == 64
    assert saved["sampling"]["temperature"] == 0.0 and saved["options"]["limit"] == 1
    [record] = _records(out)
    assert record["status"] == "correct" and "단계별로" in record["messages"][0]["content"]
    config.write_text("max_tokenz = 5\n")
    with pytest.raises(ValueError, match="unknown key 'max_tokenz' \\(known: aime_data, aime_ko_data"):
        _eval("--config", str(config), "--model", "x", "-o", str(out))
    config.write_text("limit = -3\n")  # the file's numbers meet the flags' bounds
    with pytest.raises(ValueError, match="limit = -3: -3 must be at least 1"):
        _eval("--config", str(config), "--model", "x", "-o", str(out))
