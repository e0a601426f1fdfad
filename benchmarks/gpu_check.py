"""The GPU check (docs/gpu.md): what only a GPU can prove, in one run of a few minutes on one H200.

1. train: bf16 training of `axk1-gpu-small` (2B parameters, A.X K1's vocabulary) through axk1's trainer in one
   process (autocast bf16, FlexAttention over packed documents, grouped expert matmuls in bf16, fused AdamW) on
   synthetic token shards, for --steps steps or --train-seconds, whichever ends first; tokens/s and MFU against the
   GPU's bf16 dense peak from the trainer's own metrics, never the first logged row's (it holds the compile), with
   the attention convention beside MFU (gpu_check_figures.py); peak allocated memory beside the memory account;
   then two more steps under `torch.cuda.set_sync_debug_mode("warn")`, every host sync counted by where in axk1;
2. compiled: part 1 again with `[parallelism] compile = true` (each decoder layer compiled), --compiled-seconds;
3. fsdp: the same model under torchrun with one rank: the NCCL + gloo process group, FSDP2 with
   MixedPrecisionPolicy(bf16 params, fp32 reduce), an asynchronous DCP checkpoint halfway, then a resume from that
   checkpoint whose losses must follow the straight run's (4 of the model's layers: the checkpoints stay small);
4. transformers: the same config in transformers' `AXK1ForCausalLM`, a plain training step (bf16 autocast, fused
   AdamW) on batches of the same shape in micro-batches, tokens/s and the ratios;
5. decode: 32 rows x 128 new tokens after a 512-token prompt, axk1's `generate` vs transformers' `generate`
   (greedy, bf16 weights), tokens/s and the ratio; also axk1's decode step captured as a CUDA graph (static
   shapes; on CPU uncaptured) and, on a GPU, its compiled decode step.

Each part runs on its own, in --parts' order (by default the goals' figures first: compiled, decode, train,
transformers, fsdp): one that fails prints its traceback and the others still run; the JSON is rewritten after each
part, and the exit status is non-zero if any part failed. SIGTERM (gpu_check.sh's timeout) stops the check at once:
the JSON gets what the interrupted part had measured and nothing more runs (gpu_check_stop.py). On a GPU with less
memory than the step needs by the trainer's account (an H100 80GB: ~86 GB; the 8 x 4,096 step: ~93 GB) the check
runs fewer sequences a step and says so (gpu_check_fit.py): prefer an H200 (device kind nvidia-h200).

    python benchmarks/gpu_check.py [--steps 300] [--json out.json]
    python benchmarks/gpu_check.py --smoke   # the same code on CPU with axk1-tiny, seconds (CI-sized)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/synthetic_shards.py

import torch

from axk1 import AXK1ForCausalLM, ModelConfig, save_pretrained
from axk1.flops import training_flops_per_token
from axk1.infer.generate import generate
from axk1.json_text import read_metrics_rows
from axk1.train.callbacks import Callback
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.synthetic_shards import write_synthetic_shards
from gpu_check_args import apply_settings, model_overrides
from gpu_check_figures import attention_convention, median, sampled_share, steady_figures
from gpu_check_fit import fit_note, memory_check, sequences_that_fit
from gpu_check_stop import Terminated, run_killing_tree, stop_on_sigterm, without_checkpoints
from step_diagnostics import count_syncs, dynamo_census, profile_steps

REPO = Path(__file__).resolve().parents[1]


def recipe_text(args, steps: int, out_dir: str, every: int = 10, ckpt_every: int = 1_000_000, layers: int = 0,
                compile: bool = False) -> str:
    """`layers` > 0: that many decoder layers and the trainer's own init (the torchrun part, whose checkpoints of
    weights and AdamW state must stay small on the machine's disk); else the saved `init` folder."""
    shape = "".join(f", {k} = {json.dumps(v)}" for k, v in args.model.items() if not (layers and k == "num_hidden_layers"))
    shape += f", num_hidden_layers = {layers}" if layers else ""
    return textwrap.dedent(f"""
        [model]
        preset = "{args.preset}"
        overrides = {{ vocab_size = {args.vocab}, max_position_embeddings = {max(args.seq_len, 1024)}{shape} }}
        mtp_depth = 1
        {'' if layers else 'init_from = "init"'}
        [data]
        manifest = "tokens/manifest.json"
        [optimizer]
        lr = 3e-4
        [schedule]
        kind = "constant"
        warmup_steps = {min(10, steps)}  # at most the run (a longer warmup is refused)
        [batch]
        global_sequences = {args.seqs}
        micro_batch = {args.seqs}
        [checkpointing]
        interval_steps = {ckpt_every}
        keep_latest = 3
        async = true
        [logging]
        every_steps = {every}
        progress = false
        [parallelism]
        precision = "{args.precision}"
        activation_checkpointing = "none"
        compile = {str(compile).lower()}
        [run]
        out_dir = "{out_dir}"
        device = "{args.device}"
        max_steps = {steps}
        [[stages]]
        name = "bench"
        tokens = {steps * args.seqs * args.seq_len}
        seq_len = {args.seq_len}
        mixture = {{ web = 0.5, code = 0.5 }}
    """)


