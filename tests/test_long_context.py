"""axk1 demo-long's parts: exact-length passkey prompts, the word-level tokenizer, the two-stage recipe with its YaRN
stage, and the whole run in miniature (three models, three heat-maps, B = A's weights with YaRN in config.json)."""

import json
import random
import signal

import pytest
import torch
from safetensors.torch import load_file

from axk1.config import ModelConfig
from axk1.long_context import DEPTHS, LENGTHS, PasskeyWords, run_long_context_demo, write_recipe, write_shards
from tests.train_helpers import try_lock_from_another_process


def test_prompts_have_the_exact_length_and_the_key_at_its_depth(tmp_path):
    words = PasskeyWords()
    rng = random.Random(0)
    for n in (40, 253, 1021):
        for depth in (0.0, 0.5, 1.0):
            key = words.key(rng)
            ids = words.prompt(n, depth, key, rng)
            assert len(ids) == n and ids[0] == words.ids["<bos>"]
            at = next(i for i in range(len(ids)) if ids[i:i + 3] == key)
            body = n - 1 - len(words.question) - len(words.needle[0]) - 3 - len(words.needle[1])
            assert abs((at - 1 - len(words.needle[0])) - depth * body) <= 1
            assert ids[-len(words.question):] == words.question
    words.write_tokenizer(tmp_path)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    text = "The pass key is teal otter 7 . Remember it ."
    assert tokenizer.encode(text).ids == words.encode(text)
    assert tokenizer.decode(words.encode(text)) == text


def test_the_recipe_trains_short_then_switches_yarn_on_at_the_long_length(tmp_path):
    from axk1.train.recipe import load_recipe

    words = PasskeyWords()
    manifest = write_shards(words, tmp_path / "tokens", tokens_per_domain=20_000, seed=0)
    shards = json.loads(manifest.read_text())["shards"]
    assert {s["domain"] for s in shards} == {"short", "long"}
    recipe = load_recipe(write_recipe(tmp_path, manifest, len(words.vocab), (10, 4)))
    first, second = recipe.stages
    assert (first.seq_len, second.seq_len) == (256, 1024) and first.rope_scaling is None
    plain, yarn = recipe.stage_rope_scaling(None)
    assert plain is None and yarn["factor"] == 4.0 and yarn["original_max_position_embeddings"] == 256
    assert recipe.model.build_config().max_position_embeddings == 1024


@pytest.mark.e2e
def test_demo_long_in_miniature_measures_three_models(tmp_path, monkeypatch):
    import axk1.checkpoint.export as export
    from axk1.checkpoint.export import with_yarn

    # the training folder's lock was given up when training ended, before A and C were exported from its
    # checkpoints: a second demo-long could take it over then (deleting them: start_over) and rewrite the models
    # being measured. Both folders are locked through the exports now, and free once the demo is done.
    locks, real_export = [], export.export_checkpoint

    def export_checkpoint(*args, **kwargs):
        locks.append([try_lock_from_another_process(d).split(" (")[0] for d in (tmp_path / "train", tmp_path)])
        return real_export(*args, **kwargs)

    monkeypatch.setattr(export, "export_checkpoint", export_checkpoint)
    result = run_long_context_demo(tmp_path, steps=(3, 2), trials=1)
    assert locks == [[f"{tmp_path / 'train'} is in use by another training run",
                      f"{tmp_path} is in use by another training run"]] * 2
    assert try_lock_from_another_process(tmp_path) == try_lock_from_another_process(tmp_path / "train") == "taken"
    grids = result["grids"]
    assert sorted(grids) == ["A", "B", "C"]
    for grid in grids.values():
        assert [(c["length"], c["depth"]) for c in grid] == [(L, d) for L in LENGTHS for d in DEPTHS]
        assert all(c["accuracy"] in (0.0, 100.0) for c in grid)  # one trial a cell
    folders = {k: tmp_path / f"model-{k}" for k in "ABC"}
    configs = {k: ModelConfig.from_pretrained(f) for k, f in folders.items()}
    assert configs["A"].rope_scaling is None
    assert configs["B"].rope_scaling == configs["C"].rope_scaling
    assert configs["B"].rope_scaling["factor"] == 4.0 and configs["B"].rope_scaling["mscale"] == 1.0
    assert configs["B"] == with_yarn(configs["A"], 4, 256)  # what `axk1 export --yarn 4 --yarn-from 256` writes
    a, b, c = (load_file(folders[k] / "model.safetensors") for k in "ABC")
    assert all(torch.equal(a[k], b[k]) for k in a)  # B is A's weights
    assert any(not torch.equal(a[k], c[k]) for k in a)  # C trained on
    report = (tmp_path / "report.md").read_text()
    assert all(f"passkey-{k}.png" in report and (tmp_path / f"passkey-{k}.png").exists() for k in "ABC")
    assert "Measured: beyond the trained length" in report


def test_demo_long_stopped_by_sigterm_in_training_ends_as_a_stopped_run(tmp_path, monkeypatch, capsys):
    """SIGTERM during training stops the trainer with a checkpoint; demo-long went on to export step 400, which was
    not there ("error: .../step-000400 does not exist", exit 2) instead of ending as the demo does (exit 143)."""
    import axk1.train.trainer

    class Stopped:
        def __init__(self, recipe, start_over):
            self.stopped_by, self.released = "SIGTERM", False

        def fit(self, release=True):
            return [{"step": 1, "stage": "train-256", "loss": 6.0}]

        def release(self):
            self.released = True

    monkeypatch.setattr(axk1.train.trainer, "Trainer", Stopped)
    with pytest.raises(SystemExit) as stop:
        run_long_context_demo(tmp_path / "out", steps=(4, 2), trials=1)
    assert stop.value.code == 128 + signal.SIGTERM
    assert "axk1 demo-long: training stopped by SIGTERM; the demo's stages start over, so run it again" in \
        capsys.readouterr().err
    assert not (tmp_path / "out" / "model-A").exists()


def test_the_report_counts_one_prompt_in_the_singular(tmp_path):
    """`--trials 1` wrote "Each cell: 1 prompts"."""
    from axk1.long_context import write_report

    grids = {k: [{"length": L, "depth": d, "accuracy": 100.0} for L in LENGTHS for d in DEPTHS] for k in "ABC"}
    titles = {k: k for k in "ABC"}
    for trials, words in ((1, "Each cell: 1 prompt, greedy"), (20, "Each cell: 20 prompts, greedy")):
        text = write_report(tmp_path, grids, titles, [], (3, 2), trials, {}).read_text()
        assert words in text
