"""Shared fixtures. TensorFlow's C++ start-up messages are silenced before anything imports it."""

import os
import subprocess
import sys
import textwrap

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


#: The start of a script that needs two replicas on the one CPU: TensorFlow must be told before it starts.
TWO_CPUS = """
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


@pytest.fixture
def on_two_cpus():
    """Run a script in a fresh process whose CPU is split into two logical devices; it must print "ok"."""

    def run(script: str, timeout: float = 300) -> None:
        result = subprocess.run(
            [sys.executable, "-c", TWO_CPUS + textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().endswith("ok"), result.stdout[-3000:]

    return run
