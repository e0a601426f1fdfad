"""`axk1 demo`: the spine end to end on a small model, on 2 CPU cores.

account (519B vs the demo model) → data (starter corpus → pipeline → tokenizer + token shards) → pretrain (the
three-stage demo recipe) → export (Hugging Face layout, with the tokenizer) → reload (bit-identical logits) →
generate (text, over the latent KV cache) → out/report.md (the loss against the data's unigram entropy, plots,
samples). Every step uses the same code a cluster run uses; only the sizes differ.
The recipes it runs are `recipes/data/starter.toml` and `recipes/demo.toml`, with their paths moved under -o.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from axk1.demo_stage import RECIPES, end_if_stopped, shipped_recipe
from axk1.json_text import read_json_file

RERUN = "run the demo again (its data step rewrites the folder)"


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run_data(output: Path, progress: bool = True, web: str | Path | None = None) -> tuple[Path, str]:
    """Starter corpus and the data pipeline; returns the token-shard manifest and where the web text came from."""
    from axk1.data.config import config_from_dict
    from axk1.data.pipeline import run_pipeline
    from axk1.data.starter import build_starter_corpus
    from axk1.data.stats import account, summary_text

    counts = build_starter_corpus(output / "starter", web_dir=web)
    raw = shipped_recipe("data/starter.toml")
    raw["run"]["output_dir"] = str(output / "data")
    raw["tokenize"]["tokenizer"] = str(output / "data" / "tokenizer")
    for source in raw["sources"]:  # the recipe names out/starter/<part>; the demo keeps everything under -o
        source["path"] = str(output / "starter" / Path(source["path"]).name)
        if web is not None and source.get("name") == "web":
            source["type"] = "warc"  # the starter wrote the pages to web/pages.warc.gz
    cfg = config_from_dict(raw, RECIPES / "data")  # every path is set above; the file's folder for any other
    run_pipeline(cfg, progress=progress, force=True)  # the demo owns its folder: a rerun starts over
    accounting = account(cfg.out)
    print(summary_text(accounting))
    if not accounting.balanced:
        raise RuntimeError("the data pipeline lost documents: inputs != kept + excluded + failed")
    return cfg.out / "tokens" / "manifest.json", counts["web_source"]


def run_training(output: Path, manifest: Path, max_steps: int | None = None) -> tuple[Path, list[dict]]:
    """The three-stage demo recipe on the starter shards; returns the checkpoints folder and the logged rows."""
    import textwrap

    from axk1.train.data_budget import print_budget
    from axk1.train.recipe import parse_recipe
    from axk1.train.trainer import Trainer

    raw = shipped_recipe("demo.toml")
    raw["data"]["manifest"] = str(manifest)
    raw["run"]["out_dir"] = str(output / "train")
    if max_steps is not None:
        raw["run"]["max_steps"] = max_steps
    trainer = Trainer(parse_recipe(raw, base_dir=RECIPES), start_over=True)  # the demo owns its folder
    print_budget(trainer.recipe, trainer.sampler.shards, say=lambda text: print(textwrap.indent(text, "  ")))
    rows = trainer.fit()
    end_if_stopped(trainer.stopped_by, "pretraining")  # a partial model is not exported and post-trained
    if rows:
        print(f"  step {rows[-1]['step']}: loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f} "
              f"(stage {rows[-1]['stage']}); plots in {output / 'train'}")
    return trainer.ckpt_dir, rows


def unigram_entropy(manifest: Path) -> float:
    """Entropy (nats/token) of the shards' unigram distribution: the loss of a model that ignores context."""
    import numpy as np

    info = read_json_file(manifest, RERUN, what="token-shard manifest", need_object=True)
    counts = np.zeros(0, dtype=np.int64)
    for shard in info["shards"]:
        tokens = np.fromfile(manifest.parent / shard["path"], dtype=np.dtype(info["dtype"]).newbyteorder("<"))
        shard_counts = np.bincount(tokens)
        if len(shard_counts) > len(counts):
            counts = np.pad(counts, (0, len(shard_counts) - len(counts)))
        counts[: len(shard_counts)] += shard_counts
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _validation_lines(rows: list[dict]) -> list[str]:
    """Training against held-out validation loss (recipes/demo.toml [validation]), and the gap between them."""
    val = [r for r in rows if "val_loss" in r]
    if not val:
        return []
    last = val[-1]
    train = sum(r["loss"] for r in rows[-5:]) / len(rows[-5:])
    per = ", ".join(f"{k.split('/', 1)[1]} {v:.3f}" for k, v in sorted(last.items()) if k.startswith("val_loss/"))
    return [f"- validation (documents held out of every shard, never trained on; measured {len(val)} times): "
            f"first {val[0]['val_loss']:.3f}, last {last['val_loss']:.3f} nats/token (perplexity "
            f"{last['val_ppl']:.1f}; per domain: {per}). Against the training loss {train:.3f} the gap is "
            f"{last['val_loss'] - train:+.3f} nats: what the model learned of text it has not seen is the fall of "
            "the validation curve, and the rest of the training curve's fall is memorisation"]


