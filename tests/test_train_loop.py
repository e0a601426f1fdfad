"""The single-process trainer: sampler, schedules, balancing, loss falling, resume, export (recipes: test_train_recipe)."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from axk1.checkpoint.dcp import latest_step, list_steps
from axk1.checkpoint.run_lock import LOCK_FILE
from axk1.json_text import read_metrics_rows
from axk1.model.moe import sequence_balance_loss
from axk1.train.callbacks import KILL_AFTER_STEP_ENV, TrainingStopped
from axk1.train.data import StageSampler, check_token_bound, load_shards
from axk1.train.loss import IGNORE_INDEX, mtp_labels, next_token_labels
from axk1.train.recipe import load_recipe
from axk1.train.schedules import SCHEDULES
from axk1.train.trainer import Trainer
from tests.train_helpers import strict_json_rows, try_lock_from_another_process, write_recipe


def test_sampler_is_deterministic_and_packs_documents(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    manifest, shards = load_shards(recipe.data.manifest)
    a, b = StageSampler(recipe, shards), StageSampler(recipe, shards)
    ids1, docs1, _, dom1, _ = a.batch(3)
    ids2, docs2, _, dom2, _ = b.batch(3)
    assert torch.equal(ids1, ids2) and torch.equal(docs1, docs2) and dom1 == dom2
    assert not torch.equal(ids1, a.batch(4)[0])
    assert ids1.shape == (8, 32)
    # every document starts with bos (id 1): a new document id begins exactly where a bos sits
    starts = docs1[:, 1:] != docs1[:, :-1]
    assert bool((ids1[:, 1:][starts] == 1).all())
    assert a.position(5).name == "s1" and a.position(6).name == "s2" and a.position(6).first_step
    assert set(a.batch(7).domains) == {"code"}  # stage 2 asks for math too, but there are no math shards
    with pytest.raises(ValueError, match="tokenized with a vocabulary of 512 ids but the model's vocab_size is 100"):
        check_token_bound(manifest, shards, 100, recipe.data.manifest)


def test_schedules():
    wsd = SCHEDULES["wsd"](1.0, 2, 10, 6, 0.1)
    assert [round(wsd.lr(s), 3) for s in (0, 1, 2, 5, 6, 9)] == [0.5, 1.0, 1.0, 1.0, 1.0, 0.1]
    assert wsd.lr(8) == pytest.approx(0.4)
    cos = SCHEDULES["cosine"](1.0, 0, 11, 0, 0.0)
    assert cos.lr(0) == 1.0 and cos.lr(5) == pytest.approx(0.5) and cos.lr(10) == pytest.approx(0.0)


def test_mtp_labels_respect_documents():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    docs = torch.tensor([[0, 0, 0, 1, 1]])
    assert mtp_labels(ids, docs, 1).tolist() == [[7, -100, -100, -100]]
    assert mtp_labels(ids, None, 1).tolist() == [[7, 8, 9, -100]]


def test_training_lowers_loss_and_balances(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, steps_tokens=8 * 32 * 15, sections={"logging": 'tensorboard = "tb"'}))
    trainer = Trainer(recipe)
    bias_before = [m.gate.e_score_correction_bias.clone() for _, m in trainer.balancer.layers]
    rows = trainer.fit()
    assert len(rows) == 30
    assert rows[-1]["loss"] < rows[0]["loss"] - 0.5, (rows[0]["loss"], rows[-1]["loss"])
    assert rows[0]["loss"] == pytest.approx(math.log(512), abs=0.2)
    assert rows[0]["mtp_loss"] > 0
    # the balancing bias moved on every MoE layer (main stack and MTP), stayed fp32, is not optimised
    names = [n for n, _ in trainer.balancer.layers]
    assert any(n.startswith("mtp.") for n in names) and len(names) == 3
    for before, (_, moe) in zip(bias_before, trainer.balancer.layers):
        assert moe.gate.e_score_correction_bias.dtype == torch.float32
        assert not torch.equal(before, moe.gate.e_score_correction_bias)
    optimised = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert all(id(moe.gate.e_score_correction_bias) not in optimised for _, moe in trainer.balancer.layers)
    logged = read_metrics_rows(recipe.logging.jsonl)
    assert any(k.startswith("load_max_over_mean/mtp.0") for k in logged[-1])
    assert logged[-1]["lr"] == pytest.approx(3e-3 * 0.1)  # wsd decayed to the final ratio
    assert (Path(recipe.run.out_dir) / "loss.png").exists()
    assert list_steps(recipe.checkpointing.dir) == [28, 30]  # keep_latest = 2
    # per-domain losses: stage 1 mixes web and code, stage 2 draws code only (math has no shards)
    assert {"loss/web", "loss/code"} <= set(logged[0]) and "loss/web" not in logged[-1]
    assert logged[-1]["loss/code"] == pytest.approx(logged[-1]["loss"], rel=1e-6)
    assert (Path(recipe.run.out_dir) / "loss_by_domain.png").exists()
    # the same scalars as TensorBoard events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(recipe.logging.tensorboard)
    events.Reload()
    assert {"loss", "loss/web", "lr", "tokens_per_s"} <= set(events.Tags()["scalars"])
    assert [e.value for e in events.Scalars("loss")] == pytest.approx([r["loss"] for r in logged])


def test_domain_losses_average_to_the_loss(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path))
    trainer = Trainer(recipe)
    row = trainer.train_step(0) | trainer.domain_losses()
    ids, docs, _, domains, _ = trainer.sampler.batch(0)
    labelled = (next_token_labels(ids, docs) != IGNORE_INDEX).sum(1).tolist()
    tokens = {d: sum(n for n, dd in zip(labelled, domains) if dd == d) for d in set(domains)}
    assert len(tokens) == 2
    weighted = sum(row[f"loss/{d}"] * n for d, n in tokens.items()) / sum(tokens.values())
    assert weighted == pytest.approx(row["loss"], rel=1e-6)
    assert row["loss/web"] != pytest.approx(row["loss/code"], rel=1e-4)
    assert trainer.domain_losses() == {}  # reset: each log covers the steps since the previous one


def test_sequence_balance_loss():
    E, K, T = 8, 2, 16
    # every sequence spreads evenly with uniform scores: Σ f·P = 1, the loss is α
    scores = torch.full((1, T, E), 0.5)
    idx = torch.arange(T * K).remainder(E).view(T, K)
    assert float(sequence_balance_loss(scores, idx, 0.01)) == pytest.approx(0.01)
    # one sequence piles onto experts 0 and 1, whose scores are also highest: much larger, and it has a gradient
    logits = torch.zeros(1, T, E, requires_grad=True)
    skewed = (logits + torch.tensor([3.0, 3.0] + [0.0] * (E - 2))).sigmoid()
    loss = sequence_balance_loss(skewed, torch.tensor([[0, 1]] * T), 0.01)
    assert float(loss.detach()) > 1.5 * 0.01  # f = E/K = 4 on the two experts holding ~39% of the score mass
    loss.backward()
    assert logits.grad[0, :, :2].gt(0).all() and logits.grad[0, :, 2:].lt(0).all()  # pushes 0,1 down, others up


def test_sequence_balance_loss_in_the_trainer(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 3", sections={"moe": "seq_aux_loss_alpha = 0.01"}))
    trainer = Trainer(recipe)
    rows = trainer.fit()
    # three MoE layers (two in the stack, one in MTP), each near α when balanced and above it otherwise
    assert all(0.9 * 3 * 0.01 < r["balance_loss"] < 3 * 3 * 0.01 for r in rows)
    router = trainer.model.model.layers[1].mlp.gate.weight
    trainer.optimizer.zero_grad()
    ids, docs, _, _, _ = trainer.sampler.batch(3)
    trainer.objective(ids, docs, 0.0).balance.backward()
    assert router.grad is not None and router.grad.abs().sum() > 0


def test_nan_loss_is_skipped_and_stops_the_run(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, extra="max_bad_steps = 2"))
    trainer = Trainer(recipe)
    with torch.no_grad():
        trainer.model.model.embed_tokens.weight.fill_(float("nan"))
    with pytest.raises(TrainingStopped, match="2 bad steps in a row"):
        trainer.fit()
    assert trainer.state.skipped_steps == 2
    assert latest_step(recipe.checkpointing.dir) == 2
    # the skipped steps' rows are strict JSON (they held bare NaN): null, with the reason and what the value was
    rows = strict_json_rows(recipe.logging.jsonl)
    assert [(r["loss"], r["skipped"], r["non_finite"]["loss"]) for r in rows] == [
        (None, "non-finite loss or gradient", "nan")] * 2


def test_a_loss_spike_is_skipped_before_its_update_and_kept_out_of_the_history():
    """[run] spike_zscore: a loss more than z standard deviations above the last good steps' is a bad step (the
    LossSpikeGuard callback, run before the update); a non-finite step is left as the trainer marked it; the
    history of good losses is kept (50 at most) with spike detection off too, as checkpoints save it."""
    from types import SimpleNamespace

    from axk1.train.loss_spike import LossSpikeGuard
    from axk1.train.trainer import TrainState

    def trainer(z, history):
        return SimpleNamespace(recipe=SimpleNamespace(run=SimpleNamespace(spike_zscore=z, max_bad_steps=3)),
                               state=TrainState(recent_losses=list(history)))

    guard, history = LossSpikeGuard(), [2.0 + 0.01 * (i % 3) for i in range(10)]
    t = trainer(3.0, history)
    spike, normal, nan = {"loss": 9.0}, {"loss": 2.01}, {"loss": math.nan, "skipped": "non-finite loss or gradient"}
    for row in (spike, normal, nan):
        guard.on_before_optimizer_step(t, row)
    assert spike["skipped"] == "loss spike (z > 3.0)" and "skipped" not in normal
    assert nan["skipped"] == "non-finite loss or gradient" and t.state.recent_losses == history + [2.01]
    off = trainer(0.0, [1.0] * 50)
    guard.on_before_optimizer_step(off, row := {"loss": 100.0})
    assert "skipped" not in row and off.state.recent_losses == [1.0] * 49 + [100.0]

def _run_cli(recipe: Path, *args: str, kill_after: int | None = None) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if kill_after:
        env[KILL_AFTER_STEP_ENV] = str(kill_after)
    return subprocess.run([sys.executable, "-m", "axk1.cli", "train", str(recipe), *args], env=env, timeout=120,
                          capture_output=True, text=True).returncode


# slow tier: test_train_faults.py::test_a_kill_in_the_middle_of_a_save_resumes_from_the_last_complete_checkpoint
# kills the CLI (sync and async, mid-save) and resumes it to the same losses bitwise, which covers this
@pytest.mark.slow
@pytest.mark.parametrize("async_save", [False, True], ids=["sync", "async"])
def test_sigkill_and_resume_gives_bitwise_identical_losses(tmp_path, async_save):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir(), run_dir.mkdir()
    sections = {"checkpointing": f"async = {str(async_save).lower()}"}
    ref, run = write_recipe(ref_dir, sections=sections), write_recipe(run_dir, sections=sections)
    Trainer(load_recipe(ref)).fit()  # the uninterrupted run, in this process
    assert _run_cli(run, kill_after=4) == -signal.SIGKILL
    # a half-written checkpoint (as a kill during a save leaves it) must never be picked up
    (run_dir / "run" / "checkpoints" / ".step-000006.tmp").mkdir()
    assert latest_step(run_dir / "run" / "checkpoints") == 4
    assert _run_cli(run, "--resume") == 0
    want = [r["loss"] for r in read_metrics_rows(ref_dir / "run" / "metrics.jsonl")]
    got = [r["loss"] for r in read_metrics_rows(run_dir / "run" / "metrics.jsonl")]
    assert len(want) == 12 and got == want  # bitwise: floats compared exactly


def test_export_drops_mtp_and_bias(tmp_path):
    from axk1 import load_model
    from axk1.checkpoint.export import export_checkpoint

    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    trainer = Trainer(recipe)
    trainer.fit()
    out = tmp_path / "hf"
    export_checkpoint(recipe.checkpointing.dir, out)
    assert not (out / "mtp.safetensors").exists()
    model = load_model(out)
    assert model.mtp is None
    ref = trainer.model.state_dict()
    for key, value in model.state_dict().items():
        if key.endswith("e_score_correction_bias"):
            assert not value.any()
        else:
            assert torch.equal(value, ref[key]), key
    # `axk1 export ... --tokenizer DIR` makes a folder that takes text (the README's export -> generate); a
    # tokenizer larger than the model's vocabulary is refused
    from axk1.cli import main
    from tests.serve_helpers import train_tokenizer

    train_tokenizer(512).save(str(tmp_path / "tokenizer.json"))
    assert main(["export", recipe.checkpointing.dir, str(tmp_path / "with_tok"), "--tokenizer", str(tmp_path)]) == 0
    assert (tmp_path / "with_tok" / "tokenizer.json").is_file()
    assert main(["generate", str(tmp_path / "with_tok"), "--prompt", "Seoul", "--max-new-tokens", "3"]) == 0
    with pytest.raises(ValueError, match="larger than the model's"):
        export_checkpoint(recipe.checkpointing.dir, tmp_path / "bad", tokenizer=_big_tokenizer(tmp_path / "big"))


def test_a_new_run_over_an_earlier_runs_checkpoints_is_refused(tmp_path):
    """Without --resume a second run in the same folder began at step 0 beside the first run's checkpoints, and
    export (newest step) then took the old run's model without a word."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 2"))
    Trainer(recipe).fit()
    with pytest.raises(ValueError, match=r"already holds checkpoints of an earlier run \(up to step 2\): pass --resume"):
        Trainer(recipe)
    assert Trainer(recipe, resume=True).state.step == 2
    Trainer(recipe, start_over=True)  # the demos, which own their folders: the old checkpoints go ...
    ckpts = Path(recipe.checkpointing.dir)
    assert [p.name for p in ckpts.iterdir()] == [LOCK_FILE]
    assert "is in use" in try_lock_from_another_process(ckpts)  # ... but not the lock this run holds on the folder


