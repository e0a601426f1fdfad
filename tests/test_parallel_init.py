"""Meta-device initialisation of a sharded model (axk1.parallel.init) and `[model] init_from` (axk1.checkpoint.hf_sharded):
2 gloo ranks build on the meta device, shard (FSDP2, expert parallelism), then fill only their own shards."""

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.distributed.tensor import DTensor

from axk1 import ModelConfig, load_model, save_pretrained
from axk1.checkpoint.hf_sharded import load_hf_sharded_
from axk1.checkpoint.mtp_order import convert_resumed_, swap_halves
from axk1.model import AXK1ForCausalLM
from axk1.parallel.distributed import parallelize
from axk1.parallel.init import counter_normal, materialize_
from axk1.parallel.mesh import MeshDims
from axk1.train.recipe import load_recipe
from axk1.train.loss import Objective
from axk1.train.trainer import Trainer
from tests.gloo_ranks import run_ranks
from tests.warm_ranks import join_as_an_agent, start

WORLD, SEED, STEPS = 2, 3, 4
# odd LoRA ranks: q_a_proj [47, 64] and kv_a_proj [39, 64] shard unevenly over 2 ranks (24 + 23 rows, ...)
CONFIG = ModelConfig.from_preset("axk1-tiny").replace(q_lora_rank=47, kv_lora_rank=31)


def _meta_objective(dims: MeshDims) -> tuple[AXK1ForCausalLM, Objective]:
    with torch.device("meta"):
        lm = AXK1ForCausalLM(CONFIG, with_mtp=True)
    objective = Objective(lm)
    parallelize(objective, dims, torch.device("cpu"))
    return lm, objective


def _full_tensors(lm: AXK1ForCausalLM) -> dict[str, torch.Tensor]:
    """Unsharded over FSDP (experts: this ep rank's slice), plus the buffers the init must set."""
    out = {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone() for n, p in lm.named_parameters()}
    out.update((n, b.clone()) for n, b in lm.named_buffers() if n.endswith(("correction_bias", "inv_freq",
                                                                             "tokens_per_expert")))
    return out


def _run(rank: int, out: str, folder: str) -> None:
    # meta init under FSDP2 x EP=2, then a few steps on a fixed batch (each rank its own rows)
    lm, objective = _meta_objective(MeshDims(dp_shard=WORLD, ep=WORLD))
    materialize_(objective, "cpu", SEED)
    save_file(_full_tensors(lm), f"{out}/meta{rank}.safetensors")
    ids = torch.randint(3, CONFIG.vocab_size, (4, 24), generator=torch.Generator().manual_seed(1))[rank::WORLD]
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-2)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = objective(ids, None, 0.3).total
        loss.backward()
        opt.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean / WORLD)
    save_file({"losses": torch.stack(losses)}, f"{out}/losses{rank}.safetensors")
    # a resume of a checkpoint that trained MTP hidden first swaps eh_proj's halves, each rank its rows
    w = lm.mtp[0].eh_proj.weight
    assert isinstance(w, DTensor)
    before = {"w0": w.full_tensor(), "m0": opt.state[w]["exp_avg"].full_tensor()}
    assert convert_resumed_(objective, opt) == ["lm.mtp.0.eh_proj.weight"]
    save_file({**before, "w1": w.full_tensor(), "m1": opt.state[w]["exp_avg"].full_tensor()},
              f"{out}/swap{rank}.safetensors")
    # init_from under plain FSDP2 (experts sharded by FSDP, not EP)
    lm, objective = _meta_objective(MeshDims(dp_shard=WORLD))
    materialize_(objective, "cpu", SEED)
    load_hf_sharded_(lm, folder)
    save_file(_full_tensors(lm), f"{out}/hf{rank}.safetensors")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[Path, Path]:
    out, folder = tmp_path_factory.mktemp("ranks"), tmp_path_factory.mktemp("init_from")
    torch.manual_seed(11)
    source = AXK1ForCausalLM(CONFIG, with_mtp=True)
    with torch.no_grad():  # a trained-looking balancing bias, which init_from must carry over
        source.model.layers[2].mlp.gate.e_score_correction_bias.uniform_(-0.1, 0.1)
    save_pretrained(source, folder)
    run_ranks(_run, WORLD, str(out), str(folder))
    return out, folder


