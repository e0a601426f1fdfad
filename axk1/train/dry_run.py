"""`axk1 train RECIPE --dry-run --world-size N`: check a recipe against a launch of N ranks without building the
model or touching data — mesh shape, every stage's batch over the data-parallel ranks, positions, device — and
print the memory per GPU each stage needs (axk1/train/memory.py, the account the planner uses) against the GPU's.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from axk1.hardware import get_gpu
from axk1.params import BYTE_UNITS, count_parameters, count_text
from axk1.parallel.activation_checkpoint import normalize_mode
from axk1.parallel.mesh import MeshDims
from axk1.train.memory import KEPT_BYTES_PER_PARAM, USABLE_FRACTION, StepMemory
from axk1.train.recipe import Recipe
from axk1.train.validation import rows_problem


# what the table's columns hold (axk1/train/memory.py)
LEGEND = textwrap.fill(
    "state: this rank's share of the fp32 weights, gradients and AdamW moments; gather: weights gathered for "
    "compute (FSDP2's units, autocast's bf16 copies); loss: the chunked loss's buffers; acts: one micro-batch's "
    "activations; rsv: a GPU's reserve (CUDA context, NCCL, the allocator's slack; 0 on CPU). The step's tensors at "
    "its peak, the largest of its moments (the forward's end, the backward's first unit, each recompute, its end); "
    "the process itself (Python, torch's libraries) comes on top.",
    width=118)


@dataclass
class StageCheck:
    stage: str
    seq_len: int
    sequences: int       # per optimizer step
    per_rank: int        # sequences per data-parallel rank
    micro_batches: int   # per rank and step
    memory: StepMemory


@dataclass
class DryRun:
    world_size: int
    gpu: str
    limit_gb: float      # usable HBM per GPU
    device: str
    rows: list[StageCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # what the launch will do that the user may not expect

    @property
    def on_gpus(self) -> bool:
        return self.device != "cpu"

    def table(self) -> str:
        head = (f"{'stage':<28} {'seq_len':>7} {'seqs/step':>9} {'/rank':>5} {'micro':>5}  {'state':>6} "
                f"{'gather':>6} {'loss':>5} {'acts':>6} {'rsv':>4} {'total':>6}  (GB; limit {self.limit_gb:.0f})")
        if not self.on_gpus:
            head = head.replace(f"(GB; limit {self.limit_gb:.0f})", "(GB per rank, host memory)")
        lines = [head]
        for r in self.rows:
            m = r.memory
            flag = "" if m.total <= self.limit_gb or not self.on_gpus else "  OVER"
            lines.append(f"{r.stage:<28} {r.seq_len:>7} {r.sequences:>9,} {r.per_rank:>5} {r.micro_batches:>5}  "
                         f"{m.state:>6.1f} {m.gathered:>6.1f} {m.loss:>5.1f} {m.activations:>6.1f} {m.reserved:>4.0f} "
                         f"{m.total:>6.1f}{flag}")
        lines.append(LEGEND)
        return "\n".join(lines)


def dry_run(recipe: Recipe, world_size: int, gpu: str = "H200") -> DryRun:
    """Every check of a launch of `world_size` ranks; problems are listed, not raised, so all show at once."""
    spec = get_gpu(gpu)
    config = recipe.model.build_config()
    p = recipe.parallelism
    out = DryRun(world_size, spec.name, spec.memory_gb * USABLE_FRACTION, recipe.run.device)
    dims = MeshDims(p.dp_replicate, p.dp_shard, p.ep, p.cp)
    try:
        dims.check(world_size, config.n_routed_experts)
    except ValueError as e:
        out.problems.append(str(e))
    if world_size > 1 and not out.on_gpus:  # what the trainer does under torchrun (the test suite's runs do it)
        out.notes.append(f"[run] device = \"cpu\": the {world_size} ranks train on CPU with gloo, and the memory per "
                         f"rank is host memory, not checked against {spec.name} (for GPUs: device = \"auto\" or "
                         "\"cuda\")")
    out.notes += batch_notes(recipe) + optimizer_notes(recipe)
    if recipe.needs_stages:  # pretraining: a schedule over its stages' steps, held-out rows, the token shards
        out.notes += schedule_notes(recipe)
    dp = max(1, world_size // p.cp)  # the cp ranks of a group share their rows
    if recipe.needs_stages and recipe.validation.held_out > 0 and (
            problem := rows_problem(recipe.validation.sequences, dp)):
        out.problems.append(problem)
    recompute = normalize_mode(p.activation_checkpointing) == "full"
    for stage, L, seqs in recipe.step_shapes():
        if seqs % dp and recipe.rows_must_divide:
            out.problems.append(f"stage {stage!r} at seq_len {L}: {seqs:,} sequences per step do not divide "
                                f"over {dp} data-parallel ranks: " + (
                                    f"make [batch] global_tokens a multiple of {dp} x the longest seq_len"
                                    if recipe.batch.global_tokens > 0 else
                                    f"make [batch] global_sequences a multiple of {dp}"))
        per_rank, micro, micro_note = shape_micro_batches(recipe, stage, L, seqs, dp)
        padding = 1 - seqs / (per_rank * dp)  # RL: the share of the step's rows that are padding
        if padding > 0.5 and not recipe.rows_must_divide:  # most of the GPUs would compute nothing
            out.problems.append(f"stage {stage!r}: {seqs:,} completions an optimizer step over {dp:,} data-parallel "
                                f"ranks: {padding:.0%} of the rows the ranks compute are padding (no loss); give "
                                f"a step at least {dp:,} completions ([rl] prompts_per_step x group_size / "
                                "updates_per_batch), or launch fewer ranks")
        elif seqs % dp and not recipe.rows_must_divide:
            out.notes.append(f"{stage!r}: {seqs:,} completions an optimizer step do not divide over {dp} "
                             f"data-parallel ranks: the ranks with fewer run padding micro-batches (no loss; "
                             f"{padding:.0%} of the rows) to keep step")
        if micro_note:
            out.notes.append(micro_note)
        # one rank: without torchrun; a CPU rank's without a GPU's reserve and with the CPU loss's buffers
        memory = recipe.step_account(config, L, micro, world_size, accelerator=out.on_gpus)
        out.rows.append(StageCheck(stage, L, seqs, per_rank, -(-per_rank // micro), memory))
        if memory.total > out.limit_gb and out.on_gpus:
            out.problems.append(f"stage {stage!r} at seq_len {L}: {memory.total:.1f} GB per GPU > "
                                f"{out.limit_gb:.0f} GB usable on {spec.name}: "
                                + memory_advice(recipe, memory, micro, recompute))
    if world_size > 1:
        out.notes.append(checkpoint_note(recipe, config))
    out.problems += recipe.launch_problems(config, world_size, out.limit_gb, out.on_gpus)
    if recipe.needs_stages:
        out.problems += data_problems(recipe, config.vocab_size)
    if recipe.model.init_from is not None:
        problems, notes = init_from_check(recipe, config)
        out.problems += problems
        out.notes += notes
    return out


def micro_batch_note(stage: str, seq_len: int, per_rank: int, micro: int) -> str:
    """What a micro_batch that does not divide a rank's rows does, with the micro_batch values near it that do;
    "" when it divides them. The loss is the same (micro-batches are weighted by their labels); the shapes are not."""
    if per_rank % micro == 0:
        return ""
    divisors = [d for d in range(1, per_rank + 1) if per_rank % d == 0]
    near = [str(d) for d in ([d for d in divisors if d < micro][-1:] + [d for d in divisors if d > micro][:1])]
    return (f"stage {stage!r} at seq_len {seq_len}: {per_rank:,} rows per rank in micro-batches of {micro}: the last "
            f"holds {per_rank % micro} (a second shape each step, recompiled under compile); set [batch] micro_batch "
            f"to a divisor of {per_rank:,} ({' or '.join(near)}) to avoid it")


def shape_micro_batches(recipe: Recipe, stage: str, seq_len: int, seqs: int, dp_size: int) -> tuple[int, int, str]:
    """(rows a data-parallel rank holds, its micro-batch, micro_batch_note) for a step of `seqs` sequences at
    `seq_len` over `dp_size` ranks: the one account the dry run's table and the notes at a run's start share."""
    # a recipe whose rows must divide drops none (the dry run refuses the rest); RL pads a rank's rows up instead
    per_rank = max(1, seqs // dp_size) if recipe.rows_must_divide else -(-seqs // dp_size)
    # the trainer slices a rank's rows in micro-batches of micro_batch: one rank never holds more rows than it has
    micro = min(recipe.batch.micro_batch, per_rank)
    return per_rank, micro, micro_batch_note(stage, seq_len, per_rank, micro)


def micro_batch_notes(recipe: Recipe, dp_size: int) -> list[str]:
    """micro_batch_note for each shape a run's steps take over `dp_size` data-parallel ranks: said at the start of
    a run (`axk1 train`, `axk1 sft`) as the dry run says it, where a launch without the dry run heard nothing."""
    return [note for stage, L, seqs in recipe.step_shapes()
            if (note := shape_micro_batches(recipe, stage, L, seqs, dp_size)[2])]


def init_from_check(recipe: Recipe, config) -> tuple[list[str], list[str]]:
    """(problems, notes) of [model] init_from's folder against the recipe's model: the check the run makes when it
    loads the folder (axk1/checkpoint/hf_sharded.py), on the files' headers only, so a folder of another size or
    whose weights are not its config.json's is named here and not after the launch has built the model."""
    from pathlib import Path

    from axk1.checkpoint.hf_sharded import check_weights

    notes: list[str] = []  # the check's own (no MTP weights, config.json fields that differ)
    try:
        check_weights(Path(recipe.model.init_from), config, with_mtp=recipe.model.mtp_depth > 0, notes=notes)
    except (ValueError, OSError) as e:
        return [str(e)], []
    return [], notes


