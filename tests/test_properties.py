"""Property-based tests (Hypothesis): the data generators, layers and training rules over random sizes.

Example-based tests elsewhere pin known cases; these check what must hold for every size, seed and task
count a reader might pick: shapes and dtypes, same seed -> same data, the relatedness a generator promises,
output shapes of the layers, a batch in which one task has no labels, a single task, and sixteen tasks.
Examples are few (TensorFlow is slow to trace) and deadlines are off for the same reason.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtl_tutorial as mtl
from mtl_tutorial.rules import RULES

FAST = settings(max_examples=15, deadline=None)
SLOW = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

seeds = st.integers(0, 2**31 - 1)


# --- Data generators -------------------------------------------------------------------------------------


@FAST
@given(
    n=st.integers(50, 400),
    num_tasks=st.integers(1, 5),
    extra_dims=st.integers(0, 15),
    p=st.floats(-1, 1),
    seed=seeds,
)
def test_correlated_tasks_shapes_dtypes_and_seeds(n, num_tasks, extra_dims, p, seed):
    input_dim = num_tasks + extra_dims  # one orthogonal direction per task at least
    make = lambda s: mtl.data.make_correlated_tasks(  # noqa: E731
        n, p, num_tasks=num_tasks, input_dim=input_dim, num_sines=3, seed=s
    )
    data = make(seed)
    sizes = [len(data.split(name).x) for name in ("train", "val", "test")]
    assert sum(sizes) == n and min(sizes) > 0
    assert [t.name for t in data.tasks] == [f"task_{k + 1}" for k in range(num_tasks)]
    for name in ("train", "val", "test"):
        part = data.split(name)
        assert part.x.shape == (len(part.x), input_dim)
        assert part.x.dtype == np.float32
        for task in data.tasks:
            assert part.y[task.name].shape == (len(part.x), 1)
            assert np.isfinite(part.y[task.name]).all()
    again = make(seed)
    np.testing.assert_array_equal(again.train.x, data.train.x)
    for task in data.tasks:
        np.testing.assert_array_equal(again.test.y[task.name], data.test.y[task.name])
    assert not np.array_equal(make(seed + 1).train.x, data.train.x)


@FAST
@given(
    p=st.floats(-1, 1),
    num_tasks=st.integers(2, 6),
    input_dim=st.integers(6, 50),
    seed=seeds,
)
def test_task_weights_have_the_promised_cosine(p, num_tasks, input_dim, seed):
    w = mtl.data.task_directions(p, num_tasks=num_tasks, input_dim=input_dim, seed=seed)
    assert w.shape == (num_tasks, input_dim)
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(unit[1:] @ unit[0], p, atol=1e-9)


@settings(max_examples=10, deadline=None)
@given(p=st.floats(-0.95, 0.95), seed=seeds)
def test_linear_tasks_labels_correlate_as_promised(p, seed):
    # Without sines, y_k = w_k.x + noise, so corr(y_1, y_2) = p * c^2 / (c^2 + noise^2) in expectation.
    data = mtl.data.make_correlated_tasks(
        6000, p, num_sines=0, input_dim=10, noise_std=0.1, seed=seed
    )
    expected = p / (1 + 0.1**2)
    # The sample correlation of about 3,600 training rows varies by about (1 - r^2) / sqrt(n) < 0.017.
    assert mtl.data.label_correlation(data) == pytest.approx(expected, abs=0.07)


@FAST
@given(n=st.integers(60, 300), view_dim=st.integers(2, 12), seed=seeds)
def test_two_views_shapes_and_seeds(n, view_dim, seed):
    data = mtl.data.make_two_views(n, view_dim=view_dim, seed=seed)
    for view in ("view_a", "view_b"):
        assert data.train.x[view].shape == (len(data.train.y["label"]), view_dim)
        assert data.train.x[view].dtype == np.float32
    assert set(np.unique(data.train.y["label"])) <= {0, 1}
    again = mtl.data.make_two_views(n, view_dim=view_dim, seed=seed)
    np.testing.assert_array_equal(again.test.x["view_a"], data.test.x["view_a"])


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 1000))
def test_av_digits_same_seed_same_data(seed):
    one = mtl.data.load_av_digits(seed=seed, copies=1)
    two = mtl.data.load_av_digits(seed=seed, copies=1)
    for name in ("image", "audio"):
        np.testing.assert_array_equal(one.train.x[name], two.train.x[name])
        assert one.train.x[name].dtype == np.float32
    assert one.train.x["image"].shape[1:] == (8, 8, 1)
    assert one.train.x["audio"].shape[1:] == (65,)
    for task in ("digit", "upright", "volume"):
        np.testing.assert_array_equal(one.test.y[task], two.test.y[task])


# --- Layers ----------------------------------------------------------------------------------------------


@FAST
@given(
    batch=st.integers(1, 9),
    d=st.integers(1, 12),
    experts=st.integers(1, 6),
    units=st.integers(1, 8),
    gates=st.integers(1, 5),
)
def test_mixture_of_experts_output_shapes(batch, d, experts, units, gates):
    layer = mtl.models.MixtureOfExperts(experts, units, num_gates=gates)
    outputs = layer(np.ones((batch, d), "float32"))
    assert len(outputs) == gates
    assert all(tuple(o.shape) == (batch, units) for o in outputs)
    weights = np.asarray(layer.gate_weights(np.ones((batch, d), "float32")))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)


@FAST
@given(batch=st.integers(1, 9), columns=st.integers(2, 5), units=st.integers(1, 8))
def test_cross_stitch_keeps_each_column_shape(batch, columns, units):
    inputs = [np.full((batch, units), k, "float32") for k in range(columns)]
    outputs = mtl.models.CrossStitch()(inputs)
    assert len(outputs) == columns
    assert all(tuple(o.shape) == (batch, units) for o in outputs)


@FAST
@given(
    batch=st.integers(1, 6),
    width_a=st.integers(1, 6),
    width_b=st.integers(1, 6),
    num_tasks=st.integers(1, 4),
    fusion=st.sampled_from(mtl.models.FUSIONS),
    allow_missing=st.booleans(),
)
def test_fusion_models_output_one_head_per_task(
    batch, width_a, width_b, num_tasks, fusion, allow_missing
):
    tasks = [
        mtl.Task(f"t{k}", "classification", num_classes=k + 2) for k in range(num_tasks)
    ]
    shapes = {"a": (width_a,), "b": (width_b,)}
    model = mtl.models.build_fusion_model(
        shapes, tasks, fusion, units=4, allow_missing=allow_missing
    )
    x = {name: np.ones((batch, *shape), "float32") for name, shape in shapes.items()}
    outputs = model(x)
    for task in tasks:
        assert tuple(outputs[task.name].shape) == (batch, task.num_classes)
        np.testing.assert_allclose(
            np.asarray(outputs[task.name]).sum(axis=1), 1.0, rtol=1e-5
        )


# --- Training rules --------------------------------------------------------------------------------------


def _tasks(k: int) -> list[mtl.Task]:
    return [
        mtl.Task(f"t{i}", "classification", num_classes=3)
        if i % 2
        else mtl.Task(f"t{i}", "regression")
        for i in range(k)
    ]


def _batch(tasks, n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = {
        t.name: (
            rng.integers(0, t.num_classes, size=(n, 1))
            if t.kind == "classification"
            else rng.normal(size=(n, 1)).astype("float32")
        )
        for t in tasks
    }
    return x, y


def _rule(name: str, tasks):
    """The registered rule ``name``, built for ``tasks`` by its ``example``."""
    return RULES[name].example([t.name for t in tasks])


def _gradients_and_losses(model, x, y, weights):
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        losses = model.task_losses(y, y_pred, weights)
        total = model.rule.total(losses)
    grads = tape.gradient(total, model.trainable_variables)
    return losses, total, grads


@SLOW
@given(
    num_tasks=st.integers(2, 4),
    unlabelled=st.integers(0, 3),
    rule=st.sampled_from(sorted(RULES)),
    seed=st.integers(0, 100),
)
def test_a_task_without_labels_in_a_batch_gives_finite_losses_and_gradients(
    num_tasks, unlabelled, rule, seed
):
    tasks = _tasks(num_tasks)
    x, y = _batch(tasks, 16, 5, seed)
    weights = {t.name: np.ones(16, "float32") for t in tasks}
    weights[tasks[unlabelled % num_tasks].name] = np.zeros(16, "float32")  # no labels
    keras.utils.set_random_seed(seed)
    network = mtl.models.build_shared_bottom(5, tasks, bottom_units=6, tower_units=3)
    model = mtl.multitask_model.MultiTaskModel(network, tasks, rule=_rule(rule, tasks))
    mtl.training.compile_for_tasks(model, tasks)
    losses, total, grads = _gradients_and_losses(model, x, y, weights)
    assert np.isfinite(np.asarray(losses)).all() and np.isfinite(float(total))
    assert all(g is None or np.isfinite(np.asarray(g)).all() for g in grads)
    # And a full training step through fit, with the rule's own update, stays finite.
    history = model.fit(x, y, sample_weight=weights, epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(np.asarray(v)).all() for v in model.trainable_variables)


# Every registered rule must reduce to plain training with one task, except these.
NOT_PLAIN_WITH_ONE_TASK = {
    "Uncertainty": "its objective exp(-s)/2 * L + s/2 halves the gradient and learns s",
    "Static": "its example weighs the task by 2, which doubles the gradient",
}
ONE_TASK_RULES = sorted(set(RULES) - set(NOT_PLAIN_WITH_ONE_TASK))


@SLOW
@given(
    rule=st.sampled_from(ONE_TASK_RULES),
    kind=st.sampled_from(["regression", "classification"]),
    seed=st.integers(0, 100),
)
def test_one_task_reduces_to_the_plain_model(rule, kind, seed):
    task = mtl.Task("only", kind, num_classes=3 if kind == "classification" else None)
    x, y = _batch([task], 32, 4, seed)
    keras.utils.set_random_seed(seed)
    network = mtl.models.build_shared_bottom(4, [task], bottom_units=5, tower_units=3)
    plain = keras.models.clone_model(network)
    plain.set_weights(network.get_weights())
    model = mtl.multitask_model.MultiTaskModel(
        network, [task], rule=_rule(rule, [task])
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss={"only": task.loss})
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    plain.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for mine, theirs in zip(network.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_sixteen_tasks_train(rule):
    tasks = _tasks(16)
    x, y = _batch(tasks, 64, 6, seed=0)
    keras.utils.set_random_seed(0)
    network = mtl.models.build_shared_bottom(6, tasks, bottom_units=8, tower_units=2)
    model = mtl.multitask_model.MultiTaskModel(network, tasks, rule=_rule(rule, tasks))
    mtl.training.compile_for_tasks(model, tasks)
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    weights = np.array([history.history[f"weight_{t.name}"][-1] for t in tasks])
    assert (
        weights.shape == (16,) and np.isfinite(weights).all() and (weights >= 0).all()
    )
    predictions = model.predict(x[:5], verbose=0)
    assert sorted(predictions) == sorted(t.name for t in tasks)
