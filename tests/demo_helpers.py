"""The shipped recipes as the demo test runs them (tests/test_cli.py, in a child process): one thread, one data task,
the demo's model at axk1-tiny's shape."""

# The demo's model at axk1-tiny's widths and depth (its preset, vocabulary, context and special tokens kept): every
# stage runs the same code on it, and what the demo test asserts does not depend on the model's size. axk1-mini's own
# shape cost ~10 minutes of CPU here (2 pretraining steps took 4.5 minutes of a loaded 2-core box, each 2-step SFT
# ~1 minute); the test still builds recipes/demo.toml's model as written and runs a forward and backward through it.
DEMO_TEST_SHAPE = dict(hidden_size=64, intermediate_size=160, moe_intermediate_size=32, num_hidden_layers=3,
                       num_attention_heads=4, q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16,
                       qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8, num_experts_per_tok=2)


def on_one_thread(read):  # the recipes' threads = 2 is a whole 2-core box: a test worker has one core of it
    def recipe(name):        # (two threads there spin in OpenMP barriers while the other worker runs)
        raw = read(name)
        if "threads" in raw.get("run", {}):  # the trainers' recipes (the data recipe's [run] has its workers)
            raw["run"]["threads"] = 1
        if name == "data/starter.toml":  # one task, in this process: a pool spawned per stage (a Manager and
            # two workers, each importing the pipeline and loading Kiwi) and a PDF worker per task were most of
            # this test's CPU; several tasks on a two-worker pool are test_data_pipeline.py's
            # test_run_end_to_end_two_workers_and_relaunch
            raw["run"].update(tasks=1, workers=1)
        if name == "demo.toml":
            raw["model"]["overrides"] = {**raw["model"].get("overrides", {}), **DEMO_TEST_SHAPE}
        return raw
    return recipe
