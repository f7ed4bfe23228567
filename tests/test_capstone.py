"""The blog post's combined model and Part III's capstone: structure, training, saving, serving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_tutorial as mtl
from mtl_tutorial.data.av_digits import AV_TASKS
from mtl_tutorial.models import build_capstone, build_post_model


@pytest.fixture(scope="module")
def digits():
    return mtl.data.load_av_digits(("digit", "upright", "volume"), seed=0, copies=1)


def test_post_model_has_the_posts_layers_and_ties_one_of_them():
    model = build_post_model(
        {"a": (10,), "b": (10,)}, AV_TASKS["volume"], AV_TASKS["upright"]
    )
    names = [layer.name for layer in model.layers]
    for name in (
        "data1_encoder",
        "data2_encoder",
        "shared_encoder",
        "feature1_encoder",
        "feature2_encoder",
    ):
        assert name in names
    # The post's model has (10*5+5)*2 + (5*32+32) + (32*10+10)*2 + 11 + 22 parameters: one shared layer.
    assert model.count_params() == 110 + 192 + 660 + 11 + 22


@pytest.mark.parametrize("fuse", [False, True])
def test_post_model_heads_see_one_modality_unless_fused(fuse, digits):
    model = build_post_model(
        digits.input_shapes, AV_TASKS["volume"], AV_TASKS["digit"], fuse=fuse
    )
    x = {k: v[:8] for k, v in digits.test.x.items()}
    changed = dict(x, audio=x["audio"] + 5.0)  # change the second modality only
    before, after = model(x), model(changed)
    volume_moved = not np.allclose(before["volume"], after["volume"])
    digit_moved = not np.allclose(before["digit"], after["digit"])
    assert digit_moved
    assert volume_moved == fuse


def test_post_model_refuses_bad_arguments():
    with pytest.raises(ValueError, match="exactly two modalities"):
        build_post_model({"a": (3,)}, AV_TASKS["volume"], AV_TASKS["digit"])
    with pytest.raises(ValueError, match="regression must be a regression task"):
        build_post_model({"a": (3,), "b": (3,)}, AV_TASKS["digit"], AV_TASKS["volume"])


def test_capstone_trains_and_handles_a_missing_modality(digits):
    mtl.set_seed(0)
    model = build_capstone(
        digits.input_shapes, digits.tasks, rule=mtl.rules.Uncertainty()
    )
    mtl.training.compile_for_tasks(model, digits.tasks, learning_rate=3e-3)
    history = model.fit(
        mtl.training.to_dataset(digits.train, batch_size=64, shuffle=True, seed=0),
        epochs=3,
        shuffle=False,
        verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert mtl.metrics.evaluate_tasks(model, digits, "test")["digit"] > 0.3
    x = {k: v[:16] for k, v in digits.test.x.items()}
    # Zeros for the audio: its features are zeroed, as modality dropout taught the model.
    no_audio = dict(x, audio=np.zeros_like(x["audio"]))
    inner = keras.Model(
        model.network.inputs, model.network.get_layer("audio_if_present").output
    )
    assert not np.asarray(inner(no_audio)).any()


def test_exported_capstone_serves_the_same_predictions(digits, tmp_path):
    mtl.set_seed(1)
    model = build_capstone(digits.input_shapes, digits.tasks)
    mtl.training.compile_for_tasks(model, digits.tasks, learning_rate=3e-3)
    model.fit(digits.train.x, digits.train.y, epochs=1, batch_size=64, verbose=0)
    path = str(tmp_path / "served")
    model.network.export(path, verbose=False)
    served = tf.saved_model.load(path)
    x = {k: v[:32] for k, v in digits.test.x.items()}
    x["audio"][:8] = 0.0  # some examples without their tone
    expected = model.predict(x, verbose=0)
    got = served.serve(x)
    for task in ("digit", "upright", "volume"):
        np.testing.assert_allclose(
            np.asarray(got[task]), expected[task], rtol=1e-5, atol=1e-6
        )


def test_capstone_trains_with_two_replicas_and_refuses_a_failing_setting(on_two_cpus):
    # Two logical CPUs must be configured before TensorFlow starts, so this runs in its own process.
    on_two_cpus(
        """
        import numpy as np, tensorflow as tf
        import mtl_tutorial as mtl
        data = mtl.data.load_av_digits(("digit", "volume"), seed=0, copies=1)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = mtl.models.build_capstone(data.input_shapes, data.tasks)
            try:
                mtl.training.compile_for_tasks(model, data.tasks, steps_per_execution=5)
                raise SystemExit("steps_per_execution=5 was accepted")
            except ValueError as error:
                assert "Use steps_per_execution=1" in str(error)
            mtl.training.compile_for_tasks(model, data.tasks, learning_rate=3e-3)
        dataset = mtl.training.to_dataset(data.train, batch_size=64, shuffle=True, seed=0)
        history = model.fit(dataset, epochs=3, shuffle=False, verbose=0)
        losses = history.history["loss"]
        assert losses[-1] < losses[0], losses
        print("ok")
        """,
        timeout=300,
    )