def _unsharded_meta_init() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        lm = AXK1ForCausalLM(CONFIG, with_mtp=True)
    materialize_(lm, "cpu", SEED)
    return _full_tensors(lm)


def test_meta_init_on_2_ranks_is_the_unsharded_init_with_the_expected_statistics(two_ranks):
    out, _ = two_ranks
    want = _unsharded_meta_init()
    n_local = CONFIG.n_routed_experts // WORLD
    for rank in range(WORLD):
        got = load_file(out / f"meta{rank}.safetensors")
        assert got.keys() == want.keys()
        for name, t in got.items():
            ref = want[name][rank * n_local:(rank + 1) * n_local] if ".experts." in name else want[name]
            torch.testing.assert_close(t, ref, rtol=0, atol=0, msg=name)  # sharding-invariant, bit for bit
    std = CONFIG.initializer_range
    for name, t in want.items():
        assert torch.isfinite(t.float()).all(), name
        if name.endswith(("norm.weight", "layernorm.weight")):
            assert torch.equal(t, torch.ones_like(t)), name
        elif name.endswith(("correction_bias", "tokens_per_expert")):
            assert not t.any(), name
        elif name.endswith("inv_freq"):
            assert torch.equal(t, AXK1ForCausalLM(CONFIG).model.rotary_emb.inv_freq), name
        else:  # every matrix ~ Normal(0, initializer_range)
            assert abs(float(t.std()) / std - 1) < 4 / t.numel() ** 0.5 + 0.02, name
            assert abs(float(t.mean())) < 5 * std / t.numel() ** 0.5, name
    # no two tensors (or halves of one) repeat each other's draws
    emb = want["model.embed_tokens.weight"]
    assert not torch.equal(emb[:256], emb[256:]) and not torch.equal(emb, want["lm_head.weight"])


def test_an_old_order_resume_swaps_the_sharded_eh_proj_and_its_moments(two_ranks):
    out, _ = two_ranks
    for rank in range(WORLD):
        t = load_file(f"{out}/swap{rank}.safetensors")
        assert torch.equal(t["w1"], swap_halves(t["w0"])) and torch.equal(t["m1"], swap_halves(t["m0"]))
        assert not torch.equal(t["w1"], t["w0"])


def test_counter_normal_is_standard_normal():
    z = counter_normal(torch.arange(1 << 20), seed=0, name="x", std=1.0)
    assert abs(float(z.mean())) < 0.005 and abs(float(z.std()) - 1) < 0.005
    assert abs(float((z > 1.96).double().mean()) - 0.025) < 0.001  # the tail, not just two moments
    assert abs(float(torch.corrcoef(torch.stack([z[:-1], z[1:]]))[0, 1])) < 0.005  # neighbours independent
    big = counter_normal(torch.tensor([5, (1 << 32) + 5]), seed=0, name="x", std=1.0)
    assert big[0] != big[1]  # indices past 2^32 (519B's stacked experts) do not wrap onto earlier ones


def test_meta_initialised_ranks_train(two_ranks):
    out, _ = two_ranks
    losses = [load_file(out / f"losses{r}.safetensors")["losses"] for r in range(WORLD)]
    assert torch.equal(losses[0], losses[1]) and torch.isfinite(losses[0]).all()
    assert losses[0][-1] < 0.9 * losses[0][0], losses[0]


def test_init_from_on_2_ranks_equals_load_model(two_ranks):
    out, folder = two_ranks
    want = load_model(folder).state_dict()
    assert want["model.layers.2.mlp.gate.e_score_correction_bias"].any()
    for rank in range(WORLD):
        got = load_file(out / f"hf{rank}.safetensors")
        for name, t in got.items():
            if name.endswith("tokens_per_expert"):
                assert not t.any()
            elif not name.endswith("inv_freq"):
                assert torch.equal(t, want[name]), name