def _big_tokenizer(folder):
    from tests.serve_helpers import train_tokenizer

    folder.mkdir()
    tokenizer = train_tokenizer(512)
    tokenizer.add_tokens([f"extra{i}" for i in range(600)])
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_a_callback_appended_to_the_trainer_sees_every_step_after_the_built_in_ones(tmp_path):
    """The loop's concerns are callbacks run in list order: one appended sees each step's row, with what the
    speed monitor added on log steps, and the fit's start and end."""
    from axk1.train.callbacks import Callback

    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def on_fit_start(self, trainer):
            self.events.append("start")

        def on_step_end(self, trainer, row):
            self.events.append((trainer.state.step, "tokens_per_s" in row))

        def on_fit_end(self, trainer):
            self.events.append("end")

    recipe = load_recipe(write_recipe(tmp_path))
    recipe.logging.every_steps = 4
    trainer = Trainer(recipe)
    recorder = Recorder()
    trainer.callbacks.append(recorder)
    rows = trainer.fit()
    n = len(rows)
    assert recorder.events == ["start", *[(s, s % 4 == 0 or s == n) for s in range(1, n + 1)], "end"]


def test_one_process_starts_from_the_counter_based_init(tmp_path):
    """One weight-init path: the single-process trainer's weights are the meta-device model filled by the
    counter-based init with the recipe's seed (what every rank of a sharded run fills its shards from)."""
    from axk1 import AXK1ForCausalLM
    from axk1.parallel.init import materialize_

    recipe = load_recipe(write_recipe(tmp_path))
    trainer = Trainer(recipe)
    with torch.device("meta"):
        reference = AXK1ForCausalLM(trainer.config, with_mtp=True)
    materialize_(reference, "cpu", recipe.data.seed)
    got = trainer.model.state_dict()
    for name, t in reference.state_dict().items():
        assert torch.equal(got[name], t), name


