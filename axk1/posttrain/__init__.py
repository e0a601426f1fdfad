"""Post-training: SFT and RL with verifiable rewards, on generated tasks whose answers are checked."""
