"""Pretraining: recipe (TOML → dataclasses), stage sampler over token shards, objective (loss.py), AdamW and
schedules, aux-loss-free balancing, metrics, the trainer loop and its CLI (`axk1 train`, `axk1 export`)."""