def test_read_region_joins_gate_and_up_rows(two_ranks):
    """FSDP may shard experts by rows (Shard(1)) across the gate/up seam of the fused weight: any row range reads."""
    from contextlib import ExitStack

    from axk1.checkpoint.hf_sharded import check_folder, read_region

    _, folder = two_ranks
    full = load_model(folder, with_mtp=True)
    want = full.state_dict()
    with ExitStack() as stack:
        where = check_folder(folder, full, stack)
        for key in ("model.layers.1.mlp.experts.gate_up_proj", "mtp.0.layer.mlp.experts.down_proj"):
            for lo, hi in ((0, 5), (20, 40), (31, 33), (32, 64), (0, 64)):
                hi = min(hi, want[key].shape[1])
                got = read_region(where, key, (slice(2, 5), slice(lo, hi), slice(3, 17)), CONFIG)
                assert torch.equal(got, want[key][2:5, lo:hi, 3:17]), (key, lo, hi)


def _recipe(tmp_path: Path, model: str) -> Path:
    from tests.train_helpers import write_recipe

    path = write_recipe(tmp_path)
    path.write_text(path.read_text().replace('[model]\npreset = "axk1-tiny"\n', f"[model]\n{model}\n"))
    return path


def test_trainer_init_from_single_process(tmp_path, capsys):
    torch.manual_seed(5)
    source = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=False)  # the release ships no MTP
    save_pretrained(source, tmp_path / "release")
    trainer = Trainer(load_recipe(_recipe(tmp_path, 'init_from = "release"')))
    # a note of one line, as the CLI's others, not a UserWarning with its source line
    assert f"note: [model] init_from {tmp_path / 'release'} has no MTP weights" in capsys.readouterr().err
    got = trainer.model.state_dict()
    for name, t in source.state_dict().items():
        assert torch.equal(got[name], t), name
    assert got["mtp.0.eh_proj.weight"].std() > 0  # MTP keeps the (counter-based) init
    row = trainer.train_step(0)
    assert row["loss"] == pytest.approx(float(torch.log(torch.tensor(512.0))), rel=0.05)


def test_init_from_errors_name_the_problem(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_recipe(_recipe(tmp_path, 'preset = "axk1-tiny"\ninit_from = "empty"'))
    ModelConfig.from_preset("axk1-tiny").save_pretrained(tmp_path / "config_only")
    with pytest.raises(FileNotFoundError, match="init_from: no model.safetensors"):
        load_recipe(_recipe(tmp_path, 'preset = "axk1-tiny"\ninit_from = "config_only"'))
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny").replace(hidden_size=48)), tmp_path / "other")
    with pytest.raises(ValueError, match=r"has shape .* needs .*hidden_size: 48 -> 64"):
        Trainer(load_recipe(_recipe(tmp_path, 'preset = "axk1-tiny"\ninit_from = "other"')))
    with pytest.raises(ValueError, match="exactly one of preset"):
        load_recipe(_recipe(tmp_path, ""))


def _build_519b_as_rank_1003() -> None:
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from axk1.parallel.init import shard_regions
    from axk1.train.trainer import build_model

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "axk1-519b.toml")
    dist.init_process_group("fake", store=FakeStore(), rank=1003, world_size=1024)
    try:
        model, objective, parallel = build_model(recipe, recipe.model.build_config(), torch.device("meta"), True)
        assert parallel.dp_size == 1024 and parallel.dp_rank == 1003
        assert all(t.is_meta for t in [*model.parameters(), *model.buffers()])
        regions = shard_regions(model)
        # rank 1003 = replica 1 of 2 x (shard 61 of 64 x ep 3 of 8): dp_shard rank 491 of 512
        emb = regions["model.embed_tokens.weight"]
        assert emb.full_shape == (163840, 7168) and emb.offset == (491 * 320, 0)
        up = regions["model.layers.5.mlp.experts.gate_up_proj"]  # 24 local experts over 64 ranks: rows of each
        assert up.full_shape == (192, 4096, 7168) and up.offset == (3 * 24, 61 * 64, 0)
        assert tuple(up.local.shape) == (24, 64, 7168)
        router = regions["model.layers.5.mlp.gate.weight"]  # its own fp32 unit: 192 rows over 512, ranks >= 192 none
        assert router.offset == (192, 0) and tuple(router.local.shape) == (0, 7168)
        bias = regions["model.layers.5.mlp.gate.e_score_correction_bias"]
        assert bias.full_shape == (192,) and bias.local.dtype == torch.float32
        assert regions["mtp.0.layer.mlp.experts.down_proj"].offset == (72, 61 * 112, 0)
    finally:
        dist.destroy_process_group()


