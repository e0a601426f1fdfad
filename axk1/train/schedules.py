"""Learning-rate schedules, one class each, registered by name: `[schedule] kind` picks one. lr(step) = peak ·
factor(step), with a linear warmup over the first `warmup_steps` in every schedule. A new schedule is one class
with `@register` and a `shape(step)` method (and its own `check` of the [schedule] settings only it reads); recipe
validation (`check_schedule`) and everything that asks what a kind does read it from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

SCHEDULES: dict[str, type[LRSchedule]] = {}


def register(cls: type[LRSchedule]) -> type[LRSchedule]:
    SCHEDULES[cls.kind] = cls
    return cls


@dataclass
class LRSchedule:
    """`total_steps`: the run's length (the last step runs at the final lr); `decay_start`: the first step of the
    decay phase, for schedules that have one; `final_ratio`: the last lr over the peak."""

    kind: ClassVar[str] = ""
    # the same lr at every step after warmup: the curve does not depend on the run's length (total_steps)
    is_constant: ClassVar[bool] = False
    peak: float
    warmup_steps: int
    total_steps: int
    decay_start: int
    final_ratio: float

    def shape(self, step: int) -> float:
        """The factor after warmup."""
        raise NotImplementedError

    @classmethod
    def check(cls, settings, n_stages: int) -> None:
        """ValueError for a [schedule] setting that only this kind reads and that is out of range; `n_stages`: the
        stages the run trains."""

    def factor(self, step: int) -> float:
        if self.warmup_steps and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        return self.shape(step)

    def lr(self, step: int) -> float:
        return self.peak * self.factor(step)

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr


@register
class Constant(LRSchedule):
    kind = "constant"
    is_constant = True

    def shape(self, step: int) -> float:
        return 1.0


@register
class Cosine(LRSchedule):
    """Half a cosine from the peak to final_ratio over the steps after warmup."""
    kind = "cosine"

    def shape(self, step: int) -> float:
        span = max(1, self.total_steps - 1 - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        return self.final_ratio + (1 - self.final_ratio) * 0.5 * (1 + math.cos(math.pi * t))


@register
class WarmupStableDecay(LRSchedule):
    """Flat until decay_start (the recipe's `decay_starts_at_stage`), then linear down to final_ratio."""
    kind = "wsd"

    @classmethod
    def check(cls, settings, n_stages: int) -> None:
        if not 1 <= settings.decay_starts_at_stage <= n_stages + 1:
            raise ValueError(f"[schedule] decay_starts_at_stage={settings.decay_starts_at_stage} must name a stage "
                             f"1..{n_stages} (or {n_stages + 1} for no decay)")

    def shape(self, step: int) -> float:
        start = max(self.decay_start, self.warmup_steps)
        if step < start:
            return 1.0
        t = min(1.0, (step - start) / max(1, self.total_steps - 1 - start))
        return 1.0 - (1.0 - self.final_ratio) * t


def schedule_class(kind: str) -> type[LRSchedule]:
    """The schedule registered as `kind`; ValueError listing the registered ones for any other."""
    if kind not in SCHEDULES:
        raise ValueError(f"[schedule] kind {kind!r} unknown; use one of {sorted(SCHEDULES)}")
    return SCHEDULES[kind]


def check_schedule(settings, n_stages: int) -> None:
    """A recipe's [schedule] table (train.recipe_sections.ScheduleConfig) checked: a registered kind, the settings
    every schedule reads in range, then the kind's own (`LRSchedule.check`)."""
    cls = schedule_class(settings.kind)
    if settings.warmup_steps < 0 or settings.total_steps < 0 or not 0 <= settings.final_lr_ratio <= 1:
        raise ValueError("[schedule] needs warmup_steps >= 0, total_steps >= 0 and final_lr_ratio in [0, 1]")
    cls.check(settings, n_stages)


def build_schedule(kind: str, peak: float, warmup_steps: int, total_steps: int, decay_start: int,
                   final_ratio: float) -> LRSchedule:
    return schedule_class(kind)(peak, warmup_steps, max(1, total_steps), decay_start, final_ratio)
