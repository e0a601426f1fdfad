"""axk1/train/schedules.py owns what a schedule kind is: the registry names the kinds, each kind checks the
[schedule] settings it alone reads, and says whether its curve follows the run's length (`is_constant`). Recipe
validation and RL's run definition asked "wsd" and "constant" by name: a kind registered later was not checked."""

from dataclasses import dataclass

import pytest

from axk1.train import schedules
from axk1.train.recipe import load_recipe
from axk1.train.schedules import LRSchedule, build_schedule, check_schedule, schedule_class
from tests.train_helpers import write_recipe


@dataclass
class _Settings:
    kind: str = "wsd"
    warmup_steps: int = 0
    total_steps: int = 0
    final_lr_ratio: float = 0.1
    decay_starts_at_stage: int = 1


class _Stepped(LRSchedule):
    """A kind registered outside schedules.py, with a check of its own."""
    kind = "test-stepped"
    is_constant = True

    def shape(self, step: int) -> float:
        return 1.0

    @classmethod
    def check(cls, settings, n_stages: int) -> None:
        if settings.warmup_steps > 3:
            raise ValueError("[schedule] test-stepped warms up 3 steps at most")


def test_the_registry_says_what_a_kind_is():
    assert schedule_class("constant").is_constant
    assert not schedule_class("cosine").is_constant and not schedule_class("wsd").is_constant
    for bad in (lambda: schedule_class("linear"), lambda: check_schedule(_Settings(kind="linear"), 2),
                lambda: build_schedule("linear", 1.0, 0, 10, 0, 0.1)):
        with pytest.raises(ValueError, match=r"\[schedule\] kind 'linear' unknown; use one of \['constant', "):
            bad()


def test_each_kind_checks_its_own_settings():
    check_schedule(_Settings(decay_starts_at_stage=3), 2)  # 3 = no decay
    with pytest.raises(ValueError, match=r"decay_starts_at_stage=4 must name a stage 1..2 \(or 3 for no decay\)"):
        check_schedule(_Settings(decay_starts_at_stage=4), 2)
    check_schedule(_Settings(kind="cosine", decay_starts_at_stage=4), 2)  # not read by cosine
    with pytest.raises(ValueError, match=r"warmup_steps >= 0"):
        check_schedule(_Settings(kind="cosine", warmup_steps=-1), 2)


def test_a_kind_registered_later_is_checked_by_recipe_validation(tmp_path, monkeypatch):
    monkeypatch.setitem(schedules.SCHEDULES, _Stepped.kind, _Stepped)
    path = write_recipe(tmp_path)
    assert load_recipe(path, ["--schedule.kind", "test-stepped"]).schedule.kind == "test-stepped"
    with pytest.raises(ValueError, match="test-stepped warms up 3 steps at most"):
        load_recipe(path, ["--schedule.kind", "test-stepped", "--schedule.warmup_steps", "5"])
