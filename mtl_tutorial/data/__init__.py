"""Data sets for the book, each returned as a :class:`MultiTaskData` split three ways.

Nothing here downloads: the penguins ship inside the ``palmerpenguins`` package, and the synthetic
tasks are generated from a seed.
"""

from mtl_tutorial.data.penguins import load_penguins
from mtl_tutorial.data.splits import MultiTaskData, Split, stratified_split
from mtl_tutorial.data.synthetic import (
    label_correlation,
    make_correlated_tasks,
    task_weights,
)

__all__ = [
    "MultiTaskData",
    "Split",
    "label_correlation",
    "load_penguins",
    "make_correlated_tasks",
    "stratified_split",
    "task_weights",
]
