"""Applied from outside the model: DeviceMesh (mesh.py), FSDP2 (fsdp.py), expert parallelism
(expert_parallel.py), torchrun setup (distributed.py) and compile (compile.py)."""
