"""Inference: generation over the latent KV cache (generate.py: `from axk1.infer.generate import generate`),
sampling rules (sampling.py).

The package imports nothing itself, so its torch-free modules (the `axk1 serve` flags, engine_config.py) load without
torch: building the command line's parser imported it through here (`axk1 --help` took 2 s).
"""
