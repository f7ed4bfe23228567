"""The multi-modal model builder: every fusion strategy builds, trains, saves; late fusion cannot see
interactions that intermediate fusion learns."""

import keras
import numpy as np
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.models import FUSIONS, build_fusion_model


@pytest.fixture(scope="module")
def digits():
    return mtl.data.load_av_digits(("digit", "volume"), seed=0, copies=1)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_trains(fusion, digits):
    mtl.set_seed(0)
    dropout = 0.0 if fusion == "early" else 0.2
    model = build_fusion_model(
        digits.input_shapes, digits.tasks, fusion, units=16, modality_dropout=dropout
    )
    assert sorted(model.input_names if hasattr(model, "input_names") else []) in (
        [],
        ["audio", "image"],
    )
    mtl.training.compile_for_tasks(model, digits.tasks, learning_rate=1e-2)
    history = model.fit(
        digits.train.x, digits.train.y, epochs=2, batch_size=64, verbose=0
    )
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_late_fusion_with_probabilities_averages_each_modalitys_predictions(digits):
    model = build_fusion_model(
        digits.input_shapes,
        digits.tasks,
        "late",
        units=8,
        late_combine="probabilities",
    )
    x = {k: v[:5] for k, v in digits.test.x.items()}
    inner = keras.Model(
        model.inputs,
        [
            model.get_layer("digit_from_image").output,
            model.get_layer("digit_from_audio").output,
        ],
    )
    from_image, from_audio = inner(x)
    np.testing.assert_allclose(
        model(x)["digit"], (from_image + from_audio) / 2, rtol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(model(x)["digit"]).sum(axis=1), 1.0, rtol=1e-5
    )


def test_one_modality_gives_the_single_modality_baseline(digits):
    model = build_fusion_model({"audio": (65,)}, digits.tasks, "gmu", units=8)
    assert [layer.name for layer in model.layers if "encoder" in layer.name] == [
        "audio_encoder"
    ]
    out = model({"audio": digits.test.x["audio"][:3]})
    assert out["digit"].shape == (3, 10) and out["volume"].shape == (3, 1)


def test_late_fusion_misses_an_interaction_that_intermediate_fusion_learns():
    data = mtl.data.make_two_views(3000, interaction=1.0, seed=0)

    def accuracy(fusion):
        mtl.set_seed(0)
        model = build_fusion_model(data.input_shapes, data.tasks, fusion, units=32)
        mtl.training.compile_for_tasks(model, data.tasks, learning_rate=1e-2)
        model.fit(data.train.x, data.train.y, epochs=30, batch_size=128, verbose=0)
        return mtl.metrics.evaluate_tasks(model, data, "test")["label"]

    late, intermediate = accuracy("late"), accuracy("intermediate")
    assert late < 0.6  # chance is 0.5: neither view alone carries the label
    assert intermediate > 0.85


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fusion": "middle"}, "fusion must be one of"),
        ({"input_shapes": {}}, "input_shapes must map each modality"),
        (
            {"fusion": "gmu", "input_shapes": {"a": (2,), "b": (2,), "c": (2,)}},
            "exactly two modalities",
        ),
        (
            {"fusion": "early", "modality_dropout": 0.3},
            "not available for fusion='early'",
        ),
        ({"modality_dropout": 1.0}, r"modality_dropout must be a number in \[0, 1\)"),
        ({"fusion": "attention", "units": 30}, "tokens must divide units"),
        ({"units": 0}, "units must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    arguments = {
        "input_shapes": {"image": (8, 8, 1), "audio": (65,)},
        "tasks": [mtl.data.av_digits.AV_TASKS["digit"]],
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_fusion_model(**arguments)


@pytest.mark.parametrize("fusion", ["intermediate", "gmu", "late"])
def test_a_missing_modality_is_left_out(fusion, digits):
    # With allow_missing, zeros for the audio give the features (or, for late fusion, the predictions)
    # the model would have without the audio, whatever the audio encoder makes of zeros.
    mtl.set_seed(0)
    model = build_fusion_model(
        digits.input_shapes, digits.tasks, fusion, units=8, allow_missing=True
    )
    no_audio = digits.test.with_missing_modality("audio").rows(np.arange(6))
    out = model(no_audio.x)
    if fusion == "late":  # the default product of experts: the image's logits alone
        inner = keras.Model(model.inputs, model.get_layer("digit_from_image").output)
        logits = np.asarray(inner(no_audio.x))
        alone = np.exp(logits - logits.max(axis=1, keepdims=True))
        alone /= alone.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(out["digit"], alone, rtol=1e-5, atol=1e-7)
    else:
        fused = model.get_layer("audio_if_present").output
        assert not np.asarray(keras.Model(model.inputs, fused)(no_audio.x)).any()
        # Present audio still matters.
        full = digits.test.rows(np.arange(6))
        assert not np.allclose(model(full.x)["digit"], out["digit"])


def test_without_allow_missing_zeros_are_just_inputs(digits):
    mtl.set_seed(0)
    model = build_fusion_model(
        digits.input_shapes, digits.tasks, "intermediate", units=8
    )
    assert not any("present" in layer.name for layer in model.layers)
    with pytest.raises(ValueError, match="allow_missing must be True or False"):
        build_fusion_model(digits.input_shapes, digits.tasks, allow_missing="yes")