class _OutOfTime(Exception):
    pass


class TimeLimit(Callback):
    """Ends the benchmark's training after `seconds` or `steps` (steps already logged stay in metrics.jsonl); the
    recipe asks for one step more, so the trainer never reaches its end (its checkpoints are off besides:
    gpu_check_stop.without_checkpoints; weights and AdamW state of 2B parameters: 24 GB of disk)."""

    def __init__(self, seconds: float, steps: int) -> None:
        self.seconds, self.steps, self.t0 = seconds, steps, time.perf_counter()

    def on_step_end(self, trainer, row: dict) -> None:
        late = time.perf_counter() - self.t0 > self.seconds and row["step"] % trainer.recipe.logging.every_steps == 0
        if late or row["step"] >= self.steps:
            raise _OutOfTime


def train_axk1(work: Path, args, compile: bool = False) -> dict:
    name = "compiled" if compile else "run"
    path = work / f"recipe_{name}.toml"
    path.write_text(recipe_text(args, args.steps + 1, name, every=getattr(args, "log_every", 10), compile=compile))
    trainer = without_checkpoints(Trainer(load_recipe(path)))
    trainer.callbacks.append(TimeLimit(args.compiled_seconds if compile else args.train_seconds, args.steps))
    cuda = trainer.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.reset_accumulated_memory_stats()
    t0, out = time.perf_counter(), {}
    try:
        try:
            trainer.fit()
        except _OutOfTime:
            pass
        out = train_figures(work / name, trainer, args, t0, compile)
        if cuda and not compile:
            out["host_syncs"] = count_syncs(trainer)
        if cuda:  # each retry frees the allocator's cache and waits for the GPU: a step that hits its limit crawls
            out["alloc_retries"] = torch.cuda.memory_stats().get("num_alloc_retries")
        if compile:
            out["dynamo"] = dynamo_census()
        if compile or not cuda:  # the compiled run on a GPU, the eager one in the smoke run
            out["profile"] = profile_steps(trainer, args.profile_steps)
    except Terminated as stop:  # the figures of the steps logged so far
        stop.keep(lambda: out or train_figures(work / name, trainer, args, t0, compile))
        raise
    return out


def train_figures(run: Path, trainer, args, t0: float, compile: bool = False) -> dict:
    """The steady tokens/s and MFU (gpu_check_figures: never the first logged row, which holds the compile), the
    attention convention beside MFU over the steps trained, losses, and the memory account against the peak."""
    rows = read_metrics_rows(run / "metrics.jsonl")
    cap = (f"--compiled-seconds ({args.compiled_seconds:g} now)" if compile
           else f"--train-seconds ({args.train_seconds:g} now)")
    out = {"steps": trainer.state.step, "wall_s": time.perf_counter() - t0,
           **steady_figures(rows, f"{cap} or --steps ({args.steps} now)")}
    if "not_measured" in out:
        print(f"{'compiled' if compile else 'train'}: tokens/s and MFU not measured: {out['not_measured']}", flush=True)
    share = sampled_share(trainer.sampler, range(min(trainer.state.step, 64)))  # 512 rows of 8 say it well enough
    out["attention"] = attention_convention(trainer.config, args.seq_len, trainer.model.mtp is not None, share,
                                            out["mfu"])
    return {**out, **({"loss_first": rows[0]["loss"], "loss_last": rows[-1]["loss"]} if rows else {}),
            **memory_check(trainer.config, args, rows, one_process=True)}