def test_a_domain_of_one_document_shards_is_named_as_having_no_held_out_documents(tmp_path):
    """A one-document shard keeps its document for training, so such a domain had no val_loss/<domain> and nothing
    said so (the demo's statutes: "5% of every shard's documents held out" read as every domain validated)."""
    import numpy as np

    from axk1.train.data import Shard, split_validation
    from axk1.train.data_budget import print_budget

    recipe = load_recipe(write_recipe(tmp_path))
    recipe.validation.held_out = 0.05
    _, shards = load_shards(recipe.data.manifest)
    one_doc = [Shard("books", shards[0].bucket, np.arange(5, 25, dtype=np.uint32), np.array([0, 20], np.uint64))
               for _ in range(3)]
    train, held = split_validation(shards + one_doc, 0.05, recipe.data.seed)
    assert {s.domain for s in held} == {s.domain for s in shards}  # the others keep a held-out block
    lines: list[str] = []
    print_budget(recipe, train, lines.append, held)
    assert [line for line in lines if "no held-out documents" in line] == [
        next(line for line in lines if line.startswith("note: no held-out documents in 'books'"))]
    lines.clear()
    train, held = split_validation(shards, 0.05, recipe.data.seed)
    print_budget(recipe, train, lines.append, held)
    assert not any("no held-out documents" in line for line in lines)