def write_report(output: Path, rows: list[dict], entropy: float, samples: list[tuple[str, str]],
                 timings: dict[str, float], corpus_tokens: int, posttrain: list[str] = (),
                 web_source: str = "") -> Path:
    """out/report.md: the loss against the unigram entropy, the plots, the samples, the time each step took."""
    tail = rows[-5:]
    final = sum(r["loss"] for r in tail) / len(tail)
    passes = rows[-1]["tokens"] / corpus_tokens
    if final >= entropy:  # a short run (--steps 4) has not reached the unigram entropy: nothing to explain yet
        seen = "the model has not yet learned even the tokens' frequencies"
    elif passes >= 1:
        seen = ("much of the fall below the unigram entropy is memorisation (smaller domains most), which is why "
                "the samples below echo the corpus rather than answer")
    else:
        seen = "the fall below the unigram entropy is learned from text seen once, not memorised"
    lines = [
        "# axk1 demo report", "",
        f"- pretraining: {rows[-1]['step']} steps, {rows[-1]['tokens']:,} tokens, "
        f"stages {', '.join(dict.fromkeys(r['stage'] for r in rows))}",
        f"- loss: first logged {rows[0]['loss']:.3f}, final (mean of the last {len(tail)} logs) {final:.3f} nats/token",
        f"- unigram entropy of the training shards: {entropy:.3f} nats/token; the final loss is "
        f"{abs(entropy - final):.3f} nats {'below' if final < entropy else 'above'} it ({final / entropy:.0%} of it)",
        f"- the shards hold {corpus_tokens:,} tokens, so training saw the corpus ~{passes:.1f} times: {seen}",
        *_validation_lines(rows),
        *([f"- web text: {web_source}"] if web_source else []),
        "", "![loss](train/loss.png)", "",
    ]
    domains = sorted({k.split("/", 1)[1] for r in rows for k in r if k.startswith("loss/")})
    if domains:
        lines += ["Per domain (each log averages the steps since the previous one):", "",
                  "| domain | first logged loss | final loss (mean of its last 5 logs) |", "|---|---:|---:|"]
        for d in domains:
            seen = [r[f"loss/{d}"] for r in rows if f"loss/{d}" in r]
            lines.append(f"| {d} | {seen[0]:.3f} | {sum(seen[-5:]) / len(seen[-5:]):.3f} |")
        lines += ["", "![loss per domain](train/loss_by_domain.png)", ""]
    lines += ["![expert load](train/expert_load.png)", "",
              "Scalars for TensorBoard: `tensorboard --logdir train/tensorboard`.", "", "## Samples (greedy)", ""]
    lines += [f"- {prompt!r} → {completion!r}" for prompt, completion in samples]
    lines += ["", *posttrain, "## Time", "", *[f"- {k}: {v:.0f} s" for k, v in timings.items()], ""]
    path = output / "report.md"
    path.write_text("\n".join(lines))
    return path


def run_demo(output: Path, steps: int | None = None, progress: bool = True, posttrain: bool = True,
             web: str | Path | None = None) -> dict:
    """The demo in `output`, which it owns, locked from before its first write to its report (as demo-long's): the
    pretraining run's own lock covers `train/` only while it trains, and a second demo on the folder rewrote the data
    under this one's training, or the model being exported and post-trained."""
    from axk1.checkpoint.run_lock import RunLock

    output = output.resolve()  # the recipes resolve relative paths against their own folder
    with RunLock(output, flag="-o/--output"):
        return _run_demo(output, steps, progress, posttrain, web)


