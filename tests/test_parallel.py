"""FSDP2 and expert parallelism on CPU with gloo at world size 2 (spawned processes), and the 519B sharding plan
on a 1,024-rank fake process group (meta device, one process)."""

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor, Shard

from axk1 import ModelConfig
from axk1.model import AXK1ForCausalLM
from axk1.parallel.expert_parallel import apply_expert_parallel
from axk1.parallel.fsdp import apply_fsdp
from axk1.parallel.mesh import MeshDims, build_mesh
from axk1.train.balance import LoadBalancer
from axk1.train.loss import Objective, training_loss
from tests.gloo_ranks import run_ranks

WORLD = 2


def _batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(3, 512, (4, 24), generator=g)


def _model() -> AXK1ForCausalLM:
    torch.manual_seed(0)
    return AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny"), with_mtp=True)


def _reference(steps: int) -> tuple[list[float], AXK1ForCausalLM]:
    model, ids = _model(), _batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=False)
    balancer, losses = LoadBalancer(model, 1e-2), []
    for _ in range(steps):
        opt.zero_grad()
        loss = training_loss(model, ids, None, 0.3).total
        loss.backward()
        balancer.accumulate_loads()
        losses.append(float(loss.detach()))
        if steps > 1:
            opt.step()
            balancer.step()
    return losses, model


def _run(rank: int, out: str, mode: str) -> None:
    model, ids = _model(), _batch()[rank::WORLD]  # each rank its own rows, same token count
    ep = WORLD if mode == "ep" else 1
    mesh = build_mesh(MeshDims(dp_shard=WORLD, ep=ep), model.config.n_routed_experts)
    if ep > 1:
        apply_expert_parallel(model, mesh["ep"])
        # layer 1: route everything to rank 0's experts, so rank 1 receives zero tokens there
        model.model.layers[1].mlp.gate.e_score_correction_bias[:4] = 10.0
    objective = apply_fsdp(Objective(model), mesh)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=False)
    balancer, losses = LoadBalancer(model, 1e-2), []
    steps = 5 if mode == "fsdp" else 1
    for _ in range(steps):
        opt.zero_grad()
        loss = objective(ids, None, 0.3).total
        loss.backward()
        balancer.accumulate_loads()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(float(mean) / WORLD)
        if steps > 1:
            opt.step()
            balancer.step()
    result = {"losses": losses}
    if mode == "ep":
        grads = {}
        for name, p in model.named_parameters():
            g = p.grad.full_tensor() if isinstance(p.grad, DTensor) else p.grad
            grads[name] = None if g is None else g.tolist()  # layer 0's unused post-MoE norm has none
        result["grads"] = grads
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))


def _spawn(tmp_path: Path, mode: str) -> list[dict]:
    run_ranks(_run, WORLD, str(tmp_path), mode)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]


def test_fsdp2_matches_one_process_for_5_steps(tmp_path, capfd):
    want, _ = _reference(5)
    results = _spawn(tmp_path, "fsdp")
    # torch's DeviceMesh deprecation warning is said by rank 0 alone (each rank printed it)
    assert capfd.readouterr().err.count("Slicing a flattened dim from root mesh") <= 1
    for r in results:
        for a, b in zip(r["losses"], want):
            assert abs(a - b) / abs(b) <= 1e-5, (r["losses"], want)
    assert want[-1] < want[0]


def test_expert_parallel_matches_one_process(tmp_path):
    # the reference must route layer 1 the same way: everything to experts 0..3
    torch.manual_seed(0)
    ref2 = _model()
    ref2.model.layers[1].mlp.gate.e_score_correction_bias[:4] = 10.0
    loss = training_loss(ref2, _batch(), None, 0.3).total
    loss.backward()
    results = _spawn(tmp_path, "ep")
    for r in results:
        assert r["losses"][0] == pytest.approx(float(loss.detach()), rel=1e-5)
    n_local = ref2.config.n_routed_experts // WORLD
    for name, p in ref2.named_parameters():
        for rank, r in enumerate(results):
            want = p.grad
            if want is None:
                assert r["grads"][name] is None, name
                continue
            got = torch.tensor(r["grads"][name])
            if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
                want = want[rank * n_local:(rank + 1) * n_local]
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


def test_519b_sharding_plan_on_1024_fake_ranks():
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=1024)
    try:
        config = ModelConfig.from_preset("axk1-519b")
        with torch.device("meta"):
            model = AXK1ForCausalLM(config, with_mtp=True)
        mesh = build_mesh(MeshDims(dp_replicate=8, dp_shard=128, ep=8), config.n_routed_experts)
        assert mesh.mesh.shape == (8, 16, 8, 1)  # dp_replicate, dp_shard_mod_ep, ep, cp
        apply_expert_parallel(model, mesh["ep"])
        apply_fsdp(model, mesh)
        layer = model.model.layers[5]
        w = layer.self_attn.q_b_proj.weight
        assert isinstance(w, DTensor) and w.placements[-1] == Shard(0)
        assert w.to_local().shape[0] == -(-w.shape[0] // 128)  # dense weights: 1/128 per rank (HSDP 8 x 128)
        experts = layer.mlp.experts.gate_up_proj
        assert experts.shape == (24, 4096, 7168)  # 192 experts / ep 8 ...
        assert experts.to_local().shape == (24, 256, 7168)  # ... then FSDP rows over dp_shard / ep = 16 ranks
        assert experts.device_mesh.mesh_dim_names == ("dp_replicate", "experts_fsdp")  # dp_shard_mod_ep x cp
        assert model.mtp[0].layer.mlp.experts.down_proj.to_local().shape == (24, 448, 2048)
        local = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in model.parameters())
        assert 3.9e9 < local < 4.4e9  # ~531B (with MTP) / 128: HSDP keeps 8 replicas of a 128-way shard
    finally:
        dist.destroy_process_group()


