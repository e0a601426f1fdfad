"""The trainer's refusal of a step whose sequences do not split over the data-parallel ranks names the rank counts
that would, and on a resume only the launch (the batch defines the run, so --resume refuses another)."""

from axk1.train.trainer import rows_over_ranks_problem


def test_rows_that_divide_are_no_problem():
    assert rows_over_ranks_problem({8, 16}, 4, resume=False) is None


def test_a_new_run_may_change_its_batch_or_its_launch():
    said = rows_over_ranks_problem({8}, 3, resume=False)
    assert said == ("sequences per step [8] must divide over 3 data-parallel ranks: change [batch], or launch a number "
                    "of data-parallel ranks (dp_replicate x dp_shard) that divides them: 1, 2, 4, 8")


def test_a_resumed_run_is_told_only_the_launch_and_the_counts_every_stage_takes():
    said = rows_over_ranks_problem({12, 18}, 4, resume=True)
    assert "[batch]" not in said and said.endswith("that divides them: 1, 2, 3, 6")
