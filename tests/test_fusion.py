"""Fusion layers and modality dropout: formulas on known inputs, shapes, gradients, saving."""

import keras
import numpy as np
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.models import (
    CrossModalAttention,
    GatedMultimodalUnit,
    ModalityDropout,
    TensorFusion,
)


def test_tensor_fusion_is_the_outer_product_with_ones_appended():
    a = np.array([[2.0, 3.0]], dtype="float32")
    b = np.array([[5.0]], dtype="float32")
    fused = np.asarray(TensorFusion()([a, b]))
    # [2, 3, 1] (x) [5, 1] = [[10, 2], [15, 3], [5, 1]], flattened row by row.
    np.testing.assert_allclose(fused, [[10.0, 2.0, 15.0, 3.0, 5.0, 1.0]])
    three = TensorFusion()([a, b, np.ones((1, 1), "float32")])
    assert three.shape == (1, 12)
    assert TensorFusion().compute_output_shape([(None, 4), (None, 3)]) == (None, 20)


def test_gmu_follows_its_equations():
    layer = GatedMultimodalUnit(3)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((4, 5)).astype("float32")
    x2 = rng.standard_normal((4, 2)).astype("float32")
    out = np.asarray(layer([x1, x2]))
    w1 = layer.first.kernel.numpy()
    w2 = layer.second.kernel.numpy()
    wz, bz = layer.gate_layer.kernel.numpy(), layer.gate_layer.bias.numpy()
    z = 1 / (1 + np.exp(-(np.hstack([x1, x2]) @ wz + bz)))
    expected = z * np.tanh(x1 @ w1) + (1 - z) * np.tanh(x2 @ w2)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.gate([x1, x2]), z, rtol=1e-5)
    with pytest.raises(ValueError, match="exactly 2 tensors"):
        layer([x1, x2, x2])


def test_cross_modal_attention_shapes_and_weights():
    layer = CrossModalAttention(num_heads=2, key_dim=4)
    query = np.random.default_rng(1).standard_normal((3, 5, 8)).astype("float32")
    context = np.random.default_rng(2).standard_normal((3, 7, 6)).astype("float32")
    out = layer([query, context])
    assert out.shape == (3, 5, 8)
    weights = np.asarray(layer.last_attention)
    assert weights.shape == (3, 2, 5, 7)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="token sequences"):
        CrossModalAttention()([query[:, 0], context[:, 0]])


def test_modality_dropout_blanks_whole_modalities_but_never_all():
    layer = ModalityDropout(rate=0.6, seed=0)
    a = np.ones((2000, 3), "float32")
    b = np.ones((2000, 4, 2), "float32")
    out_a, out_b = (np.asarray(t) for t in layer([a, b], training=True))
    kept_a = out_a.reshape(2000, -1).max(axis=1) > 0
    kept_b = out_b.reshape(2000, -1).max(axis=1) > 0
    # Whole modalities: each row is all ones or all zeros; never both blank.
    assert set(np.unique(out_a)) <= {0.0, 1.0} and set(np.unique(out_b)) <= {0.0, 1.0}
    assert np.all(out_a.min(axis=1) == out_a.max(axis=1))
    assert np.all(kept_a | kept_b)
    # Each blanked with probability 0.6, minus the rescued rows where both were drawn out.
    assert 0.25 < 1 - kept_a.mean() < 0.55
    same_a, same_b = layer([a, b], training=False)
    np.testing.assert_array_equal(same_a, a)
    np.testing.assert_array_equal(same_b, b)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        ModalityDropout(rate=1.0)