def _run_demo(output: Path, steps: int | None, progress: bool, posttrain: bool, web: str | Path | None) -> dict:
    from axk1.checkpoint.export import export_checkpoint
    from axk1.checkpoint.hf import load_model
    from axk1.checkpoint.run_lock import exporting_lock
    from axk1.config import ModelConfig
    from axk1.infer.generate import generate
    from axk1.params import count_parameters, format_table

    timings: dict[str, float] = {}

    t = _step("1. parameter accounting: the released A.X K1 and the demo model")
    full = count_parameters(ModelConfig.from_preset("axk1-519b"))
    print(f"  axk1-519b: {full['total']:,} total, {full['activated']:,} activated per token")
    demo_model = shipped_recipe("demo.toml")["model"]
    demo_config = ModelConfig.from_preset(demo_model["preset"]).replace(**demo_model.get("overrides", {}))
    print(format_table(count_parameters(demo_config, with_mtp=True), f"demo model ({demo_model['preset']})"))
    timings["account"] = time.perf_counter() - t

    t = _step("2. data: starter corpus -> filters, dedup, annotation -> tokenizer -> token shards")
    manifest, web_source = run_data(output, progress, web)
    print(f"  web text: {web_source}")
    totals = read_json_file(manifest, RERUN, what="token-shard manifest", need_object=True)
    print(f"  manifest: {manifest} ({json.dumps(totals.get('total_tokens', totals.get('tokens', '?')))} tokens)")
    timings["data"] = time.perf_counter() - t

    t = _step("3. pretrain: three curriculum stages (general -> reasoning-heavy with decay -> longer context)")
    checkpoints, rows = run_training(output, manifest, steps)
    timings["train"] = time.perf_counter() - t

    t = _step("4. export to the Hugging Face layout, with the tokenizer")
    # locked as `axk1 export` locks it: one into output/model now would lose one of the two models
    with exporting_lock(output / "model", "-o/--output folder (the demo exports into its model/ folder)"):
        model_dir = export_checkpoint(checkpoints, output / "model", tokenizer=output / "data" / "tokenizer")
    for f in sorted(model_dir.iterdir()):
        print(f"  {f.name:<40}{f.stat().st_size / 1e6:>10.1f} MB")
    timings["export"] = time.perf_counter() - t

    t = _step("5. reload and generate over the latent KV cache")
    model = load_model(model_dir)
    again = load_model(model_dir)
    ids = torch.randint(0, model.config.vocab_size, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (model(ids) - again(ids)).abs().max().item()
    if diff != 0:
        raise RuntimeError(f"two loads of the exported folder disagree (max abs diff {diff})")
    from axk1.text.tokenizer_file import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    prompts = ["대한민국의 수도는", "def fibonacci(n):", "The sum of 3 and 4 is"]
    result = generate(model, [tokenizer.encode(p).ids for p in prompts], max_new_tokens=24, temperature=0.0)
    samples = [(prompt, tokenizer.decode(tokens)) for prompt, tokens in zip(prompts, result.tokens)]
    for prompt, completion in samples:
        print(f"  {prompt!r} -> {completion!r}")
    timings["generate"] = time.perf_counter() - t

    post = None
    if posttrain:  # Think-Fusion on the exported model: steps 6-10
        from axk1.posttrain.pipeline import report_section, run_posttraining

        t = time.perf_counter()
        post = run_posttraining(output, model_dir, quick=steps is not None)
        timings["post-training"] = time.perf_counter() - t
        model_dir = Path(post["models"]["rl"])

    entropy = unigram_entropy(manifest)
    corpus_tokens = int(sum(s["tokens"] for s in read_json_file(manifest, RERUN, what="token-shard manifest",
                                                                need_object=True)["shards"]))
    report = write_report(output, rows, entropy, samples, timings, corpus_tokens,
                          report_section(post, output) if post else [], web_source)
    print("\n== done: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    print(f"report: {report} (final loss vs unigram entropy {entropy:.3f} nats/token)")
    print(f"model folder: {model_dir}  (try: axk1 generate {model_dir} --prompt '안녕하세요'; axk1 serve {model_dir})")
    return {"model_dir": str(model_dir), "reload_max_abs_diff": diff, "posttrain": post, "timings": timings,
            "completions": result.tokens, "unigram_entropy": entropy, "losses": [r["loss"] for r in rows],
            "report": str(report), "web_source": web_source}
