"""Every kind of model the book builds saves to ``.keras`` and loads back with Keras's default safe mode.

This is the one file that tests ``.keras`` round trips. ``MODELS`` holds every case of
``tests/model_catalogue.py`` (every builder of ``mtl.models``, every strategy of ``mtl.models.FUSIONS``),
a ``MultiTaskModel`` with each rule of ``mtl.rules.RULES``, and the dual encoder. The test compiles each model
as the chapters do, trains it for two steps (so that the weights, the optimizer's state and a rule's state are
no longer their initial values), saves it, loads it with ``keras.saving.load_model`` (``safe_mode=True``, the
default, which refuses to deserialise arbitrary code) and checks that the loaded model has the same weights,
optimizer step and rule, gives the same outputs (also with a modality missing), evaluates the same, and trains
on.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import mtl_tutorial as mtl
from mtl_tutorial.rules import RULES
from tests.model_catalogue import (
    BUILDERS,
    FLAT,
    PAIRED,
    SHAPES,
    TARGETS,
    TASKS,
    case_id,
    cases,
)


def _wrapped(rule):
    def build():
        network = mtl.models.build_shared_bottom(5, TASKS, bottom_units=8)
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
    **{case_id(*c): BUILDERS[c[0]][c[1]] for c in cases()},
    **{f"multi-task model, {rule}": (_wrapped(rule), FLAT) for rule in RULES},
    "dual encoder": (_dual_encoder, PAIRED),
}


def _outputs(model, x) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in model.predict(x, verbose=0).items()}


def _train_two_steps(model, x):
    """Compile ``model`` as the chapters do and fit it for two steps of three examples."""
    if isinstance(model, mtl.models.DualEncoder):
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        model.fit(x, batch_size=3, epochs=1, verbose=0)
        return None
    mtl.training.compile_for_tasks(model, TASKS, learning_rate=1e-2)
    y = {name: TARGETS[name] for name in model.output_names}
    model.fit(x, y, batch_size=3, epochs=1, verbose=0)
    return y


@pytest.mark.parametrize("name", list(MODELS))
def test_a_trained_model_round_trips_through_keras_file_in_safe_mode(name, tmp_path):
    build, x = MODELS[name]
    mtl.set_seed(0)
    model = build()
    y = _train_two_steps(model, x)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True by default
    assert type(loaded) is type(model)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    assert len(loaded.weights) == len(model.weights)
    for before, after in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(after, before, err_msg=before.path)
    if isinstance(model, mtl.multitask_model.MultiTaskModel):
        assert type(loaded.rule) is type(model.rule)
        assert loaded.rule.get_config() == model.rule.get_config()
    inputs = [x]
    if isinstance(
        x, dict
    ):  # and with the audio missing (all zeros), as Part II feeds it
        inputs.append(dict(x, audio=np.zeros_like(x["audio"])))
    for given in inputs:
        before, after = _outputs(model, given), _outputs(loaded, given)
        assert before.keys() == after.keys()
        for key in before:
            np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-6)
    arguments = (x,) if y is None else (x, y)
    np.testing.assert_allclose(
        loaded.evaluate(*arguments, verbose=0),
        model.evaluate(*arguments, verbose=0),
        rtol=1e-5,
    )
    history = loaded.fit(*arguments, batch_size=3, epochs=1, verbose=0)  # and trains on
    assert np.isfinite(history.history["loss"]).all()
    assert int(loaded.optimizer.iterations) == 4
