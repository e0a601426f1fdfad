"""Expert-parallel checkpoints reshard (docs/gpu.md): routed experts are stored as whole [E, ...] tensors (Shard(0)
over the ep axis as DTensors), so a run saved with ep = 2 resumes with ep = 1 or in one process, a one-process
checkpoint resumes with ep = 2, each following the uninterrupted run; and `axk1 export` of an ep = 2 checkpoint
loads in transformers with no missing keys."""

import copy
import shutil

import pytest
import torch

from axk1 import ModelConfig, save_pretrained
from axk1.checkpoint.export import export_checkpoint
from axk1.json_text import read_metrics_rows
from axk1.model import AXK1ForCausalLM
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import init_recipe, ranks_train

pytestmark = pytest.mark.distributed

EP2 = "[parallelism]\ndp_shard = 2\nep = 2"
EP1 = "[parallelism]\ndp_shard = 2\nep = 1"


def _set_parallelism(path, old, new):
    path.write_text(path.read_text().replace(old, new))


def _metric(folder, key):
    return [r[key] for r in read_metrics_rows(folder / "run" / "metrics.jsonl")]


def _check_follows(got_folder, want):
    """Rows 3-4 (after the resume) equal the uninterrupted run's. Row 3 to summation-order noise (two Adam steps
    taken over 4 ranks' sums: 1.02e-5 relative on one draw of rows); row 4 looser, as a routing decision with a
    ~1e-7 margin may flip (tests/test_train_distributed.py says why)."""
    got = _metric(got_folder, "loss")
    assert len(got) == 4
    assert got[2] == pytest.approx(want[2], rel=3e-5)
    assert got[3] == pytest.approx(want[3], rel=2e-3)


def test_expert_parallel_checkpoints_reshard_and_export(tmp_path, reference):
    init = reference / "init"
    want = _metric(reference / "one", "loss")

    # ep = 2 for two steps, then resumed with ep = 1 (FSDP2 only) for two more
    a = init_recipe(tmp_path / "a", EP2, init)
    ranks_train(a, "--max-steps", "2")
    ep2_step2 = tmp_path / "ep2-step2"
    shutil.copytree(tmp_path / "a" / "run" / "checkpoints" / "step-000002", ep2_step2)
    _set_parallelism(a, EP2, EP1)
    ranks_train(a, "--max-steps", "4", "--resume")
    _check_follows(tmp_path / "a", want)

    # the ep = 2 checkpoint resumed in one process
    b = init_recipe(tmp_path / "b", "max_steps = 4", init)
    (tmp_path / "b" / "run" / "checkpoints").mkdir(parents=True)
    shutil.copytree(ep2_step2, tmp_path / "b" / "run" / "checkpoints" / "step-000002")
    shutil.copy(tmp_path / "a" / "run" / "metrics.jsonl", tmp_path / "b" / "run" / "metrics.jsonl")
    trainer = Trainer(load_recipe(b), resume=True)
    resumed = copy.deepcopy(trainer.model)  # the weights as the one-process resume read them
    trainer.fit()
    _check_follows(tmp_path / "b", want)

    # the reverse: the one-process checkpoint of step 2 resumed with ep = 2
    c = init_recipe(tmp_path / "c", EP2, init)
    (tmp_path / "c" / "run" / "checkpoints").mkdir(parents=True)
    shutil.copytree(reference / "one" / "run" / "checkpoints" / "step-000002",
                    tmp_path / "c" / "run" / "checkpoints" / "step-000002")
    shutil.copy(reference / "one" / "run" / "metrics.jsonl", tmp_path / "c" / "run" / "metrics.jsonl")
    ranks_train(c, "--max-steps", "4", "--resume")
    _check_follows(tmp_path / "c", want)

    # axk1 export of the ep = 2 checkpoint: transformers loads it with nothing missing, and the weights are those
    # the one-process resume read (the export drops MTP and the balancing bias, as the release does)
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(export_checkpoint(ep2_step2, tmp_path / "hf"),
                                                       output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    resumed.mtp = None
    for layer in resumed.model.layers[1:]:
        layer.mlp.gate.e_score_correction_bias.zero_()
    save_pretrained(resumed, tmp_path / "hf-resumed")
    expected = AutoModelForCausalLM.from_pretrained(tmp_path / "hf-resumed").state_dict()
    got = model.state_dict()
    assert got.keys() == expected.keys() and any(".experts." in k for k in got)
    for k in expected:
        assert torch.equal(got[k], expected[k]), k


NO_GATHER = """
import sys
from torch.distributed.tensor import DTensor

def refused(self, *args, **kwargs):
    raise AssertionError("a DTensor was gathered whole")

DTensor.full_tensor = refused
from axk1.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("experts", [8, 6])  # 4 local experts over 2 FSDP ranks: whole experts; 3: each one's rows
def test_expert_slices_sharded_again_by_fsdp_checkpoint_without_a_gather(tmp_path, experts, reference):
    """dp_shard 4 x ep 2: each ep rank's experts are sharded again over 2 FSDP ranks (A.X K1's recipe: 24 local
    experts over 64). The checkpoint is made from each rank's shard as it lies, no gather of the slice (which for
    A.X K1's experts and their Adam moments was 774 GB a GPU, at the first save), and one process resumes it to the
    uninterrupted run's losses."""
    overrides = "" if experts == 8 else "overrides = { n_routed_experts = 6, n_group = 2, topk_group = 1 }\n"
    if experts == 8:  # axk1-tiny as it is: the module's single-process run
        init, ref = reference / "init", reference / "one"
    else:
        init, ref = tmp_path / "init", tmp_path / "ref"
        torch.manual_seed(0)
        config = ModelConfig.from_preset("axk1-tiny").replace(n_routed_experts=6, n_group=2, topk_group=1)
        save_pretrained(AXK1ForCausalLM(config, with_mtp=True), init)

    def recipe(folder, parallelism):
        path = init_recipe(folder, parallelism, init)
        path.write_text(path.read_text().replace("[data]", overrides + "[data]", 1))
        return path

    if experts == 6:
        Trainer(load_recipe(recipe(ref, "max_steps = 4"))).fit()
    want = _metric(ref, "loss")
    no_gather = tmp_path / "no_gather.py"  # the run (its checkpoint at step 2 included) never gathers a DTensor
    no_gather.write_text(NO_GATHER)
    ranks_train(recipe(tmp_path / "a", "[parallelism]\ndp_shard = 4\nep = 2"), "--max-steps", "2", nproc=4,
                timeout=300, script=no_gather)
    # the four ranks' first steps are the one process's, gradient norms included (their scale: Adam would hide it)
    assert _metric(tmp_path / "a", "grad_norm") == pytest.approx(_metric(ref, "grad_norm")[:2], rel=1e-4)
    assert _metric(tmp_path / "a", "loss") == pytest.approx(want[:2], rel=1e-5)
    b = recipe(tmp_path / "b", "max_steps = 4")
    (tmp_path / "b" / "run" / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp_path / "a" / "run" / "checkpoints" / "step-000002",
                    tmp_path / "b" / "run" / "checkpoints" / "step-000002")
    shutil.copy(tmp_path / "a" / "run" / "metrics.jsonl", tmp_path / "b" / "run" / "metrics.jsonl")
    Trainer(load_recipe(b), resume=True).fit()
    _check_follows(tmp_path / "b", want)
