"""`axk1 demo-long` (`make demo-long`): context extension shown, not claimed, in about six minutes on 2 cores.

A.X K1 reads 128K tokens with YaRN on a model trained to 32K. This runs the same move 4x smaller than 32K -> 128K
by a factor of 128: a small model learns passkey retrieval at 256 tokens; a recipe stage then switches YaRN on
(factor 4, original length 256, mscale as in the released config) and trains briefly at 1,024 tokens. Three models
are measured on the same passkey grid (context length x depth of the key, 20 trials a cell, greedy):

  A  trained at 256, plain RoPE           -- the model before extension
  B  A's weights with YaRN switched on    -- YaRN without long training (only config.json differs)
  C  A after the YaRN stage at 1,024      -- YaRN with it

The documents (docs/training.md, "Context extension"): a repeating filler text with one pass key somewhere inside
(a colour, an animal and a digit: three tokens, each from its own small set) and the question at the end; the
answer follows. The task is shaped so that one attention head can learn each answer token: the key is cued by ":",
found only right before the key, in the needle and at the end of the question. At the needle's ":" no colour
precedes, so the lookup the answer needs ("attend to the colour") never misfires there while it is learned; the
colour then looks up the animal and the animal the digit the same way. Cued by words the filler also has ("... the
pass key is"), the loss showed no retrieval in 1,650 steps; cued by a token seen once per document ("?"), the first
key token reached only 25% after 1,500 steps while the other two were learned. Training documents run from 16 tokens (a short document teaches retrieval
fastest: the key is one of few tokens to attend to) to the stage's length; the tokenizer is word-level over the
task's words.
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import torch

FILLER = ("The grass is green . The sky is blue . The sun is yellow . Here we go . There and back again . "
          "The sea is deep . Birds sing in the morning . The road is long . Snow falls in winter . We walk home .")
NEEDLE = ("The pass key is :", ". Remember it .")
QUESTION = "What is the pass key ? :"  # ":" appears only before the key, in the needle and here
COLOURS = "red orange gold lime teal navy pink plum gray tan".split()
ANIMALS = "tiger horse eagle whale otter camel zebra koala bison llama".split()
DIGITS = [str(d) for d in range(10)]
SPECIALS = ["<pad>", "<bos>", "<eos>"]  # ids 0, 1, 2: the axk1-tiny preset's pad, bos and eos

SHORT, LONG = 256, 1024  # trained length and the extended one (YaRN factor 4)
LENGTHS = (256, 512, 768, 1024)
DEPTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
TRIALS = 20
THREADS = 2


class PasskeyWords:
    """The word-level vocabulary of the task, and documents as token ids."""

    def __init__(self) -> None:
        words = sorted(set(" ".join([FILLER, *NEEDLE, QUESTION]).split()) | set(COLOURS) | set(ANIMALS) | set(DIGITS))
        self.vocab = SPECIALS + words
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.filler = self.encode(FILLER)
        self.needle = [self.encode(part) for part in NEEDLE]
        self.question = self.encode(QUESTION)

    def encode(self, text: str) -> list[int]:
        return [self.ids[w] for w in text.split()]

    def key(self, rng: random.Random) -> list[int]:
        return [self.ids[rng.choice(COLOURS)], self.ids[rng.choice(ANIMALS)], self.ids[rng.choice(DIGITS)]]

    def prompt(self, n: int, depth: float, key: list[int], rng: random.Random) -> list[int]:
        """Exactly n tokens: bos, filler (from a random point of its cycle) with the needle at `depth` of it, and
        the question; the key's three tokens are the answer."""
        needle = self.needle[0] + key + self.needle[1]
        body_n = max(0, n - 1 - len(needle) - len(self.question))
        start = rng.randrange(len(self.filler))
        body = (self.filler * (body_n // len(self.filler) + 2))[start:start + body_n]
        cut = round(body_n * depth)
        return [self.ids["<bos>"], *body[:cut], *needle, *body[cut:], *self.question]

    def document(self, n: int, rng: random.Random) -> list[int]:
        key = self.key(rng)
        return self.prompt(n, rng.random(), key, rng) + key + [self.ids["."]]

    def write_tokenizer(self, folder: Path) -> None:
        """tokenizer.json (word level, split on whitespace) so the models take text like any other axk1 model."""
        from tokenizers import Tokenizer
        from tokenizers.models import WordLevel
        from tokenizers.pre_tokenizers import WhitespaceSplit

        tokenizer = Tokenizer(WordLevel(self.ids, unk_token="<pad>"))
        tokenizer.pre_tokenizer = WhitespaceSplit()
        tokenizer.save(str(folder / "tokenizer.json"))


def write_shards(words: PasskeyWords, out: Path, tokens_per_domain: int, seed: int) -> Path:
    """Two domains: `short` documents of 16..256 tokens (4 in 5 of them 16..32) and `long` ones of 256..1,024.

    Why so many of 16..32 tokens, little more than the needle and the question: the model learns the three lookups
    one after another, and with 3 in 5 documents of 16..64 tokens whether the last one formed within stage 1's 1,500
    steps depended on the CPU's rounding: an AMD EPYC learned all three, an Intel Xeon never the animal's (11% at
    256). With 4 in 5 of 16..32 tokens stage 1 learned all three by step 500-750 for each of seeds 1 to 4 (98-100% at
    256 at its end, with the cosine schedule of write_recipe); 3 in 5 of 16..32 learned them too, but seed 1 only
    after step 1,000."""
    from axk1.token_shards import write_token_shards

    rng = random.Random(seed)
    documents: dict[tuple[str, str], list[list[int]]] = {}
    for domain, draw in (("short", lambda: rng.randint(16, 32) if rng.random() < 0.8 else rng.randint(32, SHORT)),
                         ("long", lambda: rng.randint(SHORT, LONG))):
        docs, total = [], 0
        while total < tokens_per_domain:
            docs.append(words.document(draw() - 4, rng))
            total += len(docs[-1])
        documents[domain, "d0"] = docs
    return write_token_shards(out, documents, len(words.vocab), document_prefix="<bos>")


def write_recipe(out: Path, manifest: Path, vocab_size: int, steps: tuple[int, int]) -> Path:
    """Stage 1 at 256 tokens with plain RoPE; stage 2 switches YaRN on and trains at 1,024 (same tokens a step)."""
    from axk1.presets import yarn_block
    from axk1.toml_file import to_toml
    from axk1.train.recipe import Recipe
    from axk1.train.recipe_sections import (BatchConfig, CheckpointConfig, DataConfig, LoggingConfig, OptimizerConfig,
                                            RecipeModelConfig, RunConfig, ScheduleConfig, StageConfig)

    yarn = yarn_block(LONG // SHORT, SHORT)  # the release's block, by 4 from 256
    tokens = 16 * SHORT
    recipe = Recipe(
        model=RecipeModelConfig(preset="axk1-tiny", mtp_depth=0,
                                overrides={"vocab_size": vocab_size, "max_position_embeddings": LONG}),
        data=DataConfig(manifest=str(manifest), seed=1234),
        optimizer=OptimizerConfig(lr=1e-2, weight_decay=0.1, grad_clip=1.0),
        # cosine to 0.1x over both stages: at a constant 1e-2 model A, once it had learned retrieval, swung between
        # 81% and 100% at 256 from one checkpoint to the next; the lower lr late in stage 1 lets it settle
        # (a short run's warmup is its steps: a longer one is refused, as the rate would never reach its peak)
        schedule=ScheduleConfig(kind="cosine", warmup_steps=min(30, sum(steps))),
        batch=BatchConfig(global_tokens=tokens, micro_batch=16),
        # a checkpoint at the end of stage 1 is model A; keep every one back to it
        checkpointing=CheckpointConfig(interval_steps=steps[0], keep_latest=steps[1] // steps[0] + 2),
        logging=LoggingConfig(every_steps=10),
        run=RunConfig(out_dir="train", threads=THREADS),
        stages=[StageConfig(name=f"train-{SHORT}", tokens=steps[0] * tokens, seq_len=SHORT, mixture={"short": 1.0}),
                StageConfig(name=f"extend-yarn-{LONG}", tokens=steps[1] * tokens, seq_len=LONG,
                            mixture={"short": 0.5, "long": 0.5}, rope_scaling=yarn)],
    )
    path = out / "recipe.toml"
    path.write_text(to_toml(recipe, f"Written by axk1 demo-long: train at {SHORT} tokens, then extend 4x with a YaRN "
                                    "stage."))
    return path


@torch.inference_mode()
def passkey_grid(model_dir: Path, words: PasskeyWords, trials: int = TRIALS, seed: int = 0) -> list[dict]:
    """Accuracy (%) per (length, depth) cell: greedy, the three key tokens exactly."""
    from axk1.checkpoint.hf import load_model
    from axk1.infer.generate import generate

    model = load_model(model_dir)
    rng = random.Random(seed)  # the same prompts for every model
    grid = []
    for length in LENGTHS:
        for depth in DEPTHS:
            keys = [words.key(rng) for _ in range(trials)]
            prompts = [words.prompt(length - 3, depth, key, rng) for key in keys]
            out = generate(model, prompts, max_new_tokens=3, stop_ids=[]).tokens
            hits = sum(got == key for got, key in zip(out, keys))
            grid.append({"length": length, "depth": depth, "accuracy": 100 * hits / trials})
    return grid


def _yarn_folder(src: Path, dst: Path, rope_scaling: dict) -> Path:
    """B: A's folder with only config.json changed, YaRN switched on as C's stage did (its factor from its original
    length) by `axk1 export --yarn`'s rule (export.with_yarn), so that B is the model that command would write."""
    from axk1.checkpoint.export import with_yarn
    from axk1.config import ModelConfig

    shutil.copytree(src, dst, dirs_exist_ok=True)
    config = with_yarn(ModelConfig.from_pretrained(src), rope_scaling["factor"],
                       rope_scaling["original_max_position_embeddings"])
    config.save_pretrained(dst)
    return dst


def run_long_context_demo(output: Path, steps: tuple[int, int] = (1500, 100), trials: int = TRIALS) -> dict:
    """The demo in `output`, which it owns, locked from before its first write to its report. The training run's
    lock covers only `train/`, from the Trainer's start through the exports: a second demo-long there rewrote the
    token shards under this one's training before it was refused, and once training had ended, took `train/` over
    (deleting the checkpoints A and C were being exported from) and rewrote the models being measured."""
    from axk1.checkpoint.run_lock import RunLock

    output = output.resolve()
    with RunLock(output, flag="-o/--output"):
        return _run(output, steps, trials)


def _run(output: Path, steps: tuple[int, int], trials: int) -> dict:
    from axk1.checkpoint.dcp import step_dir
    from axk1.checkpoint.export import export_checkpoint
    from axk1.checkpoint.run_lock import exporting_lock
    from axk1.demo_stage import end_if_stopped
    from axk1.eval.tasks.passkey import heatmap
    from axk1.train.recipe import load_recipe
    from axk1.train.trainer import Trainer

    timings: dict[str, float] = {}
    t = time.perf_counter()
    words = PasskeyWords()
    # enough documents that stage 1 sees each about once (at least 200K tokens a domain for short runs)
    per_domain = min(3_000_000, max(200_000, steps[0] * 16 * SHORT))
    manifest = write_shards(words, output / "tokens", tokens_per_domain=per_domain, seed=0)
    recipe = load_recipe(write_recipe(output, manifest, len(words.vocab), steps))
    timings["data"] = time.perf_counter() - t

    t = time.perf_counter()
    trainer = Trainer(recipe, start_over=True)  # the demo owns its folder
    try:  # the training folder stays locked while A and C are exported from its checkpoints, as run_sft's does
        rows = trainer.fit(release=False)
        timings["train"] = time.perf_counter() - t
        # stopped by SIGTERM: the checkpoints A and C come from are not all there
        end_if_stopped(trainer.stopped_by, "training", verb="axk1 demo-long")
        models = {}
        for name, ckpt in (("A", step_dir(recipe.checkpointing.dir, steps[0])), ("C", recipe.checkpointing.dir)):
            # locked as `axk1 export` locks it: one into this folder now would lose one of the two models
            with exporting_lock(output / f"model-{name}", f"-o/--output folder (the demo exports into its "
                                f"model-{name}/ folder)"):
                models[name] = export_checkpoint(ckpt, output / f"model-{name}")
            words.write_tokenizer(models[name])
    finally:
        trainer.release()
    models["B"] = _yarn_folder(models["A"], output / "model-B", trainer.config.rope_scaling)
    models = {k: models[k] for k in "ABC"}

    t = time.perf_counter()
    titles = {"A": f"A: trained at {SHORT}, plain RoPE", "B": "B: A + YaRN x4, no long training",
              "C": f"C: A + YaRN x4 + {steps[1]} steps at {LONG}"}
    grids = {}
    for name, folder in models.items():
        grids[name] = passkey_grid(folder, words, trials)
        heatmap(grids[name], output / f"passkey-{name}.png", title=titles[name], xlabel="context length (tokens)")
    timings["passkey"] = time.perf_counter() - t
    report = write_report(output, grids, titles, rows, steps, trials, timings)
    return {"report": report, "grids": grids, "models": {k: str(v) for k, v in models.items()}}


def mean_accuracy(grid: list[dict], lengths) -> float:
    cells = [c["accuracy"] for c in grid if c["length"] in lengths]
    return sum(cells) / len(cells)


def write_report(output: Path, grids: dict, titles: dict, rows: list[dict], steps: tuple[int, int], trials: int,
                 timings: dict) -> Path:
    beyond = [L for L in LENGTHS if L > SHORT]
    lines = ["# Context extension: passkey retrieval before and after YaRN", "",
             f"A tiny model (axk1-tiny) learned passkey retrieval at {SHORT} tokens ({steps[0]} steps), then a recipe "
             f"stage switched YaRN on (factor {LONG // SHORT}, original length {SHORT}) and trained {steps[1]} steps "
             f"at {LONG} tokens. Each cell: {trials} prompt{'s' if trials != 1 else ''}, greedy, the key's three tokens exactly.", "",
             f"| model | accuracy at {SHORT} | beyond {SHORT} ({', '.join(map(str, beyond))}) | at {LONG} |",
             "|---|---:|---:|---:|"]
    for name, grid in grids.items():
        lines.append(f"| {titles[name]} | {mean_accuracy(grid, [SHORT]):.0f}% | {mean_accuracy(grid, beyond):.0f}% "
                     f"| {mean_accuracy(grid, [LONG]):.0f}% |")
    a, c = (mean_accuracy(grids[k], beyond) for k in "AC")
    verdict = ("the extended model retrieves where the plain one fails" if c >= a + 25
               else "the extension did not clearly beat the plain model in this run")
    lines += ["", f"Measured: beyond the trained length, {a:.0f}% (plain) against {c:.0f}% (YaRN with long training): "
              f"{verdict}.", ""]
    lines += [f"![{name}](passkey-{name}.png)" for name in grids] + ["", "![loss](train/loss.png)", ""]
    lines += ["## Time", "", *[f"- {k}: {v:.0f} s" for k, v in timings.items()], ""]
    path = output / "report.md"
    path.write_text("\n".join(lines))
    return path