def train_fsdp(work: Path, args) -> dict:
    """torchrun, one rank: FSDP2 bf16 with an async checkpoint at the middle step; then resume from it. The model
    keeps --fsdp-layers of the preset's layers (two checkpoints of weights and AdamW state must fit on disk)."""
    steps, half = args.fsdp_steps, args.fsdp_steps // 2
    path = work / "recipe_fsdp.toml"
    path.write_text(recipe_text(args, steps, "fsdp", every=1, ckpt_every=half, layers=args.fsdp_layers))
    (work / "tmp").mkdir(exist_ok=True)  # TMPDIR: torchrun's agent leaves a torchelastic_* folder per launch
    # 4 host threads for the GPU run's rank unless OMP_NUM_THREADS says otherwise (a smoke run on a CI box of 2 cores
    # shared by two test workers: 4 threads a rank only fought over them)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "4"), "TMPDIR": str(work / "tmp")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "axk1",
           "train", str(path)]
    t0 = time.perf_counter()
    metrics, ckpts = work / "fsdp" / "metrics.jsonl", work / "fsdp" / "checkpoints"
    try:  # SIGTERM: torchrun and its workers killed (no checkpoint on the way out), the steps logged so far kept
        run_killing_tree(cmd, env=env, cwd=work)
        wall_straight = time.perf_counter() - t0
        straight = {r["step"]: r for r in read_metrics_rows(metrics)}
        shutil.rmtree(ckpts / f"step-{steps:06d}")  # resume from the middle one
        run_killing_tree(cmd + ["--resume"], env=env, cwd=work)
    except Terminated as stop:  # the last step logged, the resume's if it had begun (one file)
        stop.keep(lambda: {"last_row": read_metrics_rows(metrics)[-1]})
        raise
    resumed = {r["step"]: r for r in read_metrics_rows(metrics)}
    after = range(half + 1, steps + 1)
    diff = max(abs(resumed[s]["loss"] - straight[s]["loss"]) for s in after)
    steady = [straight[s] for s in range(half + 1, steps + 1) if straight[s].get("tokens_per_s")]
    return {"steps": steps, "resumed_from": half, "wall_s_straight": wall_straight,
            "tokens_per_s": median([r["tokens_per_s"] for r in steady]), "mfu": median([r.get("mfu") for r in steady]),
            "loss_first": straight[1]["loss"], "loss_last": straight[steps]["loss"],
            "resume_max_loss_diff": diff, "resume_follows": diff < 2e-2,
            **memory_check(model_config(args).replace(num_hidden_layers=args.fsdp_layers), args,
                           list(straight.values()), one_process=False)}


