"""Data sets for the book, each returned as a :class:`MultiTaskData` split three ways.

Nothing here downloads: the penguins ship inside the ``palmerpenguins`` package.
"""

from mtl_tutorial.data.penguins import load_penguins
from mtl_tutorial.data.splits import MultiTaskData, Split, stratified_split

__all__ = ["MultiTaskData", "Split", "load_penguins", "stratified_split"]
