"""Shared fixtures. TensorFlow's C++ start-up messages are silenced before anything imports it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib

matplotlib.use("Agg")

import pytest

import mtl_tutorial as mtl


@pytest.fixture(scope="session")
def penguins() -> mtl.data.MultiTaskData:
    """The default penguins data set (species and body mass), seed 0."""
    return mtl.data.load_penguins(seed=0)


@pytest.fixture
def two_tasks() -> tuple[mtl.Task, mtl.Task]:
    return (
        mtl.Task("kind", "classification", num_classes=3),
        mtl.Task("size", "regression", unit="cm"),
    )