def test_modality_dropout_masks_say_what_each_example_has_and_kept():
    n = 2000
    a, b = np.ones((n, 3), "float32"), np.ones((n, 2, 2), "float32")
    rng = np.random.default_rng(0)
    present = [(rng.random((n, 1)) < share).astype("float32") for share in (0.7, 0.8)]
    layer = ModalityDropout(rate=0.6, seed=0, return_masks=True)
    (out_a, out_b), (mask_a, mask_b) = layer([a, b], presence=present, training=True)
    kept = np.stack(
        [np.asarray(out_a)[:, 0], np.asarray(out_b).reshape(n, -1)[:, 0]], axis=1
    )
    masks = np.hstack([np.asarray(mask_a), np.asarray(mask_b)])
    assert masks.shape == (n, 2)
    has = np.hstack(present)
    # 1 exactly where the example has the modality and the layer kept it.
    np.testing.assert_array_equal(masks, kept * has)
    # An example that has a modality keeps at least one it has; one that has none keeps none.
    assert np.all(masks[has.any(axis=1)].sum(axis=1) >= 1)
    assert not masks[~has.any(axis=1)].any()
    assert 0.25 < 1 - masks[has[:, 0] == 1, 0].mean() < 0.55
    # At inference nothing is blanked and the masks are the presence masks, or ones without them.
    (same_a, same_b), inference = layer([a, b], presence=present, training=False)
    np.testing.assert_array_equal(same_a, a)
    np.testing.assert_array_equal(same_b, b)
    np.testing.assert_array_equal(np.hstack(inference), has)
    _, ones = layer([a, b], training=False)
    np.testing.assert_array_equal(np.hstack(ones), np.ones((n, 2)))
    with pytest.raises(ValueError, match="one presence mask per modality"):
        layer([a, b], presence=present[:1] * 3, training=True)


def test_modality_dropout_blanks_the_same_with_masks_or_without():
    # The keep masks are a reading of the same draws: asking for them changes nothing that is blanked,
    # and without presence masks they mark exactly the kept modalities.
    a, b = np.ones((500, 3), "float32"), np.ones((500, 4), "float32")
    plain = ModalityDropout(rate=0.5, seed=3)([a, b], training=True)
    (out_a, out_b), (mask_a, mask_b) = ModalityDropout(
        rate=0.5, seed=3, return_masks=True
    )([a, b], training=True)
    np.testing.assert_array_equal(out_a, plain[0])
    np.testing.assert_array_equal(out_b, plain[1])
    np.testing.assert_array_equal(mask_a, np.asarray(out_a)[:, :1])
    np.testing.assert_array_equal(mask_b, np.asarray(out_b)[:, :1])


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: GatedMultimodalUnit(0), "units"),
        (lambda: CrossModalAttention(num_heads=0), "num_heads"),
        (lambda: CrossModalAttention(key_dim="wide"), "key_dim"),
    ],
)
def test_bad_sizes_are_refused(make, argument):
    # A number out of range gets the layer's own message, a value of the wrong kind the type check's.
    with pytest.raises(
        ValueError, match=f"{argument} must be (a positive integer|an integer)"
    ):
        make()


def _two_modality_model():
    image = keras.Input((8, 8, 1), name="image")
    audio = keras.Input((65,), name="audio")
    a = keras.layers.Dense(6, activation="relu")(keras.layers.Flatten()(image))
    b = keras.layers.Dense(6, activation="relu")(audio)
    a, b = ModalityDropout(0.3, seed=1, name="modality_dropout")([a, b])
    gmu = GatedMultimodalUnit(5, name="gmu")([a, b])
    tensor = TensorFusion(name="tensor")([a, b])
    tokens_a = keras.layers.Reshape((2, 3))(a)
    tokens_b = keras.layers.Reshape((3, 2))(b)
    attended = keras.layers.Flatten()(
        CrossModalAttention(1, 4, name="xattn")([tokens_a, tokens_b])
    )
    joined = keras.layers.Concatenate()([gmu, tensor, attended])
    out = keras.layers.Dense(10, activation="softmax", name="digit")(joined)
    return keras.Model([image, audio], {"digit": out})


def test_a_model_with_every_fusion_layer_trains():
    data = mtl.data.load_av_digits(("digit",), seed=0, copies=1)
    mtl.set_seed(0)
    model = _two_modality_model()
    mtl.training.compile_for_tasks(model, data.tasks, learning_rate=1e-2)
    history = model.fit(data.train.x, data.train.y, epochs=3, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_presence_marks_all_zero_inputs_as_missing():
    x = np.ones((4, 3, 2), "float32")
    x[1] = 0.0
    x[2, 0, 0] = 0.0  # one zero entry is not a missing modality
    np.testing.assert_array_equal(
        mtl.models.ModalityPresence()(x), [[1.0], [0.0], [1.0], [1.0]]
    )


def test_present_average_skips_missing_modalities():
    p1 = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], "float32")
    p2 = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]], "float32")
    m1 = np.array([[1.0], [0.0], [0.0]], "float32")
    m2 = np.array([[1.0], [1.0], [0.0]], "float32")
    out = mtl.models.PresentAverage()([p1, p2, m1, m2])
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="M predictions and then their M presence"):
        mtl.models.PresentAverage()([p1, p2, m1])