def checkpoint_note(recipe: Recipe, config) -> str:
    """A checkpoint's size and the write bandwidth the collective timeout asks for: the ranks wait in a collective
    for the slowest writer, and a rank that waits past [run] collective_timeout_s stops the launch."""
    counts = count_parameters(config, with_mtp=config.num_nextn_predict_layers > 0)
    params = counts["total"] + counts["mtp"]
    size = params * KEPT_BYTES_PER_PARAM
    timeout = recipe.run.collective_timeout_s
    rate = count_text(size / timeout, decimals=1, units=BYTE_UNITS)  # a tiny model's is not "6.9e-06 GB/s"
    return (f"a checkpoint holds ~{count_text(size, units=BYTE_UNITS)} ({count_text(params)} parameters: fp32 "
            f"weights and AdamW's two moments); the ranks wait for the slowest writer within [run] "
            f"collective_timeout_s = {timeout:g} s, so the file system must write {rate}/s or more in all (raise the "
            "timeout if not)")


def memory_advice(recipe: Recipe, memory: StepMemory, micro: int, recompute: bool) -> str:
    """What shrinks the largest term of a step that does not fit: sharding shrinks the state only, and a row's
    activations shrink only with fewer tokens a rank (context parallelism, shorter rows, one row a micro-batch) or
    recompute, so advice for the wrong term sent a launch already sharded over every rank to shard more."""
    p = recipe.parallelism
    terms = {"activations": memory.activations, "state": memory.state, "gathered": memory.gathered,
             "loss": memory.loss}
    largest = max(terms, key=terms.get)
    fewer_tokens = ([] if micro == 1 else [f"lower [batch] micro_batch ({micro})"]) + [f"shorten {recipe.length_key}"]
    if largest in ("activations", "loss"):
        fixes = [] if recompute or largest == "loss" else ['set [parallelism] activation_checkpointing = "full"']
        if recipe.context_parallel and largest == "activations":
            fixes.append(f"raise [parallelism] cp (now {p.cp}; each row's tokens split over cp ranks, which "
                         "multiplies the world size)")
        fixes += fewer_tokens
    elif largest == "state":
        fixes = [f"shard it over more ranks: raise [parallelism] dp_shard (now {p.dp_shard}" + (
            f"; dp_replicate = {p.dp_replicate} copies it)" if p.dp_replicate > 1 else ", with more GPUs)")]
    else:  # one gathered layer: its experts for this rank
        fixes = [f"raise [parallelism] ep (now {p.ep}): fewer experts a rank in each gathered layer"]
    return f"{largest} ({terms[largest]:.1f} GB) is the largest term: " + ", or ".join(fixes)