def train_transformers(work: Path, args) -> dict:
    """A plain loop over transformers' model: forward with labels, backward, clip, fused AdamW, on random batches
    of the same shape (tokens/s depends on the shape, not the values). The step's rows go through in micro-batches of
    --hf-micro rows with gradient accumulation: the whole batch at once runs out of memory on an H200 (its fp32
    logits over 163,840 entries take 20 GiB per 8 x 4,096 tokens, and the loss copies them)."""
    from transformers import AutoModelForCausalLM

    device = torch.device(args.device)
    model = AutoModelForCausalLM.from_pretrained(work / "init").to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    ids = torch.randint(3, args.vocab, (args.seqs, args.seq_len), device=device)
    times = []

    def figures() -> dict:
        return {"steps": len(times), "micro_batch": args.hf_micro,
                "tokens_per_s": args.seqs * args.seq_len / median(times[len(times) // 2:]) if times else None}

    try:
        for _ in range(args.hf_steps):
            t = time.perf_counter()
            for rows in ids.split(args.hf_micro):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    loss = model(rows, labels=rows).loss * (len(rows) / args.seqs)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    except Terminated as stop:
        stop.keep(figures)
        raise
    return figures()


def decode(work: Path, args) -> dict:
    from transformers import AutoModelForCausalLM

    device, dtype = torch.device(args.device), torch.bfloat16 if args.precision == "bf16" else torch.float32
    ours = __import__("axk1").load_model(work / "init").to(device=device, dtype=dtype).eval()
    theirs = AutoModelForCausalLM.from_pretrained(work / "init", dtype=dtype).to(device).eval()
    prompts = torch.randint(3, args.vocab, (args.rows, args.prompt)).tolist()
    out = {}
    runs = [("axk1", lambda: generate(ours, prompts, max_new_tokens=args.new_tokens, stop_ids=[])),
            ("transformers", lambda: theirs.generate(torch.tensor(prompts, device=device),
                                                     max_new_tokens=args.new_tokens,
                                                     min_new_tokens=args.new_tokens, do_sample=False))]
    # eager decoding at 32 rows is launch-bound on a GPU: the compiled step and the CUDA graph beside it (on CPU the
    # static step runs uncaptured: the smoke run checks its code); after transformers', so that a failure of either
    # cannot cost the ratios their denominator
    if device.type == "cuda":
        runs.append(("axk1_compiled", lambda: generate(ours, prompts, max_new_tokens=args.new_tokens, stop_ids=[],
                                                       compile=True)))
    runs.append(("axk1_cuda_graph", lambda: generate(ours, prompts, max_new_tokens=args.new_tokens, stop_ids=[],
                                                     cuda_graph=True)))
    failed = {}
    for name, run in runs:
        try:  # one way of decoding failing must not lose the others' figures
            run()  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            out[name] = args.rows * args.new_tokens / (time.perf_counter() - t)
        except Exception:
            failed[name] = traceback.format_exc()[-2000:]
        except Terminated as stop:
            stop.keep(lambda: {"tokens_per_s": out})
            raise
    ratios = {f"ratio{name[4:]}": out[name] / out["transformers"] for name in out
              if name.startswith("axk1") and "transformers" in out}
    return {"tokens_per_s": out, **ratios, **({"failed": failed} if failed else {})}


def model_config(args) -> ModelConfig:
    """The preset with the check's vocabulary and positions and the --model overrides (the recipes' shape too)."""
    return ModelConfig.from_preset(args.preset).replace(vocab_size=args.vocab,
                                                        max_position_embeddings=max(args.seq_len, 1024), **args.model)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="CPU, axk1-tiny, a few steps: checks the script itself")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--train-seconds", type=float, default=60.0,
                   help="end the training part after this long (the first steps compile FlexAttention: ~1 min)")
    p.add_argument("--compiled-seconds", type=float, default=75.0, help="the same with [parallelism] compile")
    p.add_argument("--fsdp-steps", type=int, default=12, help="the torchrun part's steps (a checkpoint at half)")
    p.add_argument("--fsdp-layers", type=int, default=4, help="the torchrun part's decoder layers")
    p.add_argument("--hf-steps", type=int, default=6)
    p.add_argument("--hf-micro", type=int, default=2, help="transformers' rows per forward (accumulated to the batch)")
    # the goals' figures first (MFU compiled, with its profile; decode), so that a run cut short by a time limit
    # keeps them
    p.add_argument("--parts", default="compiled,decode,train,transformers,fsdp")
    p.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE",
                   help="set a module-level setting before the parts run, a Python literal (repeatable): e.g. "
                        "axk1.train.loss.ACCELERATOR_CHUNK_TOKENS=8192 or torch._inductor.config.max_autotune=True, "
                        "so that one GPU run can try what the profile suggests; in-process parts only (not fsdp's "
                        "torchrun), and only names read at call time")
    p.add_argument("--model", action="append", default=[], metavar="NAME=VALUE",
                   help="change the model's shape for every part (repeatable), e.g. hidden_size=2048: to measure "
                        "whether a wider model than axk1-gpu-small reaches the MFU goal in the same session")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    args.model = model_overrides(args.model)
    settings = apply_settings(args.set)
    if args.smoke:
        # steps, not seconds, end the smoke run's training: its tests count them on a loaded 2-core machine
        args.__dict__.update(preset="axk1-tiny", vocab=512, seqs=4, seq_len=128, device="cpu", precision="bf16",
                             train_seconds=600.0, compiled_seconds=600.0,
                             steps=min(args.steps, 8), log_every=2, fsdp_steps=min(args.fsdp_steps, 6), fsdp_layers=2, hf_steps=3, hf_micro=2,
                             rows=4, prompt=32, new_tokens=8,
                             # one profiled step (parsing the profiler's events of three took seconds of CPU), and
                             # shards of what 128-token rows draw from, not of 4,096-token documents
                             profile_steps=1, shard_docs=64, doc_len=(256, 1024))
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_check: torch sees no GPU (run with --smoke to check the script on CPU)")
        torch.backends.cuda.matmul.allow_tf32 = True
        args.__dict__.update(preset="axk1-gpu-small", vocab=163840, seqs=8, seq_len=4096, device="cuda",
                             precision="bf16", rows=32, prompt=512, new_tokens=128, profile_steps=3,
                             shard_docs=256, doc_len=(256, 4096))
        # an H100 80GB holds 5 of the 8 sequences by the trainer's account: fewer, said and recorded, not an OOM
        args.seqs, fit = sequences_that_fit(model_config(args), args.seqs, args.seq_len, args.precision,
                                            torch.cuda.get_device_properties(0).total_memory)
        if note := fit_note(fit, args.seq_len):
            print(note, flush=True)
    parts = {"train": train_axk1, "fsdp": train_fsdp, "transformers": train_transformers, "decode": decode,
             "compiled": lambda work, args: train_axk1(work, args, compile=True)}
    failed, stopped = [], None
    stop_on_sigterm()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = model_config(args)
        torch.manual_seed(0)
        init = AXK1ForCausalLM(config, with_mtp=True)
        save_pretrained(init, work / "init")
        n_params = sum(p.numel() for p in init.parameters())
        del init
        write_synthetic_shards(work / "tokens", vocab_size=args.vocab, docs=args.shard_docs,
                               doc_len=args.doc_len)
        result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "settings": settings,
                  "torch": torch.__version__, "preset": args.preset, "model": args.model, "parameters": n_params,
                  "batch": [args.seqs, args.seq_len], **({} if args.smoke else {"batch_fit": fit}),
                  "flops_per_token": training_flops_per_token(config, args.seq_len, with_mtp=True, causal=True)}
        for name in args.parts.split(","):
            t0 = time.perf_counter()
            try:
                result[name] = parts[name](work, args)
                result[name]["part_wall_s"] = round(time.perf_counter() - t0, 1)  # for the next run's time budget
                if result[name].get("failed"):  # a part that measured some of its runs: the exit status says so
                    failed.append(name)
                print(f"{name} ({time.perf_counter() - t0:.0f} s):", json.dumps(result[name]), flush=True)
            except Exception:
                failed.append(name)
                result[name] = {"error": traceback.format_exc()}
                print(f"{name} FAILED after {time.perf_counter() - t0:.0f} s:\n{result[name]['error']}", flush=True)
            except Terminated as stop:  # the time is up: what this part measured, and no more parts
                stopped = f"{stop} during {name}, {time.perf_counter() - t0:.0f} s into it"
                result[name] = {**stop.partial, "stopped": stopped}
                print(f"{name} STOPPED ({stopped}):", json.dumps(result[name]), flush=True)
            if args.device == "cuda":
                torch.cuda.empty_cache()
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=1))
            if stopped:
                break
        if result.get("transformers", {}).get("tokens_per_s"):  # None where not measured (gpu_check_figures)
            for mine in ("train", "compiled"):
                if result.get(mine, {}).get("tokens_per_s"):
                    result[f"{mine}_ratio"] = result[mine]["tokens_per_s"] / result["transformers"]["tokens_per_s"]
                    print(f"{mine}_ratio (axk1 / transformers)", round(result[f"{mine}_ratio"], 2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    if stopped:
        raise SystemExit(f"gpu_check: stopped by {stopped}; the figures measured so far are in {args.json}")
    if failed:
        raise SystemExit(f"gpu_check: failed parts: {', '.join(failed)}")


if __name__ == "__main__":
    try:
        main()
    except Terminated as stop:  # before the first part: nothing measured yet
        raise SystemExit(f"gpu_check: stopped by {stop} before any part ran")
