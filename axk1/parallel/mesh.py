"""The training DeviceMesh: data-parallel replicate (HSDP's outer axis) x data-parallel shard x context parallel,
with expert parallelism carved out of the shard axis (as torchtitan does): dp_shard = dp_shard_mod_ep x ep.

Axes: "dp_replicate" (gradients all-reduced), "dp_shard_mod_ep" x "ep" flattened to "dp_shard", "ep" (each rank
owns n_experts / ep routed experts; tokens move by all-to-all), "cp" (innermost: the ranks that split one row's
tokens, axk1/parallel/context_parallel.py), "dp_shard" x "cp" flattened to "fsdp" (FSDP2 shards parameters over
it: the cp ranks hold the same model, so they share its state too) and "dp_replicate" x "dp_shard" flattened to
"dp" (the ranks that see different rows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh


@dataclass(frozen=True)
class MeshDims:
    dp_replicate: int = 1
    dp_shard: int = 1
    ep: int = 1
    cp: int = 1

    @property
    def world_size(self) -> int:
        return self.dp_replicate * self.dp_shard * self.cp

    def check(self, world_size: int, n_experts: int) -> None:
        if min(self.dp_replicate, self.dp_shard, self.ep, self.cp) < 1:
            raise ValueError(f"mesh axes must be >= 1, got {self}")
        if self.world_size != world_size:
            raise ValueError(f"dp_replicate x dp_shard x cp = {self.world_size} but the job has {world_size} ranks: make "
                             "[parallelism] match the launch (torchrun --nproc-per-node x nodes)")
        if self.dp_shard % self.ep:
            raise ValueError(f"ep={self.ep} must divide dp_shard={self.dp_shard} (experts are split within the shard axis)")
        if n_experts % self.ep:
            raise ValueError(f"ep={self.ep} must divide the {n_experts} routed experts")


def build_mesh(dims: MeshDims, n_experts: int, device_type: str = "cpu") -> DeviceMesh:
    """A 4-D mesh (dp_replicate, dp_shard_mod_ep, ep, cp) with flattened "dp_shard", "fsdp", "experts_fsdp" and "dp"
    views; the default process group must already be initialised (torchrun, or the fake backend for planning)."""
    dims.check(dist.get_world_size(), n_experts)
    if dist.get_rank() != 0:
        # torch (2.13) warns that slicing a flattened axis from the root mesh (mesh["dp"], as FSDP and the loop do)
        # "will be deprecated", from every rank: a launch of 8 ranks printed it 8 times. Rank 0 says it once.
        warnings.filterwarnings("ignore", message="Slicing a flattened dim from root mesh", category=UserWarning)
    mesh = init_device_mesh(device_type, (dims.dp_replicate, dims.dp_shard // dims.ep, dims.ep, dims.cp),
                            mesh_dim_names=("dp_replicate", "dp_shard_mod_ep", "ep", "cp"))
    mesh["dp_shard_mod_ep", "ep"]._flatten("dp_shard")
    mesh["dp_shard_mod_ep", "ep", "cp"]._flatten("fsdp")
    mesh["dp_shard_mod_ep", "cp"]._flatten("experts_fsdp")  # the ranks holding the same experts
    mesh["dp_replicate", "dp_shard_mod_ep", "ep"]._flatten("dp")
    return mesh


def expert_checkpoint_mesh(mesh: DeviceMesh) -> DeviceMesh:
    """The ranks as (dp_replicate, ep, experts_fsdp): how a routed-experts tensor [E, ...] lies across the launch.
    ep splits the experts, outermost; FSDP2 then splits each ep rank's slice over experts_fsdp (the dp_shard_mod_ep
    x cp ranks that hold the same experts, flattened in that order); replicas repeat it. For checkpoints only, so
    built without process groups: DCP reads each rank's coordinates from it and communicates on its own group."""
    R, S, E, C = mesh.mesh.shape
    grid = mesh.mesh.permute(0, 2, 1, 3).reshape(R, E, S * C)
    return DeviceMesh(mesh.device_type, grid, mesh_dim_names=("dp_replicate", "ep", "experts_fsdp"),
                      _init_backend=False)
