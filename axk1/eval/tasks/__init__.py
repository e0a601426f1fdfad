"""Evaluation tasks by name."""

from __future__ import annotations

from axk1.eval.tasks.aime import AIMETask
from axk1.eval.tasks.base import Problem, Task, TaskData, TaskOptions
from axk1.eval.tasks.humaneval import HumanEvalTask
from axk1.eval.tasks.lcb import LCBTask
from axk1.eval.tasks.lcb_ko import LCBKoTask
from axk1.eval.tasks.passkey import PasskeyTask

TASK_NAMES = ("aime25", "aime25-ko", "lcb", "lcb-ko", "humaneval", "passkey")


def get_task(name: str) -> Task:
    factories = {"aime25": lambda: AIMETask("en"), "aime25-ko": lambda: AIMETask("ko"), "lcb": LCBTask,
                 "lcb-ko": LCBKoTask, "humaneval": HumanEvalTask, "passkey": PasskeyTask}
    if name not in factories:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASK_NAMES)}")
    return factories[name]()


__all__ = ["TASK_NAMES", "Problem", "Task", "TaskData", "TaskOptions", "get_task"]
