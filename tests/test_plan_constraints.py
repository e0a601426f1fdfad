"""The planner's limits: each one binds visibly, more compute moves the model or names what stops it, the laws
decide (a different law, a different plan), dense and MoE in one search, and implausible plans warn."""

import math

import pytest

from axk1.plan.constraints import (DATA, REPEAT_HALF_LIFE, SERVING, SPARSITY, TPP_MAX, Limits, mixture_shares)
from axk1.hardware import make_budget
from axk1.plan.planner import make_plan
from axk1.plan.report import write_outputs
from axk1.plan.search import SearchSpace

# a coarser family where a test does not depend on the full search (a plan in ~0.3 s instead of ~1.5 s)
SMALL_SPACE = SearchSpace(hidden_sizes=(1024, 2048, 4096, 7168), experts=(64, 192), top_k=(8,), granularities=(8,),
                          dense_layers=(1,), dense_hidden_sizes=(1024, 2048, 4096, 8192, 16384))


@pytest.fixture(scope="module")
def axk1_plan():
    return make_plan("H200", 1024, 73)


def _names(plan) -> set[str]:
    return {line.split(":", 1)[0] for line in plan.binding}


def test_mixture_shares_sum_to_one():
    shares = mixture_shares()
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["web"] > shares["code"] > shares["reasoning"]


def test_effective_tokens_follow_muennighoff():
    limits = Limits(unique_tokens={d: 1e12 for d in mixture_shares()})
    cap = limits.max_tokens()  # the domain with the largest share reaches 4 epochs first
    assert cap == pytest.approx(4e12 / max(mixture_shares().values()))
    assert limits.effective_tokens(0.5e12) == pytest.approx(0.5e12)  # nothing repeats yet
    assert limits.effective_tokens(cap) < cap
    # far beyond the data, every domain's value saturates at U (1 + R*)
    huge = limits.effective_tokens(1e20)
    assert huge == pytest.approx(len(mixture_shares()) * 1e12 * (1 + REPEAT_HALF_LIFE), rel=1e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_epochs=0.5), "--max-epochs"),
    (dict(max_epochs=math.inf), "--max-epochs"),
    (dict(unique_tokens={"poetry": 1e12}), "unknown domain 'poetry'"),
    (dict(unique_tokens={"web": -1.0}), "--data web"),
    (dict(min_tokens_per_param=50, max_tokens_per_param=20), "need 0 < min < max"),
])
def test_limits_refuse_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Limits(**kwargs)


def test_axk1_plan_names_binding_limits_and_the_unconstrained_optimum(axk1_plan, tmp_path):
    names = _names(axk1_plan)
    assert SERVING in names and SPARSITY in names
    free = axk1_plan.analysis.unconstrained
    assert free.lifted_loss["all"] < axk1_plan.best.loss
    lifted = axk1_plan.analysis.lifted[SERVING]
    assert lifted.total > axk1_plan.best.total and lifted.loss < axk1_plan.best.loss
    assert axk1_plan.band[0] < axk1_plan.best.loss < axk1_plan.band[1]
    text = write_outputs(axk1_plan, tmp_path)["plan"].read_text()
    for needle in ("What decided the plan", "binding: serving memory", "unconstrained optimum", "more compute:",
                   "near-ties", "5-95% band"):
        assert needle in text


def test_more_compute_moves_the_model_or_names_the_limit(axk1_plan):
    plans = [axk1_plan] + [make_plan("H200", 1024, 73 * k) for k in (2, 8)]
    for small, big in zip(plans, plans[1:]):
        same = (small.best.total, small.best.activated) == (big.best.total, big.best.activated)
        if same:  # the same model: the plan must say what holds it
            assert "hold the model" in small.growth and (SERVING in small.growth or SPARSITY in small.growth)
    assert plans[2].best.activated > plans[0].best.activated  # 8x: the tokens-per-parameter cap moves it


def test_huge_budget_is_held_by_data_and_says_so():
    plan = make_plan("H200", 100_000, 365, space=SMALL_SPACE)
    assert plan.best.tokens <= plan.limits.max_tokens() * (1 + 1e-9)
    assert plan.best.capped_by in (DATA, TPP_MAX)
    assert any("caps the tokens" in w for w in plan.warnings)
    assert any("repeats its data" in w for w in plan.warnings)
    assert plan.days < 365  # the compute it cannot use is not spent


def test_more_data_lifts_the_cap():
    poor = make_plan("H200", 4096, 365, data={d: 1e12 for d in mixture_shares()}, space=SMALL_SPACE)
    rich = make_plan("H200", 4096, 365, space=SMALL_SPACE)
    assert poor.best.tokens < rich.best.tokens
    assert DATA in _names(poor)


