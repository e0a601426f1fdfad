"""The recipe checks that need the run's steps: the tokens one step draws, the MTP depth against the rows' length,
and the warmup against the schedule's steps. Each found a recipe that passed `--dry-run` and then failed or did
nothing useful: 4,000,000,000 sequences a step were a numpy "Unable to allocate 954 GiB" at the first step,
mtp_depth = seq_len a tensor-size RuntimeError at step 1, and warmup_steps = 100,000 on a 12-step run trained it
all far below the peak learning rate, silently.
"""

from __future__ import annotations

# The most tokens one optimizer step may take. A step's rows are drawn into host memory at once (token and document
# ids, 16 bytes a token, axk1/train/data.py), so a step of 2**30 tokens is 16 GiB of host memory before any forward.
# The largest published pretraining batches are ~63M tokens (DeepSeek-V3: 15,360 sequences of 4,096), 17x below it.
MAX_TOKENS_PER_STEP = 2**30


def check_step_shapes(r) -> None:
    """Refuses a step of more than MAX_TOKENS_PER_STEP tokens, naming the [batch] key that sets it, and an
    [model] mtp_depth that leaves the deepest MTP module no target in a row. `r`: a Recipe (or SFT's), whose
    step_shapes() are (stage, seq_len, sequences per step)."""
    b = r.batch
    key, value = (("global_tokens", b.global_tokens) if b.global_tokens > 0 else
                  ("global_sequences", b.global_sequences))
    depth = r.model.mtp_depth
    for stage, seq_len, sequences in r.step_shapes():
        tokens = seq_len * sequences
        if tokens > MAX_TOKENS_PER_STEP:
            raise ValueError(f"[batch] {key} = {value:,} makes a step of {stage!r} {sequences:,} sequences of "
                             f"{seq_len:,} tokens ({tokens:,} tokens), more than the {MAX_TOKENS_PER_STEP:,} a step "
                             f"may take (a step's rows are drawn into host memory at once, 16 bytes a token): lower "
                             f"[batch] {key}")
        # depth k predicts, at position i, the token i + 1 + k: a row of T tokens has T - 1 - k such targets, so the
        # deepest module needs T >= depth + 2 for one (depth >= T crashed the loss at step 1; T - 1 trained nothing)
        if depth and seq_len < depth + 2:
            raise ValueError(f"[model] mtp_depth = {depth} needs rows of at least {depth + 2} tokens (MTP depth k "
                             f"predicts the token k + 1 past the next, and the deepest needs one target in a row), "
                             f"but {stage!r} trains at seq_len {seq_len}: lower mtp_depth or raise the seq_len")


def check_warmup(warmup_steps: int, total_steps: int, total_is: str) -> None:
    """Refuses a warmup longer than the schedule: the learning rate would never reach [optimizer] lr (step s of a
    warmup of w runs at (s + 1) / w of it). A warmup of exactly the schedule's steps reaches it on the last step: legal,
    and the pretraining dry run notes it. `total_is`: what sets the schedule's steps, to name."""
    if warmup_steps > total_steps:
        raise ValueError(f"[schedule] warmup_steps = {warmup_steps:,} is more than the schedule's {total_steps:,} "
                         f"steps ({total_is}): the learning rate would never reach its peak. Lower warmup_steps; "
                         "for a part of a longer run, set [schedule] total_steps to the whole run's steps")
