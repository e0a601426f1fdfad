"""The recipe a plan writes costs its budget: every stage's tokens priced at that stage's own lengths (a 32K token's
attention costs ~2x a 4K one's on the A.X K1 plan). The planner priced every token at the base length, so each
recipe overspent: A.X K1's 2.556e24 became 2.638e24 (~75 of the 73 days), one GPU for one day 10.5% over."""

import pytest

from axk1.flops import training_flops_per_token
from axk1.plan.planner import make_plan
from axk1.plan.report import write_outputs
from axk1.plan.search import RECOMPUTE_THROUGHPUT
from axk1.train.recipe import load_recipe


def recipe_cost(recipe) -> float:
    """FLOPs the recipe's stages do, as the trainer counts them (causal), at each part's own length (the steps the trainer
    takes, Recipe.stage_steps), recompute's repeated forward included."""
    config = recipe.model.build_config()
    mtp = recipe.model.mtp_depth > 0
    flops = sum(steps * seqs * length * training_flops_per_token(config, length, with_mtp=mtp, causal=True)
                for stage, parts in zip(recipe.stages, recipe.stage_steps())
                for (steps, seqs), length in zip(parts, stage.lengths()))
    return flops / (RECOMPUTE_THROUGHPUT if recipe.parallelism.activation_checkpointing == "full" else 1.0)


@pytest.mark.parametrize("gpu, gpus, days", [("H200", 1024, 73), ("H200", 8, 7), ("H200", 1, 1)])
def test_the_recipe_costs_the_budget(gpu, gpus, days, tmp_path):
    plan = make_plan(gpu, gpus, days)
    recipe = load_recipe(write_outputs(plan, tmp_path)["recipe"])
    assert sum(s.tokens for s in recipe.stages) == int(plan.best.tokens)
    assert recipe_cost(recipe) == pytest.approx(plan.budget.flops, rel=0.01)
    assert plan.days == pytest.approx(days, rel=0.01)  # the days printed are the days the recipe takes


def test_fixed_tokens_say_the_days_the_recipe_takes(tmp_path):
    plan = make_plan("H200", 1024, 73, tokens=5e12)
    recipe = load_recipe(write_outputs(plan, tmp_path)["recipe"])
    per_gpu_second = plan.budget.achieved_tflops * 1e12 * plan.budget.gpus
    assert plan.days == pytest.approx(recipe_cost(recipe) / per_gpu_second / 86400, rel=0.01)


def test_the_isoflop_figure_names_the_budget_and_leverage_the_plan_prints():
    """Its main curve read "C = 1.92e+24 FLOPs (EL 9.8)" beside a plan of 2.556e+24 and EL 10.0."""
    from axk1.plan.report import isoflop_curve, summary_text

    plan = make_plan("H200", 1024, 73)
    assert plan.best.memory.layout.recompute
    flops, _, label = isoflop_curve(plan, 1.0)
    assert flops == pytest.approx(plan.flops)
    assert label.startswith(f"C = {plan.budget.flops:.3e} FLOPs (EL {plan.best.leverage:.1f}, ") \
        and "model FLOPs after recompute" in label
    assert f"{plan.budget.flops:.3e}" in summary_text(plan) and f"EL {plan.best.leverage:.1f}" in summary_text(plan)
