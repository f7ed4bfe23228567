"""Model building blocks, one module per way of sharing between tasks."""

from mtl_tutorial.models.sharing import build_shared_trunk

__all__ = ["build_shared_trunk"]
