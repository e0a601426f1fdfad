"""Applied from outside the model: DeviceMesh (mesh.py), FSDP2 (fsdp.py), expert parallelism
(expert_parallel.py), torchrun setup (distributed.py), compile (compile.py), and how a rank's failure reads
(failure_chain.py: its causes, a lost peer)."""
