import keras
import numpy as np
import pytest

import mtl_tutorial as mtl


def test_shared_trunk_matches_the_seed_architecture(two_tasks):
    model = mtl.models.build_shared_trunk(10, two_tasks)
    dense = {
        layer.name: layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    }
    assert dense["shared_0"].units == 128 and dense["shared_1"].units == 64
    assert dense["kind"].units == 3 and dense["kind"].activation.__name__ == "softmax"
    assert dense["size"].units == 1 and dense["size"].activation.__name__ == "linear"
    # Parameters: trunk 10*128+128 + 128*64+64, heads 64*3+3 and 64+1.
    assert model.count_params() == 1408 + 8256 + 195 + 65


def test_outputs_are_a_dict_with_the_promised_shapes(two_tasks):
    model = mtl.models.build_shared_trunk(4, two_tasks, hidden_units=(8,))
    outputs = model(np.zeros((5, 4), dtype="float32"))
    assert set(outputs) == {"kind", "size"}
    assert outputs["kind"].shape == (5, 3) and outputs["size"].shape == (5, 1)
    np.testing.assert_allclose(keras.ops.sum(outputs["kind"], axis=1), 1.0, rtol=1e-5)


def test_single_task_model_has_the_same_trunk(two_tasks):
    multi = mtl.models.build_shared_trunk(6, two_tasks)
    single = mtl.models.build_shared_trunk(6, [two_tasks[1]])
    assert list(single.output_names) == ["size"]
    assert multi.count_params() - single.count_params() == 64 * 3 + 3


def test_the_trunk_is_shared_both_heads_reach_it(two_tasks):
    import tensorflow as tf

    model = mtl.models.build_shared_trunk(3, two_tasks, hidden_units=(4,))
    x = tf.random.normal((8, 3))
    trunk_kernel = model.get_layer("shared_0").kernel
    for name in ("kind", "size"):
        with tf.GradientTape() as tape:
            # Squares: the plain sum of a softmax head is always 1 and has no gradient.
            out = tf.reduce_sum(tf.square(model(x)[name]))
        gradient = tape.gradient(out, trunk_kernel)
        assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 1e-4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_dim": 0}, r"input_dim must be a positive integer.*; got input_dim=0"),
        (
            {"input_dim": (5,)},
            r"input_dim must be an integer.*; got input_dim=\(5,\)",
        ),
        (
            {"hidden_units": (128, -1)},
            r"hidden_units must be positive integers.*got \(128, -1\)",
        ),
        ({"tasks": []}, "at least one Task"),
    ],
)
def test_bad_arguments_are_refused(two_tasks, kwargs, message):
    arguments = {"input_dim": 5, "tasks": two_tasks, **kwargs}
    with pytest.raises(ValueError, match=message):
        mtl.models.build_shared_trunk(**arguments)


# --- Every builder, under mixed precision --------------------------------------------------

TASKS = (
    mtl.Task("kind", "classification", num_classes=3),
    mtl.Task("size", "regression", unit="cm"),
)
SHAPES = {"image": (4, 4, 1), "audio": (5,)}
_RNG = np.random.default_rng(0)
FLAT = _RNG.normal(size=(3, 5)).astype("float32")
PAIRED = {m: _RNG.normal(size=(3, *s)).astype("float32") for m, s in SHAPES.items()}
PAIRED["audio"][0] = 0.0  # one example without its audio


def _fusion_cases() -> dict:
    cases = {}
    for fusion in mtl.models.FUSIONS:
        for missing in (False, True):
            cases[f"{fusion}, allow_missing={missing}"] = (
                lambda f=fusion, m=missing: mtl.models.build_fusion_model(
                    SHAPES, TASKS, f, units=8, allow_missing=m
                ),
                PAIRED,
            )
        if fusion != "early":  # early fusion refuses modality dropout
            cases[f"{fusion}, modality dropout"] = (
                lambda f=fusion: mtl.models.build_fusion_model(
                    SHAPES, TASKS, f, units=8, modality_dropout=0.5, allow_missing=True
                ),
                PAIRED,
            )
        cases[f"{fusion}, audio only"] = (
            lambda f=fusion: mtl.models.build_fusion_model(
                {"audio": (5,)}, TASKS, f, units=8
            ),
            {"audio": PAIRED["audio"]},
        )
    return cases


# Every builder of mtl.models, with valid arguments: a new builder must be added here.
MIXED_PRECISION_CASES = {
    "build_shared_trunk": {
        "": (lambda: mtl.models.build_shared_trunk(5, TASKS, (8,)), FLAT)
    },
    "build_shared_bottom": {
        "": (lambda: mtl.models.build_shared_bottom(5, TASKS, 8), FLAT)
    },
    "build_cross_stitch": {
        "": (lambda: mtl.models.build_cross_stitch(5, TASKS, (8, 4)), FLAT)
    },
    "build_mixture_of_experts": {
        "MMoE": (lambda: mtl.models.build_mixture_of_experts(5, TASKS, 3, 4), FLAT),
        "OMoE": (
            lambda: mtl.models.build_mixture_of_experts(
                5, TASKS, 3, 4, multi_gate=False
            ),
            FLAT,
        ),
    },
    "build_ple": {"": (lambda: mtl.models.build_ple(5, TASKS, 2, 2, 1, 4), FLAT)},
    "build_fusion_model": _fusion_cases(),
    "build_capstone": {
        "": (lambda: mtl.models.build_capstone(SHAPES, TASKS, units=8), PAIRED)
    },
    "build_post_model": {
        f"fuse={fuse}": (
            lambda f=fuse: mtl.models.build_post_model(
                SHAPES, TASKS[1], TASKS[0], fuse=f
            ),
            PAIRED,
        )
        for fuse in (False, True)
    },
}


def test_every_builder_has_a_mixed_precision_case():
    builders = {n for n in mtl.models.__all__ if n.startswith("build_")}
    assert builders == set(MIXED_PRECISION_CASES), (
        f"add valid arguments to MIXED_PRECISION_CASES for "
        f"{sorted(builders - set(MIXED_PRECISION_CASES))}"
    )


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if isinstance(layer, keras.Model):
            layers += _all_layers(layer)
    return layers


@pytest.mark.parametrize(
    ("builder", "case"),
    [
        pytest.param(builder, case, id=f"{builder}-{case}" if case else builder)
        for builder, cases in MIXED_PRECISION_CASES.items()
        for case in cases
    ],
)
@pytest.mark.usefixtures("mixed_bfloat16")
def test_outputs_are_float32_under_mixed_precision(builder, case):
    build, x = MIXED_PRECISION_CASES[builder][case]
    model = build()
    network = getattr(model, "network", model)  # a MultiTaskModel wraps its network
    assert any(layer.compute_dtype == "bfloat16" for layer in _all_layers(network))
    assert [str(output.dtype) for output in network.outputs] == ["float32"] * len(TASKS)
    for training in (False, True):
        outputs = model(x, training=training)
        assert set(outputs) == {task.name for task in TASKS}
        for name, value in outputs.items():
            assert value.dtype == "float32", f"{name} is {value.dtype}"
            assert np.isfinite(np.asarray(value)).all()
