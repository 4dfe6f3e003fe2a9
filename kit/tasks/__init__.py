"""Task types, by name: ``get_task(name)``, ``get_task_names()``, ``task_of(spec)``.

Each :class:`Task` owns what its kind of target means for every part of the kit (the
prediction file, the metrics, the split, the starter notebook, the demo, the card); see
:mod:`kit.tasks._base`.
"""

from . import binary, multiclass, regression, survival  # noqa: F401  (register the built-ins)
from ._base import TASKS, DemoModel, NotebookParts, Task, ValueProblem, get_task, get_task_names, task_of

__all__ = ["TASKS", "DemoModel", "NotebookParts", "Task", "ValueProblem", "get_task", "get_task_names", "task_of"]
