"""Bad input to a training run is refused with the file, stage or key named (never a traceback, never a run on
other data or settings than the recipe's): damaged shards and manifests, mixtures naming absent domains or holding
non-numbers, a resume whose recipe would change the run, --max-steps past the plan."""

import json
from pathlib import Path

import numpy as np
import pytest

from axk1.cli import main
from axk1.token_shards import LAYOUT
from axk1.train.data import StageSampler, load_shards
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def manifest_of(tmp_path):
    write_recipe(tmp_path)
    return tmp_path / "tokens" / "manifest.json"


@pytest.mark.parametrize("doc, match", [
    ([1, 2], "JSON object with a \"shards\" list, got list"),
    ({"shards": None}, "got dict with shards None"),
    ({**LAYOUT, "shards": [{"path": "web/d0/00000.bin", "bucket": "d0"}]}, "shard #1 .* needs string keys domain"),
])
def test_a_malformed_manifest_is_named(tmp_path, doc, match):
    path = manifest_of(tmp_path)
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match) as e:
        load_shards(path)
    assert str(path) in str(e.value)


def test_a_manifest_that_is_not_json_is_named(tmp_path):
    path = manifest_of(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"token-shard manifest {path} is not valid JSON"):
        load_shards(path)


def test_a_shard_of_odd_size_is_named(tmp_path):
    path = manifest_of(tmp_path)
    bin_path = tmp_path / "tokens" / "web" / "d0" / "00000.bin"
    with open(bin_path, "ab") as f:
        f.write(b"\0\0")
    with pytest.raises(ValueError, match=f"{bin_path}: .* not a whole number of 4-byte entries"):
        load_shards(path)


@pytest.mark.parametrize("corrupt", ["huge", "decreasing"])
def test_corrupt_document_offsets_are_refused(tmp_path, corrupt):
    path = manifest_of(tmp_path)
    idx = tmp_path / "tokens" / "web" / "d0" / "00000.idx"
    offsets = np.fromfile(idx, dtype="<u8")
    if corrupt == "huge":
        offsets[5] = 10**12
    else:
        offsets[5], offsets[6] = offsets[6], offsets[5]
    offsets.tofile(idx)
    with pytest.raises(ValueError, match=f"{idx}: document offsets must start at 0 and never decrease"):
        load_shards(path)


def test_a_mixture_domain_without_shards_is_refused(tmp_path):
    path = write_recipe(tmp_path, sections={})
    path.write_text(path.read_text().replace("mixture = { code = 1.0 }", "mixture = { code = 0.5, books = 0.5 }"))
    recipe = load_recipe(path)
    _, shards = load_shards(recipe.data.manifest)
    with pytest.raises(ValueError, match=r"stage 's2': mixture domain\(s\) \['books'\] .* have no shards; the shards "
                                         r"hold \['code/d0', 'web/d0'\]"):
        StageSampler(recipe, shards)
    # a zero weight names a domain the run does not draw: no data needed
    path.write_text(path.read_text().replace("books = 0.5", "books = 0"))
    StageSampler(load_recipe(path), shards)


@pytest.mark.parametrize("value, match", [
    # the reader's type checks reach into a table's values (`mixture: dict[str, float]`), naming the array entry
    ('"lots"', r"recipe.stages\[1\].mixture.code must be a number, got 'lots'"),
    ("nan", r"recipe.stages\[1\].mixture.code must be a finite number, got nan"),
    ("inf", r"recipe.stages\[1\].mixture.code must be a finite number, got inf"),
    ("-1", r"\[\[stages\]\] #2 \(s2\): mixture.code = -1"),
    ("0", r"\[\[stages\]\] #2 \(s2\): mixture {.code.: 0.0} has no positive weight"),
])
def test_bad_mixture_weights_name_the_stage_and_key(tmp_path, value, match):
    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace("mixture = { code = 1.0 }", f"mixture = {{ code = {value} }}"))
    with pytest.raises(ValueError, match=match):
        load_recipe(path)


def test_max_steps_past_the_plan_stops_at_its_end(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, extra="max_steps = 100"))
    trainer = Trainer(recipe)
    assert trainer.sampler.total_steps == 12 and trainer.total_steps == 12


def test_a_resume_that_changes_the_run_is_refused_and_a_finished_run_says_so(tmp_path, capsys):
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)  # 4 steps
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    code = main(["train", str(path), "--resume", "--batch.global_tokens", "512", "--optimizer.lr", "1e-3",
                 "--stages.1.tokens", "1024"])
    err = capsys.readouterr().err
    assert code == 2
    assert "batch.global_tokens: 0 -> 512" in err and "optimizer.lr: 0.003 -> 0.001" in err
    # a stage's setting by its path, not both whole stage lists (1,500 characters that hid the one change)
    assert "; stages.1.tokens: 512 -> 1024" in err and "'name'" not in err
    # what does not change the trajectory may change; the run is complete, and the command says so
    assert main(["train", str(path), "--resume", "--logging.every_steps", "3", "--checkpointing.interval_steps",
                 "5"]) == 0
    out = capsys.readouterr().out
    assert "the run is complete at step 4 of 4" in out and "checkpoints in" in out


