"""Every kind of model the book builds saves to ``.keras`` and loads back with Keras's default safe mode.

Each entry of ``MODELS`` builds one model as a chapter does (small sizes); the test saves it, loads it with
``keras.saving.load_model`` (``safe_mode=True``, the default, which refuses to deserialise arbitrary code) and
checks that the loaded model gives the same outputs. ``test_every_builder_is_covered`` fails when a new
``build_*`` function appears in ``mtl_tutorial.models`` without an entry here.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.rules import RULES

TASKS = (
    mtl.Task("kind", "classification", num_classes=3),
    mtl.Task("size", "regression", unit="cm"),
)
SHAPES = {"image": (8, 8, 1), "audio": (5,)}
RNG = np.random.default_rng(0)
FLAT = RNG.normal(size=(6, 7)).astype("float32")
PAIRED = {
    name: RNG.normal(size=(6, *shape)).astype("float32")
    for name, shape in SHAPES.items()
}


def _wrapped(rule):
    def build():
        network = mtl.models.build_shared_bottom(7, TASKS, bottom_units=8)
        example = RULES[rule].example([task.name for task in TASKS])
        return mtl.multitask_model.MultiTaskModel(network, TASKS, rule=example)

    return build


def _dual_encoder():
    encoders = [
        mtl.models.modality_encoder(shape, 4, name=f"{name}_encoder")
        for name, shape in SHAPES.items()
    ]
    return mtl.models.DualEncoder(*encoders, names=tuple(SHAPES))


MODELS = {
    "shared trunk": (lambda: mtl.models.build_shared_trunk(7, TASKS, (8,)), FLAT),
    "shared bottom": (lambda: mtl.models.build_shared_bottom(7, TASKS, 8), FLAT),
    "cross-stitch": (lambda: mtl.models.build_cross_stitch(7, TASKS, (8, 4)), FLAT),
    "MMoE": (lambda: mtl.models.build_mixture_of_experts(7, TASKS, 3, 4), FLAT),
    "OMoE": (
        lambda: mtl.models.build_mixture_of_experts(7, TASKS, 3, 4, multi_gate=False),
        FLAT,
    ),
    "PLE": (lambda: mtl.models.build_ple(7, TASKS, 2, 2, 1, 4), FLAT),
    **{
        f"fusion {fusion}{suffix}": (
            lambda fusion=fusion, missing=missing: mtl.models.build_fusion_model(
                SHAPES, TASKS, fusion, units=8, allow_missing=missing
            ),
            PAIRED,
        )
        for fusion in mtl.models.FUSIONS
        for missing, suffix in ((False, ""), (True, ", allow missing"))
    },
    "post's model": (
        lambda: mtl.models.build_post_model(SHAPES, TASKS[1], TASKS[0]),
        PAIRED,
    ),
    "post's model, fused": (
        lambda: mtl.models.build_post_model(SHAPES, TASKS[1], TASKS[0], fuse=True),
        PAIRED,
    ),
    "capstone": (lambda: mtl.models.build_capstone(SHAPES, TASKS, units=8), PAIRED),
    **{f"multi-task model, {rule}": (_wrapped(rule), FLAT) for rule in RULES},
    "dual encoder": (_dual_encoder, PAIRED),
}


def _outputs(model, x) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in model(x, training=False).items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_round_trips_through_keras_file_in_safe_mode(name, tmp_path):
    build, x = MODELS[name]
    mtl.set_seed(0)
    model = build()
    before = _outputs(model, x)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True by default
    assert type(loaded) is type(model)
    after = _outputs(loaded, x)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-6)
    if isinstance(model, mtl.multitask_model.MultiTaskModel):
        assert type(loaded.rule) is type(model.rule)
        assert loaded.rule.get_config() == model.rule.get_config()


def test_every_builder_is_covered():
    builders = {n for n in mtl.models.__all__ if n.startswith("build_")}
    covered = {
        "build_shared_trunk",
        "build_shared_bottom",
        "build_cross_stitch",
        "build_mixture_of_experts",
        "build_ple",
        "build_fusion_model",
        "build_post_model",
        "build_capstone",
    }
    assert builders == covered, (
        f"add a round-trip entry for {sorted(builders - covered)}"
    )
    assert {n.split(",")[0] for n in MODELS if n.startswith("fusion ")} == {
        f"fusion {f}" for f in mtl.models.FUSIONS
    }
