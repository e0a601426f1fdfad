"""Applied from outside the model: compile (compile.py); FSDP2, expert parallelism and meshes arrive with the trainer."""