def test_a_damaged_train_state_is_named(tmp_path, capsys):
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 2)
    assert main(["train", str(path), "--max-steps", "2"]) == 0
    state = tmp_path / "run" / "checkpoints" / "step-000002" / "train_state.json"
    state.write_text("{")
    assert main(["train", str(path), "--resume"]) == 2
    assert f"train state {state} is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("verb, recipe, says", [
    ("train", "posttrain/rl.toml", "has an [rl] table, which makes it an `axk1 rl` recipe: run `axk1 rl "),
    ("rl", "posttrain/sft-think.toml", "has an [sft] table, which makes it an `axk1 sft` recipe: run `axk1 sft "),
    ("sft", "demo.toml", "is a pretraining recipe ([[stages]], no [sft] table): run `axk1 train "),
])
def test_a_shipped_recipe_given_to_the_wrong_verb_names_the_right_one(verb, recipe, says, capsys):
    """It said `recipe: unknown key 'rl' (known: ...)`, or for sft `[sft] data must list at least one chat JSONL
    file`, neither naming the verb the file is for."""
    path = Path(__file__).resolve().parents[1] / "recipes" / recipe
    assert main([verb, str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} {says}{path}`" in err and err.count("\n") == 1, err


def test_startup_reads_no_token_and_a_lying_manifest_is_caught_at_the_batch(tmp_path):
    """The token ids are bounded by the manifest's vocab_size (the tokenizer's) without reading the shards: at 10T
    tokens every rank would read 40 TB before its first step. A shard holding an id the manifest does not allow is
    then caught on the host before that batch's forward, with the id named."""
    recipe_path = write_recipe(tmp_path, sections={"run": "max_steps = 2"})
    path = tmp_path / "tokens" / "manifest.json"
    for shard in (tmp_path / "tokens").rglob("*.bin"):
        tokens = np.fromfile(shard, dtype="<u4")
        tokens[1::2] = 700  # past the model's 512: half of every shard
        tokens.tofile(shard)
    trainer = Trainer(load_recipe(recipe_path))  # no scan: the manifest says 512
    with pytest.raises(ValueError, match=r"step 1, rows drawn from domain\(s\) \['(code|web)'.*token id 700 is out of "
                                         r"range for vocab_size=512.*re-run the tokenize stage"):
        trainer.train_step(0)
    trainer.release()
    manifest = json.loads(path.read_text())
    del manifest["vocab_size"]  # a manifest made elsewhere: scanned, as before
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="the shards hold token id 700 but the model's vocab_size is 512"):
        Trainer(load_recipe(recipe_path))
    for bad in ("512", -3, True):
        path.write_text(json.dumps({**manifest, "vocab_size": bad}))
        with pytest.raises(ValueError, match=f"{path}: vocab_size must be a positive integer"):
            Trainer(load_recipe(recipe_path))


def test_the_index_is_memory_mapped_and_the_held_out_split_copies_none_of_it(tmp_path):
    from axk1.train.data import split_validation

    recipe = load_recipe(write_recipe(tmp_path))
    _, shards = load_shards(recipe.data.manifest)
    assert all(isinstance(s.offsets, np.memmap) for s in shards)
    train, held = split_validation(shards, 0.1, recipe.data.seed)
    by_file = {(s.domain, s.bucket): s for s in shards}
    for part in train + held:
        whole = by_file[part.domain, part.bucket]
        assert np.shares_memory(part.offsets, whole.offsets) and np.shares_memory(part.tokens, whole.tokens)
    # a view's rows are the whole shard's: same documents, same document ids
    sampler = StageSampler(recipe, held, missing_ok=True)
    ids_BT, docs_BT, _, _, _ = sampler.draw(0, 32, range(4), (1, 2))
    for ids_T, docs_T in zip(ids_BT, docs_BT):
        starts = (docs_T[1:] != docs_T[:-1]).nonzero()[:, 0] + 1
        assert bool((ids_T[starts] == 1).all())  # a new document id begins exactly where a bos sits


MANY_SHARDS = """
import resource, sys
from axk1.train import data
data.OWN_FILES = 16  # the process's own files, scaled down with the limits below
resource.setrlimit(resource.RLIMIT_NOFILE, (64, int(sys.argv[2])))  # a job's soft limit, low
load_shards = data.load_shards
try:
    print(len(load_shards(sys.argv[1])[1]), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
except ValueError as e:
    print("refused:", e)
"""


@pytest.mark.parametrize("enough", [True, False])
def test_a_manifest_of_many_shards_opens_within_the_limits_or_says_which(tmp_path, enough):
    """Two memory maps (file descriptors) a shard on every rank: 100 shards under a soft limit of 64 open files used
    to fail as "Too many open files" partway through; the soft limit is raised to what they need, and a hard limit
    too low for them is named with what to do."""
    import resource
    import subprocess
    import sys

    from axk1.token_shards import write_token_shards

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # this machine's (RLIM_INFINITY is -1), or one too low
    manifest = write_token_shards(tmp_path, {(f"web{i}", "d0"): [[1, 5, 6, 7]] for i in range(100)}, 512,
                                  document_prefix="token id 1")
    out = subprocess.run([sys.executable, "-c", MANY_SHARDS, str(manifest), str(hard if enough else 150)],
                         capture_output=True, text=True, timeout=120).stdout
    if enough:
        assert out.split() == ["100", str(200 + 16)], out
    else:
        assert out.startswith(f"refused: {manifest}: its shards need 200 open files") and "ulimit -Hn" in out, out