def test_held_out_validation_is_never_trained_on_and_is_logged(tmp_path):
    """[validation] held_out holds a seeded block of each shard's documents out of training; the loss on it is measured
    every every_steps and at each stage end, per domain, into the progress row, JSONL, TensorBoard and the plot."""
    from axk1.train.data import load_shards, split_validation

    recipe = load_recipe(write_recipe(tmp_path, sections={"logging": 'tensorboard = "tb"'}))
    recipe.validation.held_out, recipe.validation.every_steps, recipe.validation.sequences = 0.1, 4, 6
    _, shards = load_shards(recipe.data.manifest)
    train, held = split_validation(shards, 0.1, recipe.data.seed)
    assert held and sum(len(s.tokens) for s in train) + sum(len(s.tokens) for s in held) == sum(
        len(s.tokens) for s in shards)
    assert split_validation(shards, 0.1, recipe.data.seed)[1][0].tokens[:5].tolist() == held[0].tokens[:5].tolist()
    # no training row reads a held-out token: every training view lies outside the held-out blocks
    base = {id(s.tokens.base if s.tokens.base is not None else s.tokens) for s in shards}
    assert base  # (views of the memory maps)
    held_spans = {(h.domain, h.bucket, int(h.tokens[0]), len(h.tokens)) for h in held}
    assert all((t.domain, t.bucket, int(t.tokens[0]), len(t.tokens)) not in held_spans for t in train)

    trainer = Trainer(recipe)
    rows = trainer.fit()
    steps = [r["step"] for r in rows if "val_loss" in r]
    stage1_end = trainer.sampler.plan[1].first_step
    assert 4 in steps and stage1_end in steps and len(rows) in steps, (steps, stage1_end)
    last = rows[-1]
    assert last["val_ppl"] == pytest.approx(math.exp(last["val_loss"]))
    assert any(k.startswith("val_loss/") for k in last)
    logged = [r for r in read_metrics_rows(recipe.logging.jsonl) if "val_loss" in r]
    assert [r["step"] for r in logged] == steps
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(recipe.logging.tensorboard)
    events.Reload()
    assert "val_loss" in events.Tags()["scalars"]
    # the same rows every time for a stage: a model that does not change measures the same loss twice
    again = trainer.callbacks[0].evaluate(trainer, 1, 32)
    assert again["val_loss"] == pytest.approx(trainer.callbacks[0].evaluate(trainer, 1, 32)["val_loss"], rel=1e-12)


