"""Auxiliary heads on each modality's encoder (``build_fusion_model(..., auxiliary_heads=w)``).

Off, the model is the plain one; on, the outputs are still the tasks' and the training loss is the fused
loss plus each modality's weighted auxiliary loss, computed in the same forward pass; a missing modality adds
no auxiliary loss; the model trains with ``train_over_seeds``, saves, and keeps float32 outputs under mixed
precision. ``tests/model_catalogue.py`` has cases with auxiliary heads for every strategy but early fusion,
so ``test_saving.py`` and ``test_models.py`` cover them too.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_tutorial as mtl
from mtl_tutorial.models import FUSIONS, AuxiliaryHeadsModel, build_fusion_model
from tests.model_catalogue import PAIRED, SHAPES, TARGETS, TASKS

WITH_ENCODERS = [f for f in FUSIONS if f != "early"]
NAMES = [task.name for task in TASKS]


def _build(fusion="intermediate", **kwargs):
    mtl.set_seed(0)
    return build_fusion_model(SHAPES, TASKS, fusion, units=8, **kwargs)


def _per_example(task, y, prediction):
    """Each example's loss, as the compiled loss computes it before its mean."""
    if task.kind == "classification":
        values = keras.losses.sparse_categorical_crossentropy(y, prediction)
    else:
        values = keras.losses.mean_squared_error(y, prediction)
    return np.asarray(values).reshape(-1)


def _by_hand(model, x, y, weights, loss_weights=None, masked=False):
    """The fused loss plus sum_m w_m * auxiliary loss of m, from the outputs and auxiliary_outputs."""
    loss_weights = loss_weights or dict.fromkeys(NAMES, 1.0)
    fused = model(x, training=False)
    auxiliary = model.auxiliary_outputs(x)
    total = sum(
        loss_weights[t.name] * _per_example(t, y[t.name], fused[t.name]).mean()
        for t in TASKS
    )
    for m, w in weights.items():
        present = np.ones(len(x[m]))
        if masked:
            present = np.any(x[m].reshape(len(x[m]), -1) != 0, axis=1)
        for t in TASKS:
            values = _per_example(t, y[t.name], auxiliary[f"{t.name}_aux_{m}"])
            total += w * loss_weights[t.name] * (values * present).mean()
    return total


# --- 1. Off, it is today's model -----------------------------------------------------------------------


@pytest.mark.parametrize("fusion", FUSIONS)
def test_without_auxiliary_heads_the_model_is_the_plain_one(fusion):
    for missing in (False, True):
        keras.backend.clear_session()  # the same automatic layer names ("flatten") for both
        plain = _build(fusion, allow_missing=missing)
        for off in (0, 0.0):
            keras.backend.clear_session()
            model = _build(fusion, allow_missing=missing, auxiliary_heads=off)
            assert type(model) is type(plain)
            assert [layer.name for layer in model.layers] == [
                layer.name for layer in plain.layers
            ]
            assert model.output_names == plain.output_names
            assert model.count_params() == plain.count_params()
            for a, b in zip(model.weights, plain.weights, strict=True):
                assert a.path == b.path
                np.testing.assert_array_equal(a, b)
            for name, value in model(PAIRED).items():
                np.testing.assert_array_equal(value, plain(PAIRED)[name])


@pytest.mark.parametrize("fusion", WITH_ENCODERS)
def test_with_auxiliary_heads_the_fused_model_starts_as_the_plain_one(fusion):
    plain = _build(fusion, allow_missing=True)
    model = _build(fusion, allow_missing=True, auxiliary_heads=1.0)
    assert isinstance(model, AuxiliaryHeadsModel)
    assert model.output_names == NAMES
    network = model.network
    assert [layer.name for layer in network.layers] == [
        layer.name for layer in plain.layers
    ]
    assert network.count_params() == plain.count_params()
    for a, b in zip(network.weights, plain.weights, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=a.path)
    outputs = model(PAIRED)
    assert list(outputs) == NAMES
    for name, value in plain(PAIRED).items():
        np.testing.assert_array_equal(outputs[name], value)
    extra = {layer.name for layer in model.graph.layers} - {
        layer.name for layer in plain.layers
    }
    assert extra == {
        f"{t}{part}_aux_{m}" for t in NAMES for part in ("", "_tower") for m in SHAPES
    }
    assert sorted(model.auxiliary_outputs(PAIRED)) == sorted(
        f"{t}_aux_{m}" for m in SHAPES for t in NAMES
    )