def test_519b_recipe_builds_on_meta_through_the_trainers_path(tmp_path):
    """The trainer's distributed construction (meta build, EP, FSDP2, materialise) for the 519B recipe on a
    fake 1,024-rank group, seen from rank 1003: nothing is allocated, and each shard knows its place. In a process
    of its own: DeviceMesh caches meshes by shape, not rank, so another fake group earlier in this process (the
    sharding-plan test) would hand back its rank-0 meshes: forked from the warm server (tests/warm_ranks.py), which
    made none."""
    err = tmp_path / "stderr"
    proc = start(_build_519b_as_rank_1003, (), {**os.environ, "OMP_NUM_THREADS": "1"}, stderr=err)
    assert join_as_an_agent([proc], 300) and proc.exitcode == 0, err.read_text()[-3000:]


def test_recipe_init_from_alone_uses_the_folders_config(tmp_path):
    ModelConfig.from_preset("axk1-tiny").replace(num_hidden_layers=2).save_pretrained(tmp_path / "m")
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_pretrained(tmp_path / "m")), tmp_path / "m")
    recipe = load_recipe(_recipe(tmp_path, 'init_from = "m"'))
    assert recipe.model.build_config().num_hidden_layers == 2
    assert recipe.model.init_from == str(tmp_path / "m")


def test_init_from_a_transformers_folder_without_shared_experts(tmp_path):
    """transformers saves n_shared_experts = 0 as a zero-width shared expert (down_proj [D, 0]); init_from refused
    it as an unexpected tensor. It holds nothing, so the folder reads as load_model reads it."""
    from tests.hf_reference import hf_config, random_hf_model

    random_hf_model(hf_config(n_shared_experts=0)).save_pretrained(tmp_path)
    want = load_model(tmp_path, dtype=torch.float32)
    lm = AXK1ForCausalLM(want.config)
    load_hf_sharded_(lm, tmp_path)
    for name, t in want.state_dict().items():
        assert torch.equal(lm.state_dict()[name], t), name


def test_init_from_checks_the_folders_counts_before_reading_its_config_whole(tmp_path, monkeypatch):
    """A folder whose config.json says 10**9 layers (its weights a tiny model's, as the recipe's) is refused by the
    same count check load_model makes; the config diff built one entry per layer: a MemoryError after a minute."""
    import json

    config = ModelConfig.from_preset("axk1-tiny")
    save_pretrained(AXK1ForCausalLM(config, with_mtp=False), tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    raw.update(num_hidden_layers=10**9, mlp_layer_types=None)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    to_dict = ModelConfig.to_dict

    def bounded(self):
        assert self.num_hidden_layers < 1000, "a config of 10**9 layers was written out whole"
        return to_dict(self)

    monkeypatch.setattr(ModelConfig, "to_dict", bounded)
    with pytest.raises(ValueError, match=r"num_hidden_layers = 1000000000, but the weight files hold layers 0\.\.2"):
        load_hf_sharded_(AXK1ForCausalLM(config, with_mtp=False), tmp_path)


def test_init_from_refuses_weights_that_are_not_finite_by_name(tmp_path):
    config = ModelConfig.from_preset("axk1-tiny")
    save_pretrained(AXK1ForCausalLM(config, with_mtp=False), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["model.norm.weight"][7] = float("nan")
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"tensor 'model\.norm\.weight' .* holds 1 NaN or infinite values"):
        load_hf_sharded_(AXK1ForCausalLM(config, with_mtp=False), tmp_path)


def _folder_with_mtp(path: Path, inline: bool) -> dict[str, torch.Tensor]:
    """A tiny model with one MTP layer saved as the release is (`inline`: its layer model.layers.3.* in
    model.safetensors, as DeepSeek-V3's; else in mtp.safetensors, as `axk1 export --keep-mtp` writes it); returns
    the main model's tensors."""
    torch.manual_seed(9)
    source = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True)
    save_pretrained(source, path)
    if inline:
        main = {**load_file(path / "model.safetensors"), **load_file(path / "mtp.safetensors")}
        save_file(main, path / "model.safetensors", metadata={"format": "pt"})
        (path / "mtp.safetensors").unlink()
    return {k: v for k, v in source.state_dict().items() if not k.startswith("mtp.")}


