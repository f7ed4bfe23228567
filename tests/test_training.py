import keras
import numpy as np
import pytest

import mtl_tutorial as mtl


def _train_once(data, seed, steps_per_execution=1):
    mtl.set_seed(seed)
    model = mtl.models.build_shared_trunk(
        data.input_dim, data.tasks, hidden_units=(16,)
    )
    mtl.training.compile_for_tasks(
        model,
        data.tasks,
        learning_rate=3e-3,
        steps_per_execution=steps_per_execution,
    )
    history = model.fit(
        mtl.training.to_dataset(data.train, shuffle=True, seed=seed),
        epochs=3,
        shuffle=False,
        verbose=0,
    )
    return model, history.history


def test_same_seed_same_numbers(penguins):
    first, logs_a = _train_once(penguins, seed=7)
    second, logs_b = _train_once(penguins, seed=7)
    assert logs_a["loss"] == logs_b["loss"]
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    _, logs_c = _train_once(penguins, seed=8)
    assert logs_a["loss"] != logs_c["loss"]


def test_steps_per_execution_changes_no_numbers(penguins):
    # 7 batches per epoch, so groups of 3 end each epoch with a partial group.
    plain, _ = _train_once(penguins, seed=3)
    grouped, _ = _train_once(penguins, seed=3, steps_per_execution=3)
    for a, b in zip(plain.get_weights(), grouped.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(
        ValueError, match="steps_per_execution must be a positive integer"
    ):
        mtl.training.compile_for_tasks(plain, penguins.tasks, steps_per_execution=0)


def test_compile_logs_a_loss_and_metric_per_task_and_learns(penguins):
    _, logs = _train_once(penguins, seed=0)
    assert {
        "species_loss",
        "species_accuracy",
        "body_mass_g_loss",
        "body_mass_g_mae",
        "loss",
    } <= set(logs)
    assert logs["loss"][-1] < logs["loss"][0]


def test_loss_weights_enter_the_total_loss(penguins):
    mtl.set_seed(0)
    model = mtl.models.build_shared_trunk(
        penguins.input_dim, penguins.tasks, hidden_units=(8,)
    )
    mtl.training.compile_for_tasks(
        model, penguins.tasks, loss_weights={"species": 2.0, "body_mass_g": 0.5}
    )
    # One batch, so that the logged per-task losses and the total are means over the same examples.
    logs = model.evaluate(
        penguins.val.x,
        penguins.val.y,
        batch_size=len(penguins.val),
        verbose=0,
        return_dict=True,
    )
    expected = 2.0 * logs["species_loss"] + 0.5 * logs["body_mass_g_loss"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)


def test_compile_refuses_mismatched_tasks(penguins, two_tasks):
    model = mtl.models.build_shared_trunk(penguins.input_dim, penguins.tasks)
    with pytest.raises(ValueError, match="outputs .* must be named after the tasks"):
        mtl.training.compile_for_tasks(model, two_tasks)
    with pytest.raises(
        ValueError,
        match=r"loss_weights must be keyed by the task names.*unknown keys \['mass'\]",
    ):
        mtl.training.compile_for_tasks(
            model, penguins.tasks, loss_weights={"species": 1, "mass": 1}
        )


def test_to_dataset_batches_and_selects_tasks(penguins):
    species = penguins.task("species")
    dataset = mtl.training.to_dataset(penguins.train, [species], batch_size=64)
    batches = list(dataset)
    assert [len(x) for x, _ in batches] == [64, 64, 64, 7]
    x, y = batches[0]
    assert x.shape == (64, 5) and set(y) == {"species"}
    np.testing.assert_array_equal(x.numpy(), penguins.train.x[:64])


def test_to_dataset_shuffles_reproducibly(penguins):
    def first_batch(seed):
        return next(
            iter(mtl.training.to_dataset(penguins.train, shuffle=True, seed=seed))
        )[0].numpy()

    np.testing.assert_array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), penguins.train.x[:32])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer; got batch_size=0"),
        ({"shuffle": True}, "shuffle=True needs a seed"),
        ({"tasks": [mtl.Task("wing", "regression")]}, r"Unknown tasks \['wing'\]"),
    ],
)
def test_to_dataset_refuses_bad_arguments(penguins, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.training.to_dataset(penguins.train, **kwargs)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_set_seed_refuses_bad_seeds(seed):
    # -1 gets set_seed's own message; 1.5, True and "0" are of the wrong kind.
    with pytest.raises(
        ValueError, match="seed must be (a non-negative integer|an integer)"
    ):
        mtl.set_seed(seed)


def test_set_seed_seeds_numpy_and_keras():
    mtl.set_seed(3)
    a = np.random.rand(), keras.random.uniform((2,), seed=None).numpy()  # noqa: NPY002 (global state on purpose)
    mtl.set_seed(3)
    b = np.random.rand(), keras.random.uniform((2,), seed=None).numpy()  # noqa: NPY002 (global state on purpose)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


def test_to_dataset_yields_sample_weights_for_missing_labels(penguins):
    split = penguins.train.with_missing_labels("body_mass_g", 20, seed=0)
    x, y, weights = next(iter(mtl.training.to_dataset(split, batch_size=199)))
    assert x.shape == (199, 5) and y["body_mass_g"].shape == (199, 1)
    assert set(weights) == {"species", "body_mass_g"}
    assert float(weights["body_mass_g"].numpy().sum()) == 20
    species_only = mtl.training.to_dataset(
        split, [penguins.task("species")], batch_size=8
    )
    _, _, weights = next(iter(species_only))
    assert set(weights) == {"species"}


def test_keras_divides_a_masked_loss_by_the_batch_size(penguins):
    # The trap the chapter teaches: with sample weights, Keras's "sum_over_batch_size" reduction
    # divides by the number of examples, not by the number of labelled ones.
    mass = penguins.task("body_mass_g")
    split = penguins.train.with_missing_labels("body_mass_g", 50, seed=1)
    mtl.set_seed(0)
    model = mtl.models.build_shared_trunk(penguins.input_dim, [mass], hidden_units=(4,))
    mtl.training.compile_for_tasks(model, [mass])
    logs = model.evaluate(
        mtl.training.to_dataset(split, [mass], batch_size=199),
        verbose=0,
        return_dict=True,
    )
    predictions = model(split.x)["body_mass_g"].numpy()
    errors = (predictions - split.y["body_mass_g"]).ravel() ** 2
    weights = split.weights["body_mass_g"]
    assert logs["loss"] == pytest.approx((weights * errors).sum() / 199, rel=1e-4)
    assert logs["loss"] != pytest.approx((weights * errors).sum() / 50, rel=1e-2)


def test_a_batch_without_labels_for_a_task_gives_finite_losses(penguins):
    split = penguins.train.with_missing_labels("body_mass_g", 0, seed=0)
    mtl.set_seed(0)
    model = mtl.models.build_shared_trunk(
        penguins.input_dim, penguins.tasks, hidden_units=(4,)
    )
    mtl.training.compile_for_tasks(model, penguins.tasks)
    history = model.fit(
        mtl.training.to_dataset(split, batch_size=32),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["body_mass_g_loss"] == [0.0]


def test_restart_trains_like_a_fresh_model(penguins):
    fresh, _ = _train_once(penguins, seed=5)
    mtl.set_seed(5)
    model = mtl.models.build_shared_trunk(
        penguins.input_dim, penguins.tasks, hidden_units=(16,)
    )
    mtl.training.compile_for_tasks(model, penguins.tasks, learning_rate=3e-3)
    restart = mtl.training.Restart(model)
    model.fit(penguins.train.x, penguins.train.y, epochs=2, verbose=0)
    assert model.optimizer.iterations.numpy() > 0
    restart()
    assert model.optimizer.iterations.numpy() == 0
    dataset = mtl.training.to_dataset(penguins.train, shuffle=True, seed=5)
    model.fit(dataset, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_restart_needs_a_compiled_model(penguins):
    model = mtl.models.build_shared_trunk(penguins.input_dim, penguins.tasks)
    with pytest.raises(ValueError, match="model must be a compiled keras.Model"):
        mtl.training.Restart(model)


def _draws():
    # One draw from every generator set_seed seeds: Python, NumPy, Keras's global seed (a fresh
    # layer's initial weights, a seedless Keras draw) and TensorFlow's generator of op seeds.
    import random

    from tensorflow.python.framework import random_seed

    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    return (
        random.random(),
        np.random.rand(),  # noqa: NPY002 (global state on purpose)
        keras.random.uniform((2,), seed=None).numpy().tolist(),
        layer.kernel.numpy().tolist(),
        random_seed.get_seed(None),  # (global seed, next op seed)
    )


def test_reseed_leaves_the_state_set_seed_leaves():
    from mtl_tutorial.training import _reseed

    for seed in (3, 11):
        mtl.set_seed(7)
        _draws()  # move every generator on, so that the next call has something to reset
        mtl.set_seed(seed)
        expected = _draws()
        _draws()
        _reseed(seed)
        assert _draws() == expected
    mtl.set_seed(3)
    assert _draws() != expected  # the draws do depend on the seed


def test_reseed_falls_back_to_set_seed_without_the_private_attributes(monkeypatch):
    from tensorflow.python.eager import context

    from mtl_tutorial import training

    calls = []
    monkeypatch.setattr(training, "set_seed", lambda seed: calls.append(seed))
    monkeypatch.setattr(context, "context", lambda: object())  # no _seed, no _rng
    training._reseed(5)
    assert calls == [5]


def test_train_over_seeds_gives_the_numbers_set_seed_gives(monkeypatch):
    # train_over_seeds reseeds with _reseed (no kernel-cache clearing); with set_seed instead it must
    # give the very same numbers, on a model that draws random numbers in training (modality dropout).
    from mtl_tutorial import training

    def run():
        return mtl.experiments.train_over_seeds(
            {
                "fused": lambda d: mtl.models.build_fusion_model(
                    d.input_shapes, d.tasks, "late", modality_dropout=0.5
                )
            },
            lambda seed: mtl.data.load_av_digits(
                ("digit", "volume"), seed=seed, copies=1
            ),
            [0, 1],
            epochs=2,
            batch_size=64,
        )

    fast = run()
    monkeypatch.setattr(training, "_reseed", training.set_seed)
    slow = run()
    assert fast["value"].tolist() == slow["value"].tolist()
    assert fast["value"].nunique() > 4  # real, different scores
