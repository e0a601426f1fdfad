"""What `axk1 plan` writes passes `axk1 train RECIPE --dry-run` for the planned launch: base sequence lengths other
than A.X K1's 4096, one GPU (the trainer's one-process path), budgets whose best shapes no GPU holds, absurd GPU
counts."""

import pytest

from axk1.cli import main
from axk1.plan.planner import make_plan
from axk1.plan.report import write_outputs
from axk1.train.dry_run import dry_run
from axk1.train.recipe import load_recipe
from axk1.train.step_checks import MAX_TOKENS_PER_STEP


def round_trip(plan, tmp_path, gpu):
    files = write_outputs(plan, tmp_path)
    # the command a user runs on the login node: exit 0 means no problem at all
    assert main(["train", str(files["recipe"]), "--dry-run", "--world-size", str(plan.budget.gpus), "--gpu", gpu]) == 0
    recipe = load_recipe(files["recipe"])
    recipe.run.device = "cuda"  # what the dry run makes of "auto": the GPU machines' device
    result = dry_run(recipe, plan.budget.gpus, gpu)
    assert result.problems == []
    return recipe, result


@pytest.mark.parametrize("seq_len", [100, 2048, 6000, 65536])
def test_seq_len_is_the_recipes_base_length(seq_len, tmp_path):
    plan = make_plan("H200", 8, 1, seq_len=seq_len)
    recipe, _ = round_trip(plan, tmp_path, "H200")
    lengths = [s.lengths() for s in recipe.stages]
    assert lengths[0] == lengths[1] == [seq_len]
    # A.X K1's long-context schedule (x4, x8 of the base) as far as the layout's memory holds it
    assert lengths[2] == [seq_len, 4 * seq_len, 8 * seq_len][:len(lengths[2])]
    assert max(lengths[2]) == plan.context
    assert recipe.batch.global_tokens == plan.batch_sequences * seq_len
    assert recipe.parallelism.cp in (1, 2, 4, 8) and seq_len % recipe.parallelism.cp == 0


def test_seq_len_below_two_is_refused():
    with pytest.raises(ValueError, match="--seq-len must be a whole number of tokens >= 2"):
        make_plan("H200", 8, 1, seq_len=1)


def test_one_gpu_plan_uses_the_one_process_account(tmp_path):
    # one GPU trains without torchrun, under autocast (fp32 weights + their bf16 copies): the planner's figure is
    # the dry run's
    plan = make_plan("H100", 1, 30)
    _, result = round_trip(plan, tmp_path, "H100")
    longest = max(result.rows, key=lambda r: r.seq_len)
    assert longest.memory.total == pytest.approx(plan.best.memory.total_gb, rel=1e-6)


def test_more_compute_never_turns_into_no_plan(tmp_path):
    # the best shapes for 1,000 days of one GPU fit no GPU; smaller ones far down the ranking do
    plan = make_plan("H200", 1, 1000)
    assert plan.best.memory is not None
    round_trip(plan, tmp_path, "H200")


def test_100000_gpus_plan_a_step_the_trainer_takes(tmp_path):
    # docs/planning.md's example: one 32K sequence on each of 50,000 data-parallel ranks (cp 2) was 1.6B tokens a
    # step, over the trainer's cap of 2**30, and the plan's recipe failed its own dry run
    plan = make_plan("H200", 100_000, 365)
    recipe, _ = round_trip(plan, tmp_path, "H200")
    assert plan.batch_tokens <= MAX_TOKENS_PER_STEP and recipe.parallelism.cp >= 4
    assert "context parallel below 4 would leave 50,000 data-parallel ranks" in plan.best.memory.why  # and why


@pytest.mark.parametrize("gpus", [300_000, 10**9])
def test_gpus_past_the_step_cap_are_refused_naming_the_most(gpus):
    # more data-parallel ranks than the step cap holds one 32K sequence each, even at context parallel 8
    with pytest.raises(ValueError, match=rf"{gpus:,} GPUs are too many for one optimizer step.*at most 262,144 GPUs"):
        make_plan("H200", gpus, 1)


def test_the_plans_recipe_schedule_ends_with_its_steps_and_sizes_its_batch_once(tmp_path):
    """The schedule's total_steps is the number of steps the trainer takes (each stage rounded up to whole steps;
    it was a few short, so the last steps ran past the decay), and the batch is given once, in tokens (a
    global_sequences beside global_tokens is ignored by the trainer, and was wrong at the long stage's length)."""
    assert main(["plan", "--gpu", "H100", "--gpus", "1", "--days", str(1 / 24), "-o", str(tmp_path)]) == 0
    recipe = load_recipe(tmp_path / "recipe.toml", ["--run.device", "cpu"])
    assert recipe.schedule.total_steps == sum(n for parts in recipe.stage_steps() for n, _ in parts)
    assert recipe.batch.global_sequences == 0 and recipe.batch.global_tokens > 0


def test_a_context_parallel_plan_pays_for_no_mtp(tmp_path):
    # A plan whose layout needs context parallelism writes a recipe without MTP, but priced every token with MTP's
    # work: fewer tokens (and days) than the budget buys, and plan.md said "incl. ... MTP".
    from axk1.plan.planner import recipe_flops_per_token

    plan = make_plan("H200", 8, 7)
    assert plan.best.memory.layout.cp > 1
    recipe, _ = round_trip(plan, tmp_path, "H200")
    assert recipe.model.mtp_depth == 0
    assert plan.best.train_flops_per_token == recipe_flops_per_token(plan.best.config, plan.seq_len, plan.context,
                                                                     with_mtp=False, causal=True)
    assert plan.best.law_flops_per_token == recipe_flops_per_token(plan.best.config, plan.seq_len, plan.context,
                                                                   with_mtp=False, causal=False)
    assert plan.best.budget_tokens == pytest.approx(plan.budget.flops / plan.best.train_flops_per_token)
    assert "no MTP: context parallelism trains without it" in (tmp_path / "plan.md").read_text()
