"""Mixed precision: the book's trainable models take the same step under a 16-bit policy as in float32.

Under ``"mixed_float16"`` Keras wraps the optimizer in a ``LossScaleOptimizer``, which divides every gradient
by the loss scale before applying it; a ``train_step`` that forgets ``optimizer.scale_loss`` then hands it
gradients thousands of times too small. With SGD, as here, its steps are that much too small too; with Adam,
which divides by the gradient's own size, the steps shrink less, by how much depends on the gradient against
Adam's epsilon. Under ``"mixed_bfloat16"`` there is no loss scaling, but the losses must
still be computed in float32. Outputs stay float32 under both policies (``tests/test_models.py`` checks
every builder).
"""

import keras
import numpy as np
import pytest

import mtl_tutorial as mtl

POLICIES = ("mixed_bfloat16", "mixed_float16")


@pytest.fixture(scope="module")
def digits():
    data = mtl.data.load_av_digits(seed=0, copies=1)
    x = {name: value[:64] for name, value in data.train.x.items()}
    y = {name: value[:64] for name, value in data.train.y.items()}
    return data, x, y


def _capstone(data):
    model = mtl.models.build_capstone(
        data.input_shapes, data.tasks, modality_dropout=0.0
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def _dual_encoder(data):
    image = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(8)],
        name="image_encoder",
    )
    audio = keras.Sequential(
        [keras.Input((65,)), keras.layers.Dense(8)], name="audio_encoder"
    )
    model = mtl.models.DualEncoder(
        image, audio, names=("image", "audio"), temperature=0.2
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


BUILDERS = {"capstone": _capstone, "dual encoder": _dual_encoder}


def _one_step(build, policy, data, x, y, start=None):
    # One SGD step on one batch under `policy`: (optimizer class, weights before, weights after, loss).
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        mtl.set_seed(0)
        model = build(data)
        model(x)
        if start is not None:
            model.set_weights(start)
        before = [w.copy() for w in model.get_weights()]
        targets = None if isinstance(model, mtl.models.DualEncoder) else y
        history = model.fit(
            x, targets, batch_size=64, epochs=1, shuffle=False, verbose=0
        )
        return (
            type(model.optimizer).__name__,
            before,
            model.get_weights(),
            history.history["loss"][0],
        )
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("kind", list(BUILDERS))
def test_a_mixed_precision_step_matches_the_float32_step(kind, policy, digits):
    data, x, y = digits
    _, start, after, loss = _one_step(BUILDERS[kind], "float32", data, x, y)
    optimizer, _, mixed_after, mixed_loss = _one_step(
        BUILDERS[kind], policy, data, x, y, start
    )
    assert optimizer == ("LossScaleOptimizer" if policy == "mixed_float16" else "SGD")
    step = np.sqrt(sum(((a - s) ** 2).sum() for a, s in zip(after, start, strict=True)))
    mixed_step = np.sqrt(
        sum(((a - s) ** 2).sum() for a, s in zip(mixed_after, start, strict=True))
    )
    assert step > 0
    # 16-bit products round the gradients (bfloat16 keeps about 2.4 significant digits), so the two steps
    # agree to a few per cent, not exactly; a step without loss scaling would be ~1/32768 of it.
    assert mixed_step / step == pytest.approx(1.0, rel=0.05)
    assert mixed_loss == pytest.approx(loss, rel=0.02)
