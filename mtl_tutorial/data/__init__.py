"""Data sets for the book, each returned as a :class:`~mtl_tutorial.data.MultiTaskData` split three ways.

Nothing here downloads: the penguins ship inside the ``palmerpenguins`` package, the digit images inside
scikit-learn, and the synthetic tasks and the digits' key tones are generated from a seed.
"""

from mtl_tutorial.data.av_digits import load_av_digits
from mtl_tutorial.data.penguins import load_penguins
from mtl_tutorial.data.splits import MultiTaskData, Split, stratified_split
from mtl_tutorial.data.synthetic import (
    label_correlation,
    make_correlated_tasks,
    task_directions,
)
from mtl_tutorial.data.two_views import make_two_views

__all__ = [
    "MultiTaskData",
    "Split",
    "label_correlation",
    "load_av_digits",
    "load_penguins",
    "make_correlated_tasks",
    "make_two_views",
    "stratified_split",
    "task_directions",
]