def _silent_peer(rank: int, out: str) -> None:
    import time

    from axk1.parallel.distributed import init_distributed, parallelize

    init_distributed(torch.device("cpu"), timeout_s=2)  # (the group is up: this sets the launch's timeout)
    ctx = parallelize(Objective(_model()), MeshDims(dp_replicate=2, dp_shard=2), torch.device("cpu"))
    # FSDP2's group of ranks 0 and 1 (a mesh axis over every rank would be the default group itself)
    group = ctx.mesh["dp_shard"].get_group()
    said = Path(out, "said")
    if rank == 1:  # never joins: stays until rank 0 has given up (at most 120 s), then leaves (its sockets close)
        deadline = time.monotonic() + 120
        while not said.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    elif rank == 0:
        try:
            dist.all_reduce(torch.ones(1), group=group)
        except RuntimeError as e:
            tmp = said.with_suffix(".tmp")  # (whole, when rank 1 sees it)
            tmp.write_text(str(e))
            tmp.rename(said)


def test_the_collective_timeout_holds_in_the_meshs_groups_too(tmp_path):
    """DeviceMesh makes its groups with torch's default timeout (gloo: 30 minutes), not the launch's: a hung rank
    kept the others waiting there (FSDP2's and the experts' collectives) for half an hour. Here the peer stays until
    rank 0 has given up (120 s at most, not a fixed 15 s: no slower when right, and more margin on a loaded machine):
    a group without the launch's 2 s timeout waits out those 120 s and reports the lost connection, not a timeout."""
    from axk1.parallel.failure_chain import lost_peer, peer_timed_out

    run_ranks(_silent_peer, 4, str(tmp_path))
    said = RuntimeError((tmp_path / "said").read_text())
    assert peer_timed_out(said) is not None and lost_peer(said) is None, said


def test_a_store_timeout_reads_as_a_peer_that_sent_nothing():
    """Where ranks meet to make a group (torch's store), a peer that never comes raises DistStoreError ("wait timeout
    after 1000ms, keys: ..."): it printed as a traceback, where a collective's timeout prints axk1's one line."""
    from datetime import timedelta

    from axk1.parallel.failure_chain import lost_peer, peer_timed_out

    store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True, timeout=timedelta(seconds=1))
    with pytest.raises(dist.DistStoreError) as raised:
        store.wait(["/default_pg/0//9//cpu//0/1"])  # what a group's rank 1 would have written
    e = raised.value
    assert peer_timed_out(RuntimeError("saving failed")) is None
    assert peer_timed_out(e) is e and lost_peer(e) is None, e



def test_a_peer_that_times_out_mid_save_is_not_the_folders_fault(tmp_path):
    """A save whose peer rank sent nothing within the collective timeout (torch's store: "wait timeout after ...";
    gloo: "Timed out waiting") was reported as the folder's failure ("Check that the folder is writable", exit 2);
    it is let through, for the command line's line about a rank that hangs."""
    from datetime import timedelta

    from axk1.checkpoint.save_failure import write_guard

    store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True, timeout=timedelta(seconds=1))
    tmp = tmp_path / "step-000002.tmp"
    tmp.mkdir()
    with pytest.raises(dist.DistStoreError, match="wait timeout after"):
        with write_guard(tmp_path, tmp, 2, 1, True, lambda: None, 2):
            store.wait(["a peer's key"])
    assert not tmp.exists()

def _init_alone(rank: int, out: str) -> None:
    import os

    from axk1.parallel import distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD))  # the store: the test's (MASTER_PORT, agent_store)
    torch.set_num_threads(1)
    distributed.init_distributed(torch.device("cpu"), timeout_s=30)
    try:
        made = distributed._groups()
        dist.new_group = None  # a later group creation (the first save's) would fail here
        group = distributed.checkpoint_group()
        t = torch.ones(1)
        dist.all_reduce(t, group=group)
        Path(out, f"rank{rank}").write_text(json.dumps([group in made, len(made), t.item()]))
    finally:
        distributed.shutdown_distributed()


def test_the_checkpoint_group_is_made_with_the_default_group(tmp_path):
    """Made lazily at the first save (or --resume), a rank killed meanwhile left the others blocked in torch's store
    (no Python handler runs there). init_distributed now makes it while every rank is there, under its handling of a
    missing rank; the first save makes no group."""
    import os

    from tests.warm_ranks import agent_store, join_as_an_agent, start

    store, store_env = agent_store()
    errs = [tmp_path / f"rank{rank}.stderr" for rank in range(WORLD)]
    procs = [start(_init_alone, (rank, str(tmp_path)), {**os.environ, **store_env}, stderr=errs[rank])
             for rank in range(WORLD)]  # forked from the warm server (tests/warm_ranks.py), no group of its own
    in_time = join_as_an_agent(procs, 120)
    del store  # the ranks have ended
    said = "".join(e.read_text() for e in errs)[-3000:]
    assert in_time and [p.exitcode for p in procs] == [0] * WORLD, said
    for rank in range(WORLD):
        assert json.loads((tmp_path / f"rank{rank}").read_text()) == [True, 2, 2.0]  # default + checkpoint group