# --- 2. The loss -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auxiliary_heads", "weights", "loss_weights"),
    [
        (0.7, {"image": 0.7, "audio": 0.7}, None),
        ({"image": 1.0, "audio": 0.0}, {"image": 1.0, "audio": 0.0}, None),
        ({"audio": 2.0, "image": 0.3}, {"image": 0.3, "audio": 2.0}, None),
        ({"image": 0.5}, {"image": 0.5}, {"kind": 2.0, "size": 0.25}),
    ],
    ids=["float", "image only", "by modality", "one modality, loss weights"],
)
def test_the_loss_is_the_fused_loss_plus_the_weighted_auxiliary_losses(
    auxiliary_heads, weights, loss_weights
):
    model = _build(auxiliary_heads=auxiliary_heads)
    assert model.auxiliary_weights == weights
    mtl.training.compile_for_tasks(model, TASKS, loss_weights=loss_weights)
    expected = _by_hand(model, PAIRED, TARGETS, weights, loss_weights)
    y_pred = model(PAIRED, training=False)
    loss = model.compute_loss(PAIRED, TARGETS, y_pred, training=False)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # The training step minimises the same: its logged loss is the loss before its update.
    history = model.fit(PAIRED, TARGETS, batch_size=len(TARGETS["kind"]), verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    # ... in one forward pass: compute_loss took the auxiliary outputs of call's pass every time.
    assert model._passes_again == 0


def test_compute_loss_on_predictions_of_its_own_computes_the_auxiliary_outputs_again():
    model = _build(auxiliary_heads=0.5)
    mtl.training.compile_for_tasks(model, TASKS)
    y_pred = model.network(PAIRED)  # not through model.call
    loss = model.compute_loss(PAIRED, TARGETS, y_pred, training=False)
    np.testing.assert_allclose(
        float(loss),
        _by_hand(model, PAIRED, TARGETS, model.auxiliary_weights),
        rtol=1e-5,
    )
    assert model._passes_again == 1


def test_a_head_of_weight_zero_is_frozen_and_not_trained():
    model = _build(auxiliary_heads={"image": 1.0, "audio": 0.0})
    mtl.training.compile_for_tasks(model, TASKS, learning_rate=1e-2)
    frozen = [
        model.get_layer(f"{t}{p}_aux_audio") for t in NAMES for p in ("", "_tower")
    ]
    trained = [
        model.get_layer(f"{t}{p}_aux_image") for t in NAMES for p in ("", "_tower")
    ]
    trainable = {id(v) for v in model.trainable_variables}
    assert not any(id(v) in trainable for layer in frozen for v in layer.weights)
    assert all(id(v) in trainable for layer in trained for v in layer.weights)
    before = [v.numpy() for layer in frozen + trained for v in layer.weights]
    model.fit(PAIRED, TARGETS, batch_size=3, epochs=2, verbose=0)
    after = [v.numpy() for layer in frozen + trained for v in layer.weights]
    frozen_count = sum(len(layer.weights) for layer in frozen)
    for a, b in zip(before[:frozen_count], after[:frozen_count], strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(
        not np.array_equal(a, b)
        for a, b in zip(before[frozen_count:], after[frozen_count:], strict=True)
    )


# --- 3. What the auxiliary loss trains ----------------------------------------------------------------------


@pytest.mark.parametrize("fusion", WITH_ENCODERS)
def test_a_modalitys_auxiliary_loss_trains_its_heads_and_its_encoder_only(fusion):
    model = _build(fusion, auxiliary_heads=1.0)
    mtl.training.compile_for_tasks(model, TASKS)
    x = {m: tf.constant(v) for m, v in PAIRED.items()}
    groups = {
        "image encoder": model.get_layer("image_encoder").trainable_weights,
        "audio encoder": model.get_layer("audio_encoder").trainable_weights,
        "image heads": [
            v
            for t in NAMES
            for v in model.get_layer(f"{t}_aux_image").trainable_weights
        ],
        "audio heads": [
            v
            for t in NAMES
            for v in model.get_layer(f"{t}_aux_audio").trainable_weights
        ],
        "fused heads": [v for t in NAMES for v in model.get_layer(t).trainable_weights],
    }
    with tf.GradientTape() as tape:
        outputs = model.graph(x, training=True)
        loss = model.auxiliary_loss(TARGETS, outputs, "image")
    gradients = tape.gradient(loss, groups)

    def reached(group):
        return any(
            g is not None and float(tf.reduce_sum(tf.abs(g))) > 0
            for g in gradients[group]
        )

    assert reached("image encoder") and reached("image heads")
    assert not reached("audio encoder") and not reached("audio heads")
    assert not reached("fused heads")


def test_the_auxiliary_heads_read_the_features_before_modality_dropout():
    model = _build(modality_dropout=0.5, auxiliary_heads=1.0)
    mtl.set_seed(1)
    fused_changed = False
    for _ in range(5):
        training = model.graph(PAIRED, training=True)
        inference = model.graph(PAIRED, training=False)
        for name in model.auxiliary_names:
            np.testing.assert_allclose(training[name], inference[name], rtol=1e-6)
        fused_changed |= not np.allclose(training["kind"], inference["kind"])
    assert fused_changed  # modality dropout did act on the fused output


# --- 4. With the experiments' loop ----------------------------------------------------------------------


def test_train_over_seeds_trains_and_scores_the_tasks_only():
    data = mtl.data.load_av_digits(("digit", "volume"), seed=0, copies=1)
    results = mtl.experiments.train_over_seeds(
        {
            "auxiliary heads": lambda d: build_fusion_model(
                d.input_shapes, d.tasks, units=16, auxiliary_heads=1.0
            )
        },
        data,
        (0,),
        epochs=1,
        batch_size=64,
        train_split=lambda d, seed: d.train.sample(128, seed=seed),
    )
    assert set(results["task"]) == {"digit", "volume"}
    assert set(results["split"]) == {"val", "test"}
    assert np.isfinite(results["value"]).all()


# --- 5. Saving and mixed precision ---------------------------------------------------------------------


def test_the_model_round_trips_with_its_auxiliary_heads(tmp_path):
    model = _build(
        "late", allow_missing=True, auxiliary_heads={"image": 0.5, "audio": 2.0}
    )
    mtl.training.compile_for_tasks(model, TASKS, learning_rate=1e-2)
    model.fit(PAIRED, TARGETS, batch_size=3, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is AuxiliaryHeadsModel
    assert loaded.auxiliary_weights == {"image": 0.5, "audio": 2.0}
    assert loaded.mask_missing and loaded.task_names == model.task_names
    no_audio = dict(PAIRED, audio=np.zeros_like(PAIRED["audio"]))
    for x in (PAIRED, no_audio):
        for before, after in (
            (model.predict(x, verbose=0), loaded.predict(x, verbose=0)),
            (model.auxiliary_outputs(x), loaded.auxiliary_outputs(x)),
        ):
            assert before.keys() == after.keys()
            for name in before:
                np.testing.assert_allclose(
                    after[name], before[name], rtol=1e-5, atol=1e-6
                )
    np.testing.assert_allclose(
        loaded.evaluate(PAIRED, TARGETS, verbose=0),
        model.evaluate(PAIRED, TARGETS, verbose=0),
        rtol=1e-5,
    )


def test_outputs_and_losses_are_float32_under_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = _build(allow_missing=True, auxiliary_heads=1.0)
        assert model.get_layer("image_encoder").compute_dtype == "bfloat16"
        mtl.training.compile_for_tasks(model, TASKS, learning_rate=1e-2)
        for value in model(PAIRED, training=True).values():
            assert value.dtype == "float32"
        for value in model.auxiliary_outputs(PAIRED).values():
            assert value.dtype == np.float32
        history = model.fit(PAIRED, TARGETS, batch_size=3, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


# --- 6. A missing modality ----------------------------------------------------------------------------


def test_a_missing_modality_adds_no_auxiliary_loss():
    x = {m: v.copy() for m, v in PAIRED.items()}
    x["audio"][:3] = 0.0  # the first three examples lack their audio
    weights = {"image": 1.0, "audio": 1.0}
    model = _build(allow_missing=True, auxiliary_heads=1.0)
    mtl.training.compile_for_tasks(model, TASKS)
    loss = float(model.compute_loss(x, TARGETS, model(x), training=False))
    masked = _by_hand(model, x, TARGETS, weights, masked=True)
    np.testing.assert_allclose(loss, masked, rtol=1e-5)
    assert (
        abs(masked - _by_hand(model, x, TARGETS, weights)) > 1e-3
    )  # masking matters here
    # Without allow_missing, all zeros are an input like any other, and count.
    plain = _build(auxiliary_heads=1.0)
    mtl.training.compile_for_tasks(plain, TASKS)
    np.testing.assert_allclose(
        float(plain.compute_loss(x, TARGETS, plain(x), training=False)),
        _by_hand(plain, x, TARGETS, weights),
        rtol=1e-5,
    )


def test_a_missing_modality_does_not_train_its_auxiliary_heads():
    x = dict(PAIRED, audio=np.zeros_like(PAIRED["audio"]))  # no example has its audio
    model = _build(allow_missing=True, auxiliary_heads=1.0)
    mtl.training.compile_for_tasks(model, TASKS)
    heads = {
        m: [v for t in NAMES for v in model.get_layer(f"{t}_aux_{m}").trainable_weights]
        for m in SHAPES
    }
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, TARGETS, model(x, training=True))
    gradients = tape.gradient(loss, heads)
    assert all(float(tf.reduce_sum(tf.abs(g))) == 0 for g in gradients["audio"])
    assert all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in gradients["image"])


# --- 7. Invalid values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"auxiliary_heads": -0.5},
            r"auxiliary_heads must be a number >= 0, e\.g\. 1\.0; got auxiliary_heads=-0\.5\.",
        ),
        (
            {"auxiliary_heads": {"image": -1.0}},
            r"auxiliary_heads\['image'\] must be a number >= 0.*got auxiliary_heads\['image'\]=-1\.0",
        ),
        (
            {"auxiliary_heads": {"image": 1.0, "video": 1.0}},
            r"auxiliary_heads must be keyed by the model's modalities \['image', 'audio'\]; "
            r"got 'video'",
        ),
        ({"auxiliary_heads": {}}, r"give at least one modality its weight"),
        (
            {"fusion": "early", "auxiliary_heads": 1.0},
            r"fusion='early' has none, so auxiliary_heads must be 0",
        ),
        (
            {"fusion": "early", "auxiliary_heads": {"image": 1.0}},
            r"fusion='early'",
        ),
        (
            {"input_shapes": {"audio": (5,)}, "auxiliary_heads": 1.0},
            r"auxiliary_heads must be 0 with one modality",
        ),
        (
            {"auxiliary_heads": "three"},
            r"auxiliary_heads must be a number or a dict",
        ),
    ],
)
def test_invalid_auxiliary_heads_are_refused(kwargs, message):
    arguments = {"input_shapes": SHAPES, "tasks": TASKS, "units": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_fusion_model(**arguments)


def test_the_class_refuses_what_does_not_fit_its_graph():
    graph = _build(auxiliary_heads=1.0).graph
    with pytest.raises(ValueError, match=r"keyed by the model's modalities"):
        AuxiliaryHeadsModel(graph, NAMES, {"video": 1.0})
    with pytest.raises(
        ValueError, match=r"auxiliary_weights\['image'\] must be a number >= 0"
    ):
        AuxiliaryHeadsModel(graph, NAMES, {"image": -1.0, "audio": 1.0})
    with pytest.raises(
        ValueError, match=r"graph's outputs must be the tasks' and the auxiliary"
    ):
        AuxiliaryHeadsModel(
            graph, NAMES, {"image": 1.0}
        )  # the audio heads are left over
    with pytest.raises(ValueError, match=r"graph's outputs must be"):
        AuxiliaryHeadsModel(graph, ["kind"], {"image": 1.0, "audio": 1.0})
    model = AuxiliaryHeadsModel(graph, NAMES, {"image": 1.0, "audio": 1.0})
    with pytest.raises(ValueError, match=r"compile the model first"):
        model.auxiliary_loss(TARGETS, model.auxiliary_outputs(PAIRED), "image")
