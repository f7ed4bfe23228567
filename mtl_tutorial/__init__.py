"""Helpers for the book *Multi-task and multi-modal learning with Keras*.

Chapters use ``import mtl_tutorial as mtl`` and call helpers by qualified name, e.g.
``mtl.data.load_penguins`` or ``mtl.models.build_shared_trunk``. Importing the package has no side
effects: it seeds nothing, prints nothing and downloads nothing.
"""

from mtl_tutorial import (
    data,
    experiments,
    metrics,
    models,
    multitask_model,
    plots,
    rules,
    scaling,
    serving,
    training,
)
from mtl_tutorial.tasks import Task
from mtl_tutorial.training import set_seed

__version__ = "0.1.0"

__all__ = [
    "Task",
    "data",
    "experiments",
    "metrics",
    "models",
    "multitask_model",
    "plots",
    "rules",
    "scaling",
    "serving",
    "set_seed",
    "training",
]