def test_chinchilla_law_gives_a_different_plan(axk1_plan):
    # where the serving bound does not hold the model the law's allocation decides, and the laws differ
    deepseek = make_plan("H200", 1024, 73, serve_gpus=0)
    chinchilla = make_plan("H200", 1024, 73, serve_gpus=0, law="chinchilla")
    assert (deepseek.best.total, deepseek.best.tokens) != (chinchilla.best.total, chinchilla.best.tokens)
    # at A.X K1's budget with the default limits both are held by the same limits: the plans say so, and their
    # unconstrained optima differ
    default_chinchilla = make_plan("H200", 1024, 73, law="chinchilla")
    assert SERVING in _names(default_chinchilla) and SERVING in _names(axk1_plan)
    assert default_chinchilla.analysis.unconstrained.total != axk1_plan.analysis.unconstrained.total


def test_dense_and_moe_are_both_searched():
    both = make_plan("H100", 512, 30, space=SMALL_SPACE)
    dense = make_plan("H100", 512, 30, arch="dense", space=SMALL_SPACE)
    moe = make_plan("H100", 512, 30, arch="moe", space=SMALL_SPACE)
    assert dense.best.dense and all(c.dense for c in dense.candidates)
    assert not moe.best.dense
    assert both.best.loss == pytest.approx(min(dense.best.loss, moe.best.loss))
    assert dense.best.config.num_nextn_predict_layers == 0 and dense.best.memory.layout.ep == 1


def test_downtime_shrinks_the_budget():
    full = make_budget("H200", 1024, 73)
    assert make_budget("H200", 1024, 73, downtime=0.1).flops == pytest.approx(0.9 * full.flops)
    lossy = make_plan("H200", 1024, 73, downtime=0.1, space=SMALL_SPACE)
    assert lossy.budget.flops == pytest.approx(0.9 * full.flops)
    with pytest.raises(ValueError, match="--downtime"):
        make_budget("H200", 1024, 73, downtime=1.0)


def test_too_few_sequences_per_rank_warns(tmp_path):
    plan = make_plan("H100", 200_000, 2e-6, space=SMALL_SPACE)
    assert any("fewer than 1 sequence per data-parallel rank" in w for w in plan.warnings)
    assert any("optimizer steps" in w for w in plan.warnings)
    text = write_outputs(plan, tmp_path)["plan"].read_text()
    assert "## Warnings" in text and "fewer than 1 sequence" in text


def test_budget_below_one_step_is_refused():
    with pytest.raises(ValueError, match="less than one optimizer step"):
        # the most GPUs within the trainer's step cap (a million is refused before: tests/test_plan_roundtrip.py),
        # with the fewest tokens the smallest candidate takes (8.75e8), below the 2**30-token step
        make_plan("H100", 262_144, 1e-6, tokens=9e8, space=SMALL_SPACE)


def test_near_ties_are_said_plainly(axk1_plan):
    # A.X K1's top candidates differ by hundredths of a percent in predicted loss: the plan must say so
    assert axk1_plan.ties
    for rank, _ in axk1_plan.ties:
        assert axk1_plan.candidates[rank - 1].loss <= axk1_plan.best.loss * 1.001 or _ > 0.2
    from axk1.plan.report import constraint_lines

    line = next(x for x in constraint_lines(axk1_plan) if x.startswith("near-ties"))
    assert "does not separate them" in line