ROUND_UP_NOTE = 1.1  # a stage trained 10% or more past its tokens (whole steps) is said


def batch_notes(recipe: Recipe) -> list[str]:
    """What a recipe's [batch] does that its author may not expect, said by the dry run and at the start of a run
    (`axk1 train`, `axk1 sft`): global_sequences ignored beside global_tokens, and global_tokens that are not whole
    sequences at a stage's length (the step rounds down), not left to be found in the token counts."""
    notes = []
    g = recipe.batch.global_tokens
    if g > 0 and recipe.batch.global_sequences > 0:  # the trainer reads one of the two
        notes.append(f"[batch] global_sequences = {recipe.batch.global_sequences} is ignored: global_tokens = "
                     f"{g:,} decides the sequences per step at each length (delete one)")
    for L in sorted({L for stage in recipe.stages for L in stage.lengths()} if g > 0 else ()):
        if g % L:  # whole sequences a step: the rest of the tokens asked for is dropped
            n = recipe.sequences_per_step(L)
            notes.append(f"[batch] global_tokens = {g:,} is not a multiple of seq_len {L:,}: a step at that "
                         f"length takes {n:,} sequences = {n * L:,} tokens")
    return notes + (rounded_up_stages(recipe) if recipe.needs_stages else [])


def rounded_up_stages(recipe: Recipe) -> list[str]:
    """Stages whose tokens (each length's share, with a seq_len_schedule) are well off whole optimizer steps: a
    stage trains whole steps, rounded up (`tokens = 100` with 256 a step trained 256, 2.56x; 1.5 steps trained 2,
    1.33x), without a word. Said past ROUND_UP_NOTE, not refused: the suite's small recipes take one step of a
    stage on purpose."""
    notes = []
    for i, (stage, parts) in enumerate(zip(recipe.stages, recipe.stage_steps()), 1):
        lengths = stage.lengths()
        for j, (L, (steps, seqs)) in enumerate(zip(lengths, parts)):
            # recipe.stage_steps splits a stage's tokens evenly over its lengths, the rest to the last
            share = stage.tokens // len(lengths) + (stage.tokens % len(lengths) if j == len(lengths) - 1 else 0)
            step = seqs * L
            trained = steps * step
            if share <= 0 or trained < share * ROUND_UP_NOTE:
                continue
            part = f" ({share:,} at seq_len {L:,} of its seq_len_schedule)" if len(lengths) > 1 else ""
            if steps == 1:
                what = f"less than one optimizer step of {step:,} tokens ({seqs:,} sequences of {L:,}): it trains " \
                       "one whole step"
            else:
                what = f"{share / step:.2f} optimizer steps of {step:,} tokens ({seqs:,} sequences of {L:,}): it " \
                       f"trains {steps:,} whole steps"
            notes.append(f"[[stages]] #{i} ({stage.name}) has {stage.tokens:,} tokens{part}, {what}, "
                         f"{trained / share:.2f}x the tokens asked; raise tokens or lower the batch")
    return notes


