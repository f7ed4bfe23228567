import keras
import numpy as np
import pytest

import mtl_tutorial as mtl
from tests.model_catalogue import BUILDERS, TASKS, case_id, cases


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


def test_every_builder_is_in_the_catalogue():
    builders = {n for n in mtl.models.__all__ if n.startswith("build_")}
    assert builders == set(BUILDERS), (
        f"add valid arguments to tests/model_catalogue.py for {sorted(builders - set(BUILDERS))}"
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
    ("builder", "case"), [pytest.param(*c, id=case_id(*c)) for c in cases()]
)
@pytest.mark.usefixtures("mixed_bfloat16")
def test_outputs_are_float32_under_mixed_precision(builder, case):
    build, x = BUILDERS[builder][case]
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