def test_an_async_checkpoint_is_finished_once_written_not_at_the_next_save(tmp_path):
    """An asynchronous save's folder was renamed into place (and its train_state.json written) only when the next
    save began: a run killed in between had every tensor on disk and no checkpoint to resume. It is finished at
    the first step after its write ends."""
    from axk1.checkpoint.dcp import step_dir
    from axk1.train.callbacks import Callback

    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 5", sections={"checkpointing": "async = true"}))
    trainer = Trainer(recipe)
    seen = {}

    class Watch(Callback):  # first in the list: it looks before this step's own save
        def on_step_end(self, trainer, row):
            pending, deadline = trainer.saves.pending, time.monotonic() + 300
            while row["step"] == 3 and pending is not None and not pending.written():
                assert time.monotonic() < deadline, "the step-2 write did not end in 300 s"  # a failure, not a hang
                time.sleep(0.01)  # the step-2 write, let to end: not wait(), which would finish it here too
            if row["step"] == 4:
                seen["step-2 whole"] = (step_dir(trainer.ckpt_dir, 2) / "train_state.json").is_file()

    trainer.callbacks.insert(0, Watch())
    trainer.fit()
    assert seen == {"step-2 whole": True}


def test_fit_keeps_only_the_rows_asked_for(tmp_path):
    """Every step's metrics row stayed in memory to the end of fit, on every rank: a pretraining run of A.X K1's
    ~600,000 steps. `axk1 train` keeps the last (its closing line's); metrics.jsonl holds them all."""
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 3"))
    rows = Trainer(recipe).fit(keep_rows=1)
    assert [r["step"] for r in rows] == [3]
    assert [r["step"] for r in read_metrics_rows(recipe.logging.jsonl)] == [1, 2, 3]