# AdamW trains transformers at peak learning rates of about 1e-4 to 1e-2 (small models the highest); above this one
# a run diverges (lr 3 on axk1-tiny: the loss rose from 9.0 to 177.7 in 3 steps). A note, not a problem: it may be meant.
SANE_LR = 0.1


def optimizer_notes(recipe: Recipe) -> list[str]:
    """What the recipe's [optimizer] will do that its author may not expect."""
    lr = recipe.optimizer.lr
    if lr <= SANE_LR:
        return []
    return [f"[optimizer] lr = {lr:g} is far above what AdamW trains a transformer with (about 1e-4 to 1e-2; over "
            f"{SANE_LR:g} the loss diverges): is it a typo? (the run says so if its loss rises above a uniform guess's)"]


def schedule_notes(recipe: Recipe) -> list[str]:
    """What a pretraining recipe's schedule will do that its author may not expect."""
    notes = []
    steps = sum(n for parts in recipe.stage_steps() for n, _ in parts)
    sched = recipe.schedule
    if sched.total_steps and sched.total_steps != steps:  # may be meant (a part of a longer run): said, not refused
        notes.append(f"[schedule] total_steps = {sched.total_steps:,} but the stages take {steps:,} steps: the "
                     "learning rate schedule ends " + ("before" if sched.total_steps < steps else "after") +
                     " the run (0 = the stages' steps)")
    if sched.warmup_steps == recipe.total_steps():  # a longer warmup is refused (axk1/train/step_checks.py)
        notes.append(f"[schedule] warmup_steps = {sched.warmup_steps:,} is the schedule's {recipe.total_steps():,} "
                     "steps: the learning rate reaches its peak on the last step only")
    return notes


def data_problems(recipe: Recipe, vocab_size: int) -> list[str]:
    """What the trainer would refuse about the token shards at start (a mixture domain or bucket no training shard
    holds, token ids past the model's vocabulary), when the manifest is there to read; it is read as the trainer
    reads it (indexes memory-mapped, no token read)."""
    from pathlib import Path

    from axk1.train.data import StageSampler, check_token_bound, load_shards, split_validation

    if not Path(recipe.data.manifest).exists():  # the budget says so (a login node before the data is made)
        return []
    try:
        manifest, shards = load_shards(recipe.data.manifest)
        check_token_bound(manifest, shards, vocab_size, recipe.data.manifest)
        StageSampler(recipe, split_validation(shards, recipe.validation.held_out, recipe.data.seed)[0])
    except (ValueError, OSError) as e:
        return [str(e)]
    return []
