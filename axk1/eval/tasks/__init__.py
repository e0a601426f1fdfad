"""Evaluation tasks by name. A task module registers its task(s) when imported (`@register`, base.py), so the
import line below is the one place a new task is added; its order is the order `axk1 eval --help` lists them."""

from __future__ import annotations

from axk1.eval.tasks import aime, lcb, lcb_ko, humaneval, passkey  # noqa: F401  (imported to register)
from axk1.eval.tasks.base import (TASKS, Problem, Task, TaskData, TaskOptions, flag, get_task, names_of,
                                  options_class, register, task_classes, task_names)

__all__ = ["TASKS", "Problem", "Task", "TaskData", "TaskOptions", "flag", "get_task", "names_of", "options_class",
           "register", "task_classes", "task_names"]
