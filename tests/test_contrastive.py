"""The symmetric InfoNCE loss, recall@k and the dual encoder."""

import keras
import numpy as np
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.models import DualEncoder, symmetric_info_nce


def test_info_nce_on_a_hand_computable_case():
    # Two orthogonal pairs: logits = I / t, so each row's cross-entropy is log(1 + exp(-1 / t)).
    eye = np.eye(2, dtype="float32")
    for t in (0.5, 1.0):
        loss = float(symmetric_info_nce(eye, eye, t))
        assert loss == pytest.approx(np.log1p(np.exp(-1 / t)), rel=1e-5)
    # Swapped partners are worse than the right ones, and lengths do not matter.
    assert float(symmetric_info_nce(eye, eye[::-1], 0.5)) > float(
        symmetric_info_nce(eye, 3 * eye, 0.5)
    )


def test_recall_at_k():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 8))
    assert mtl.metrics.recall_at_k(a, a, k=1) == 1.0
    shuffled = a[rng.permutation(50)]
    assert mtl.metrics.recall_at_k(a, shuffled, k=1) < 0.2
    assert mtl.metrics.recall_at_k(a, shuffled, k=50) == 1.0
    # By hand: query 0's partner is the second most similar candidate.
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    c = np.array([[1.0, 1.0], [1.0, 0.1]])
    assert mtl.metrics.recall_at_k(q, c, k=1) == 0.0
    assert mtl.metrics.recall_at_k(q, c, k=2) == 1.0
    with pytest.raises(ValueError, match="k must be an integer between 1 and 2"):
        mtl.metrics.recall_at_k(q, c, k=3)
    with pytest.raises(ValueError, match="of one shape"):
        mtl.metrics.recall_at_k(q, c[:1])
    # With labels, any candidate of the query's class counts.
    assert mtl.metrics.recall_at_k(q, c, k=1, labels=np.array([7, 7])) == 1.0
    with pytest.raises(ValueError, match="labels must have one entry per row"):
        mtl.metrics.recall_at_k(q, c, labels=np.array([1]))


def _encoders(width=8):
    image = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(width)],
        name="image_encoder",
    )
    audio = keras.Sequential(
        [keras.Input((65,)), keras.layers.Dense(width)], name="audio_encoder"
    )
    return image, audio


def test_dual_encoder_learns_to_retrieve():
    data = mtl.data.load_av_digits(("digit",), seed=0, copies=1)
    mtl.set_seed(0)
    model = DualEncoder(*_encoders(), names=("image", "audio"), temperature=0.2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))

    def recall(m):
        e = m(data.test.x)
        # A tone of the right key is a hit: tones of one key are interchangeable.
        return mtl.metrics.recall_at_k(
            np.asarray(e["image"]),
            np.asarray(e["audio"]),
            k=1,
            labels=data.test.y["digit"],
        )

    before = recall(model)
    history = model.fit(data.train.x, epochs=5, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "temperature" in history.history
    after = recall(model)
    assert after > 0.2 and after > before + 0.1  # chance is about 0.1


def test_dual_encoder_refuses_bad_arguments():
    image, audio = _encoders()
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        DualEncoder(image, audio, temperature=0)
    with pytest.raises(ValueError, match="names must be two different strings"):
        DualEncoder(image, audio, names=("x", "x"))
    with pytest.raises(ValueError, match="encoder_b must be a keras.Model"):
        DualEncoder(image, "audio")


def test_dual_encoder_on_two_replicas_takes_the_single_device_step(on_two_cpus):
    # With its negatives gathered across replicas, one SGD step on two replicas is the step on one device
    # with the same global batch; with only each replica's own negatives, it is another step.
    on_two_cpus(
        """
        import numpy as np, tensorflow as tf, keras
        import mtl_tutorial as mtl
        rng = np.random.default_rng(0)
        x = {"image": rng.normal(size=(32, 8, 8, 1)).astype("float32"),
             "audio": rng.normal(size=(32, 65)).astype("float32")}

        def make(gather):
            image = keras.Sequential(
                [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(8)]
            )
            audio = keras.Sequential([keras.Input((65,)), keras.layers.Dense(8)])
            model = mtl.models.DualEncoder(
                image, audio, names=("image", "audio"), temperature=0.2,
                gather_negatives=gather,
            )
            model.compile(optimizer=keras.optimizers.SGD(0.5))
            model(x)
            return model

        def step(model, start):
            model.set_weights(start)
            loss = model.fit(x, batch_size=32, epochs=1, shuffle=False, verbose=0)
            return model.get_weights(), loss.history["loss"][0]

        one = make(True)
        start = one.get_weights()
        weights, loss = step(one, start)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        moved = {}
        for gather in (True, False):
            with strategy.scope():
                two = make(gather)
            moved[gather] = step(two, start)
        for a, b in zip(moved[True][0], weights):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(moved[True][1], loss, rtol=1e-5)
        gap = max(np.abs(a - b).max() for a, b in zip(moved[False][0], weights))
        assert gap > 1e-3, gap  # 15 negatives per pair instead of 31: another step
        assert moved[False][1] < loss - 0.1, (moved[False][1], loss)  # and a smaller loss
        print("ok")
        """,
        timeout=300,
    )
