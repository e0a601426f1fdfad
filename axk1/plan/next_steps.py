"""plan.md's "Next steps": from the files a plan writes to a running job.

A plan's recipe.toml names a placeholder manifest, its config.json a vocabulary the tokenizer must be trained at,
and its stage mixtures domains a small corpus may not hold; a user who read only plan.md had none of this (a
user's finding). Every command printed here is one the CLI takes with those flags (tests/test_plan_next_steps.py
parses each with the real parser).
"""

from __future__ import annotations

from axk1.params import count_text
from axk1.train.recipe import Recipe

STARTER_PIPELINE = "recipes/data/starter.toml"
NODE_GPUS = 8  # GPUs a node, for the multi-node launch line (HGX / DGX nodes)


def data_command(vocab: int) -> str:
    # a new tokenizer path: the pipeline trains one only where none exists yet, and the starter's path already holds
    # an 8,192-token tokenizer after its own run
    return (f"axk1 data run pipeline.toml --tokenize.train_vocab_size {vocab} "
            f"--tokenize.tokenizer out/data/tokenizer-{vocab}")


def dry_run_command(gpus: int, gpu: str) -> str:
    return f"axk1 train recipe.toml --dry-run --world-size {gpus} --gpu {gpu}"


def train_command(gpus: int) -> str:
    if gpus == 1:
        return "axk1 train recipe.toml"
    if gpus <= NODE_GPUS:
        return f"torchrun --nproc-per-node {gpus} -m axk1.cli train recipe.toml"
    # torchrun starts as many ranks on every node: the most GPUs a node (up to 8) that divides the count
    per_node = max(d for d in range(1, NODE_GPUS + 1) if gpus % d == 0)
    return f"torchrun --nnodes {gpus // per_node} --nproc-per-node {per_node} -m axk1.cli train recipe.toml"


def _domains(recipe: Recipe) -> list[str]:
    """One line per stage naming the domains its mixture weights (the next stages' only where they add some)."""
    lines, seen = [], set()
    for stage in recipe.stages:
        weighted = [d for d, w in stage.mixture.items() if w > 0]
        new = [d for d in weighted if d not in seen]
        seen.update(weighted)
        if new:
            lines.append(f"{stage.name}: {', '.join(new)}" if len(lines) == 0 else
                         f"{stage.name} adds {', '.join(new)}")
    return lines


def next_steps(plan, recipe: Recipe) -> list[str]:
    """Markdown lines of the section."""
    b, vocab = plan.budget, plan.best.config.vocab_size
    launch = train_command(b.gpus)
    nodes = ("" if b.gpus <= NODE_GPUS else
             " on every node, with your cluster's rendezvous flags (`--rdzv-endpoint`, `--rdzv-id`)")
    return [
        "## Next steps", "",
        f"1. **Data and tokenizer.** Copy `{STARTER_PIPELINE}`, point its `[[sources]]` at your corpus, and run "
        f"`{data_command(vocab)}`: it trains the tokenizer at this plan's vocabulary ({vocab:,}, config.json's "
        "`vocab_size`; the pipeline trains one only at a path that does not exist yet, so give a new one) and "
        "writes the token shards and `<run.output_dir>/tokens/manifest.json` (`out/data/tokens/manifest.json` with "
        "the starter's settings). The plan counts "
        f"{count_text(plan.best.tokens)} training tokens; with fewer unique tokens than that the run repeats them: "
        "count them with `axk1 data stats <run.output_dir>` and plan again with `--data DOMAIN=TOKENS,...`.",
        f"2. **Point the recipe at them.** recipe.toml's `[data] manifest = \"{recipe.data.manifest}\"` is a "
        "placeholder: set it to that manifest.json (a relative path is relative to recipe.toml's folder), or add "
        "`--data.manifest PATH` to the commands below.",
        "3. **Domains.** The stage mixtures weight the pipeline's domain labels: "
        + "; ".join(_domains(recipe)) + ". `axk1 data stats <run.output_dir>` counts the tokens your shards hold "
        "of each. The trainer stops on a weighted domain no shard holds (\"mixture domain(s) [...] have no "
        "shards\"): set its weight to 0 in each `[[stages]]` mixture (the rest are renormalised) or add data for "
        "it. A small domain is read many times; the dry run prints the passes over each.",
        f"4. **Check.** `{dry_run_command(b.gpus, b.gpu.name)}`: each stage's memory per GPU, the mesh, the data's "
        "passes; it exits 1 on any problem, and reads the manifest when it exists.",
        f"5. **Train.** `{launch}`{nodes}; `--resume` continues from the newest checkpoint after an interruption.",
        "",
    ]