@pytest.mark.parametrize("inline", [True, False])
def test_init_from_without_mtp_leaves_the_folders_mtp_layer_unused(tmp_path, inline):
    """A recipe without MTP ([model] mtp_depth = 0) fine-tunes a folder that has an MTP layer (layer index
    num_hidden_layers): the main weights load, the MTP layer is not used, nothing is refused."""
    want = _folder_with_mtp(tmp_path, inline)
    lm = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=False)
    load_hf_sharded_(lm, tmp_path)
    for name, t in want.items():
        assert torch.equal(lm.state_dict()[name], t), name


@pytest.mark.parametrize("inline", [True, False])
def test_init_from_refuses_a_layer_past_the_folders_mtp_layers(tmp_path, inline):
    """A layer index past num_hidden_layers + num_nextn_predict_layers of the folder's config.json is no MTP layer
    of it: a recipe without MTP skipped it silently as one (load_model refuses it since the MTP depth is known)."""
    _folder_with_mtp(tmp_path, inline)
    file = tmp_path / ("model.safetensors" if inline else "mtp.safetensors")
    tensors = load_file(file)
    tensors["model.layers.99.input_layernorm.weight"] = torch.ones(64)
    save_file(tensors, file, metadata={"format": "pt"})
    lm = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=False)
    with pytest.raises(ValueError, match=r"unexpected tensor 'model\.layers\.99\.input_layernorm\.weight' .* past the "
                                         r"3 layers and 1 MTP layer\(s\) that .*config\.json declares"):
        load_hf_sharded_(lm, tmp_path)


def test_init_from_refuses_a_folder_of_another_layer_count(tmp_path):
    """A 2-layer recipe from a 3-layer folder: its layer 2 read as an MTP layer of the recipe's model and was left
    out with a warning that the shapes agree; a 4-layer recipe from a folder of 3 layers and MTP would take the
    MTP layer for its last. The layer count is compared first."""
    _folder_with_mtp(tmp_path, inline=True)
    for layers in (2, 4):
        lm = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny").replace(num_hidden_layers=layers), with_mtp=False)
        with pytest.raises(ValueError, match=rf"config\.json has num_hidden_layers = 3, the recipe's model {layers}; "
                                             rf"its config\.json differs .* num_hidden_layers: 3 -> {layers}"):
            load_hf_sharded_(lm, tmp_path)


def test_init_from_leaves_mtp_layers_past_the_recipes_depth_unused(tmp_path):
    """A folder with two MTP layers and a recipe that trains one (mtp_depth = 1): the first loads into the recipe's
    MTP module, the second is not used (it was refused as a weight the recipe's model lacks)."""
    torch.manual_seed(9)
    source = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny").replace(num_nextn_predict_layers=2), with_mtp=True)
    save_pretrained(source, tmp_path)
    lm = AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True)
    load_hf_sharded_(lm, tmp_path)
    want = source.state_dict()
    for name, t in lm.state_dict().items():
        assert torch.equal(t, want[name]), name