def test_a_dense_plans_recipe_passes_the_dry_run(tmp_path, capsys):
    from axk1.cli import main
    from axk1.train.recipe import load_recipe

    out = tmp_path / "plan"
    assert main(["plan", "--gpu", "H100", "--gpus", "512", "--days", "30", "--arch", "dense", "-o", str(out)]) == 0
    recipe = load_recipe(out / "recipe.toml")
    config = recipe.model.build_config()
    assert config.first_k_dense_replace == config.num_hidden_layers and recipe.model.mtp_depth == 0
    capsys.readouterr()
    assert main(["train", str(out / "recipe.toml"), "--dry-run", "--world-size", "512", "--gpu", "H100"]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


def test_a_data_limit_that_only_discounts_repeats_says_so():
    """15B unique tokens, 49B trained: ~2.5 epochs of web, under the 4-epoch cap, so the tokens are not capped and
    lifting the data limit changes only the discount on the repeats. The plan used to say the law "would choose"
    the very model and tokens it had chosen, at a lower loss."""
    plan = make_plan("A100", 16, 1, data={"web": 10e9, "code": 5e9})
    line = next(b for b in plan.binding if b.startswith(DATA))
    assert plan.best.capped_by is None
    assert "the same model and tokens would count in full, not as repeats" in line and "would choose" not in line


def test_data_given_for_some_domains_says_where_the_rest_comes_from(capsys):
    """`--data web=1B` printed "10.0T unique tokens (given per domain)": the other domains took the default
    corpus's shares unsaid. And `--data web=1B,web=2B` silently kept the last value."""
    from axk1.cli import main

    plan = make_plan("H200", 64, 10, data={"web": 1e9}, space=SMALL_SPACE)
    (data_row,) = [text for name, text, _ in plan.assumptions() if name == "data"]
    assert "web given" in data_row and "code" in data_row and "from the default corpus's shares" in data_row
    everything = make_plan("H200", 64, 10, data={d: 1e12 for d in mixture_shares()}, space=SMALL_SPACE)
    assert "default corpus" not in [t for n, t, _ in everything.assumptions() if n == "data"][0]
    with pytest.raises(SystemExit):
        main(["plan", "--gpu", "H200", "--gpus", "64", "--days", "10", "--data", "web=1B,web=2B"])
    assert "domain 'web' is given twice" in capsys.readouterr().err


def test_the_plan_is_the_best_of_its_candidates_on_the_long_context_layout():
    """8 H100s for 30 days: the search ranked at 4K, the plan then laid its first candidate out at 32K, where it
    needed recompute (3/4 of the tokens), and kept it while the table listed better runs below it ("within 0.01%"
    of a loss they beat). Every listed candidate is laid out at the long context now, and the best one is the plan."""
    plan = make_plan("H100", 8, 30)
    assert plan.best is plan.candidates[0]
    assert all(plan.best.loss <= c.loss for c in plan.candidates)
    assert plan.best.memory.layout.cp > 1 and not plan.best.memory.layout.recompute  # the 32K layout it found


def test_tokens_asked_for_and_cut_by_a_limit_are_said_to_be_cut():
    """`--tokens 100T` planned 3T (the tokens-per-parameter cap) and plan.md said nothing of it."""
    plan = make_plan("H200", 1024, 73, tokens=100e12, space=SMALL_SPACE)
    assert plan.best.tokens < 100e12
    assert any("--tokens asked for 100.0T tokens" in w and "cuts the run to" in w for w in plan.warnings)


def test_fixed_tokens_that_leave_the_budget_unused_say_so_and_buy_no_more_tokens():
    """`--tokens 1T` on A.X K1's budget ended on day 20 of 73 without a word, and "more compute" said it "buys
    tokens for the same model" though the tokens are fixed."""
    plan = make_plan("H200", 1024, 73, tokens=1e12, space=SMALL_SPACE)
    assert plan.best.tokens == 1e12 and plan.days < 0.5 * 73
    unspent = [w for w in plan.warnings if w.startswith("the fixed 1.00T tokens take")]
    assert unspent and f"{plan.days:.1f} days of the 73.0 days budgeted" in unspent[0], plan.warnings
    assert "buys tokens" not in plan.growth and "the tokens are fixed (--tokens)" in plan.growth, plan.growth
    assert "unspent" in plan.growth
    spent = make_plan("H200", 1024, 73, tokens=10e12, space=SMALL_SPACE)  # a run that spends the budget: no warning
    assert spent.days > 0.9 * 73 and not any(w.startswith("the fixed") for w in spent.warnings), spent.warnings


def test_a_small_batch_raise_is_not_a_binding_limit_and_a_large_one_is():
    """1,024 H200 x 146 days raised the law's batch by 1.4% to one 32K sequence per rank, and plan.md listed it as
    binding with "the batch is 1.0x the law's optimum ... expect a worse loss"."""
    from axk1.plan.planner import MIN_BATCH

    small = make_plan("H200", 1024, 146, space=SMALL_SPACE)
    dp = small.budget.gpus // small.best.memory.layout.cp
    assert 1 < dp * small.context / small.law_batch < 1.1
    assert not any(b.startswith(MIN_BATCH) for b in small.binding), small.binding
    assert not any("sequence per data-parallel rank" in w for w in small.warnings), small.warnings
    large = make_plan("H100", 4096, 2, space=SMALL_SPACE)  # ~10x the law's batch
    assert any(b.startswith(MIN_BATCH) for b in large.binding), large.binding
    assert any("x the law's optimum" in w for w in large.warnings), large.warnings
