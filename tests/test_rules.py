"""The weighting and gradient rules: hand-computable cases, then the training path that runs them."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_tutorial as mtl
from mtl_tutorial import rules
from mtl_tutorial.multitask_model import MultiTaskModel
from mtl_tutorial.rules import RULES


def _rule(rule, names=("a", "b")):
    rule.setup(names)
    return rule


# --- Each rule on numbers small enough to check by hand ---------------------------------------


def test_equal_and_static_weight_the_losses():
    losses = tf.constant([2.0, 3.0])
    assert float(_rule(rules.Equal()).total(losses)) == pytest.approx(5.0)
    static = _rule(rules.Static({"b": 0.5, "a": 2.0}))
    np.testing.assert_allclose(
        static.task_weights(), [2.0, 0.5]
    )  # in the model's task order
    assert float(static.total(losses)) == pytest.approx(2.0 * 2.0 + 0.5 * 3.0)


def test_uncertainty_loss_for_given_log_variances():
    rule = _rule(rules.Uncertainty())
    rule.log_variances.assign([0.0, np.log(4.0)])
    losses = tf.constant([2.0, 8.0])
    # 0.5 * exp(-s) * L + 0.5 * s: 0.5 * 2 + 0 and 0.5 * 8 / 4 + 0.5 * log 4.
    expected = 1.0 + 1.0 + 0.5 * np.log(4.0)
    assert float(rule.total(losses)) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(rule.task_weights(), [0.5, 0.125], rtol=1e-6)


def test_uncertainty_log_variance_settles_at_log_of_the_loss():
    # For a fixed loss L, 0.5 exp(-s) L + 0.5 s is smallest at s = log L.
    rule = _rule(rules.Uncertainty(), names=("a",))
    losses = tf.constant([3.0])
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    for _ in range(200):
        with tf.GradientTape() as tape:
            total = rule.total(losses)
        optimizer.apply(
            tape.gradient(total, rule.trainable_variables), rule.trainable_variables
        )
    assert float(rule.log_variances[0]) == pytest.approx(np.log(3.0), abs=1e-3)


def test_dwa_weights_for_a_given_loss_history():
    rule = _rule(rules.DWA(temperature=2.0))
    rule.end_epoch(np.array([1.0, 1.0]))
    np.testing.assert_allclose(
        rule.task_weights(), [1.0, 1.0]
    )  # equal for the first two epochs
    rule.end_epoch(np.array([0.5, 0.9]))
    # r = (0.5, 0.9); weights = 2 * softmax(r / 2).
    e = np.exp(np.array([0.25, 0.45]))
    np.testing.assert_allclose(rule.task_weights(), 2 * e / e.sum(), rtol=1e-6)
    rule.end_epoch(
        np.array([0.5, 0.45])
    )  # now r = (1.0, 0.5): task a stalled, so it gains weight
    weights = np.asarray(rule.task_weights())
    assert weights[0] > weights[1] and weights.sum() == pytest.approx(2.0)


def _numpy_adam_on_logits(gradient_of, num_logits, steps, learning_rate):
    """The logits after ``steps`` Adam steps from zeros (betas 0.9, 0.999, epsilon 1e-8, as PyTorch's and
    Keras's defaults), with ``gradient_of(xi)`` the gradient at ``xi``: the reference update, in NumPy."""
    xi, m, v = np.zeros(num_logits), np.zeros(num_logits), np.zeros(num_logits)
    for t in range(1, steps + 1):
        grad = gradient_of(xi)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        xi = xi - learning_rate * (m / (1 - 0.9**t)) / (
            np.sqrt(v / (1 - 0.999**t)) + 1e-8
        )
    return xi


def _reference_gradnorm_logits(gradients, losses, steps, alpha, learning_rate):
    """GradNorm's logits after ``steps`` identical steps, written out in NumPy: the gradient of
    ``sum_k |w_k ||g_k|| - mean(w ||g||) r_k^alpha|`` (target held constant) through ``w = K softmax(xi)``,
    then Adam on ``xi``."""
    k = len(losses)
    norms = np.linalg.norm(gradients, axis=1)
    rate = (losses / losses) / np.mean(losses / losses)  # first losses = these losses

    def gradient_of(xi):
        z = np.exp(xi) / np.exp(xi).sum()
        w = k * z
        target = np.mean(w * norms) * rate**alpha
        by_weight = np.sign(w * norms - target) * norms
        return k * z * (by_weight - z @ by_weight)

    return _numpy_adam_on_logits(gradient_of, k, steps, learning_rate)


def test_gradnorm_step_follows_the_reference_and_keeps_the_sum():
    rule = _rule(rules.GradNorm(alpha=1.5, learning_rate=0.1))
    # Equal losses (equal training rates) but task a's gradient is 3 times larger: a must lose weight.
    gradients = np.array([[3.0, 0.0], [0.0, 1.0]])
    losses = np.array([1.0, 1.0])
    for step in range(3):
        update = rule.combine(
            tf.constant(gradients, "float32"),
            tf.constant(losses, "float32"),
            step=tf.constant(step),
        )
    np.testing.assert_allclose(
        rule.logits.numpy(),
        _reference_gradnorm_logits(gradients, losses, 3, 1.5, 0.1),
        rtol=1e-5,
    )
    weights = np.asarray(rule.task_weights())
    assert weights[0] < 1.0 < weights[1]
    assert weights.sum() == pytest.approx(2.0, rel=1e-6)
    # The update uses the weights before the last step (Adam's first step moves each logit by lr).
    np.testing.assert_allclose(rule.first_losses, [1.0, 1.0])
    assert np.all(np.isfinite(update.numpy()))


def test_gradnorm_step_does_not_grow_with_the_gradients_units():
    # A gradient 1,000 times larger moves the logits by the same amount: Adam's step is scale-free.
    small, large = (
        _rule(rules.GradNorm(learning_rate=0.05)),
        _rule(rules.GradNorm(learning_rate=0.05)),
    )
    gradients = np.array([[3.0, 0.0], [0.0, 1.0]], "float32")
    for rule, scale in ((small, 1.0), (large, 1000.0)):
        rule.combine(
            tf.constant(scale * gradients), tf.constant([1.0, 1.0]), tf.constant(0)
        )
    np.testing.assert_allclose(small.logits.numpy(), large.logits.numpy(), rtol=1e-4)
    np.testing.assert_allclose(np.abs(small.logits.numpy()), 0.05, rtol=1e-3)


def test_gradnorm_gives_a_slower_task_more_weight():
    rule = _rule(rules.GradNorm(alpha=1.0, learning_rate=0.1))
    rule.first_losses.assign([1.0, 1.0])
    gradients = tf.constant([[1.0, 0.0], [0.0, 1.0]])  # equal gradient norms
    rule.combine(
        gradients, tf.constant([0.9, 0.3]), step=tf.constant(1)
    )  # task a trains slower
    weights = np.asarray(rule.task_weights())
    assert weights[0] > weights[1]


def _weights_at_every_step(rule, data, epochs=3):
    """The rule's weights after every training step of a small shared-bottom model, (steps, K)."""
    mtl.set_seed(0)
    network = mtl.models.build_shared_bottom(data.input_dim, data.tasks, 8)
    model = MultiTaskModel(network, data.tasks, rule=rule)
    mtl.training.compile_for_tasks(model, data.tasks, learning_rate=1e-2)
    seen = []
    keep = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(
            model.rule.task_weights().numpy().copy()
        )
    )
    history = model.fit(
        data.train.x,
        data.train.y,
        epochs=epochs,
        batch_size=64,
        verbose=0,
        callbacks=[keep],
    )
    return np.array(seen), history.history


def test_gradnorm_weights_do_not_oscillate_when_the_label_scales_differ():
    # Labels 8 times larger on one task: its gradient norm is ~8 times the others'. A step in absolute
    # gradient units (the book's first GradNorm) threw that task's weight between a floor and several
    # times its mean on alternate steps; with Adam on the logits, each step moves every weight a little.
    data = mtl.data.make_correlated_tasks(
        1200,
        0.5,
        num_tasks=3,
        input_dim=6,
        label_scales=np.array([1.0, 8.0, 1.0]),
        standardize_targets=False,
        seed=0,
    )
    weights, history = _weights_at_every_step(rules.GradNorm(), data)
    assert weights.min() > 0 and np.allclose(weights.sum(axis=1), 3.0, rtol=1e-5)
    change = np.abs(np.diff(weights, axis=0)) / weights[:-1]
    assert change.max() < 0.2, f"a weight moved by {change.max():.0%} in one step"
    # Direction reversals of the step happen, but not on (almost) every step as a bang-bang rule's do.
    signs = np.sign(np.diff(weights, axis=0))
    reversals = np.mean(signs[1:] * signs[:-1] < 0, axis=0)
    assert reversals.max() < 0.5, f"reversal rate per task: {reversals}"
    # The within-epoch spread that the model logs is the spread of these per-step weights.
    steps = len(weights) // 3
    last = weights[-steps:]
    np.testing.assert_allclose(
        [history[f"weight_sd_{t.name}"][-1] for t in data.tasks],
        last.std(axis=0),
        rtol=1e-2,  # float32 sums of squares over the epoch
        atol=1e-6,
    )


def test_random_weights_draw_fresh_weights_that_sum_to_one_and_repeat():
    data = mtl.data.make_correlated_tasks(600, 0.5, input_dim=6, seed=0)
    first, _ = _weights_at_every_step(rules.RandomWeights(seed=3), data, epochs=1)
    again, _ = _weights_at_every_step(rules.RandomWeights(seed=3), data, epochs=1)
    other, _ = _weights_at_every_step(rules.RandomWeights(seed=4), data, epochs=1)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert len(np.unique(first[:, 0])) == len(first)  # a new draw at every step
    # softmax of N(0, 1) draws: for two tasks, the first weight's mean is 1/2 and it spans (0, 1) widely.
    assert 0.3 < first[:, 0].mean() < 0.7 and first[:, 0].std() > 0.1


def test_pcgrad_projects_conflicting_gradients():
    g1, g2 = np.array([1.0, 1.0]), np.array([-1.0, 0.0])  # g1 . g2 = -1 < 0
    projected = np.asarray(
        rules.PCGrad.project(tf.constant([g1, g2]), order=[[0, 1], [1, 0]])
    )
    # g1 - (g1.g2 / |g2|^2) g2 = (1, 1) - (-1)(-1, 0) = (0, 1); g2 - (g2.g1 / |g1|^2) g1 = (-0.5, 0.5).
    np.testing.assert_allclose(projected, [[0.0, 1.0], [-0.5, 0.5]], atol=1e-7)
    assert abs(projected[0] @ g2) < 1e-6 and abs(projected[1] @ g1) < 1e-6


def test_pcgrad_leaves_agreeing_gradients_alone():
    gradients = tf.constant([[1.0, 2.0], [3.0, -1.0]])  # dot product 1 > 0
    rule = _rule(rules.PCGrad())
    update = rule.combine(gradients, tf.constant([1.0, 1.0]), step=tf.constant(0))
    np.testing.assert_allclose(update, [4.0, 1.0])
    assert float(rule.conflict_rate(gradients)) == 0.0
    assert float(rule.conflict_rate(tf.constant([[1.0, 0.0], [-1.0, 0.0]]))) == 1.0


# --- Every registered rule: the generic contract -------------------------------------------------
#
# These tests walk rules.RULES, so a new rule decorated with @rules.register is checked by them with no
# change here; only its own hand-computable test is to write.


def _rule_classes_defined_in_the_module():
    return {
        name: obj
        for name, obj in vars(rules).items()
        if isinstance(obj, type)
        and issubclass(obj, rules.Rule)
        and obj is not rules.Rule
        and obj.__module__ == rules.__name__
    }


def test_every_rule_of_the_module_is_registered():
    assert RULES == _rule_classes_defined_in_the_module(), (
        "decorate every rule of mtl_tutorial.rules with @register"
    )
    assert set(RULES) <= set(rules.__all__), (
        "list every rule in mtl_tutorial.rules.__all__"
    )
    for name, cls in RULES.items():
        assert keras.saving.get_registered_name(cls) == f"mtl_tutorial>{name}"
        assert isinstance(cls.uses_task_gradients, bool)


def test_register_refuses_a_class_that_is_not_a_rule():
    with pytest.raises(ValueError, match="cls must be a subclass of .*Rule"):
        rules.register(keras.layers.Layer)


@pytest.mark.parametrize("rule_name", list(RULES))
def test_every_rule_has_one_weight_per_task_and_round_trips_its_config(rule_name):
    cls = RULES[rule_name]
    for names in (("a",), ("a", "b"), ("a", "b", "c")):
        rule = cls.example(names)
        assert type(rule) is cls
        rule.setup(names)
        weights = np.asarray(rule.task_weights())
        assert weights.shape == (len(names),)
        assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
        losses = tf.constant(np.linspace(0.5, 2.0, len(names)), "float32")
        assert np.isfinite(float(rule.total(losses)))
        copy = cls.from_config(rule.get_config())
        assert copy.get_config() == rule.get_config()


# --- The training path --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def correlated():
    return mtl.data.make_correlated_tasks(600, 0.5, input_dim=6, seed=0)


def _example(rule_name, data):
    return RULES[rule_name].example([task.name for task in data.tasks])


def _model(data, rule, seed=0):
    mtl.set_seed(seed)
    network = mtl.models.build_shared_bottom(
        data.input_dim, data.tasks, 8, tower_units=4
    )
    model = MultiTaskModel(network, data.tasks, rule)
    return mtl.training.compile_for_tasks(model, data.tasks, learning_rate=1e-2)


@pytest.mark.parametrize("rule_name", list(RULES))
def test_every_rule_trains_and_logs(rule_name, correlated):
    model = _model(correlated, _example(rule_name, correlated))
    dataset = mtl.training.to_dataset(
        correlated.train, batch_size=64, shuffle=True, seed=0
    )
    seen = []
    history = model.fit(
        dataset,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=(correlated.val.x, correlated.val.y),
        callbacks=[
            keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))
        ],
    )
    logs = history.history
    assert seen == [0, 1, 2]
    for name in ("task_1", "task_2"):
        assert {
            f"{name}_loss",
            f"{name}_mae",
            f"weight_{name}",
            f"val_{name}_loss",
        } <= set(logs)
        assert f"val_weight_{name}" not in logs
        assert len(logs[f"weight_{name}"]) == 3
    assert set(model.rule.extra_log_names()) <= set(logs)
    assert logs["task_1_loss"][-1] < logs["task_1_loss"][0]
    evaluated = model.evaluate(
        correlated.val.x, correlated.val.y, verbose=0, return_dict=True
    )
    assert evaluated["task_1_loss"] == pytest.approx(
        logs["val_task_1_loss"][-1], rel=1e-5
    )


def test_learned_weights_are_logged_and_saved(correlated):
    model = _model(correlated, rules.Uncertainty())
    history = model.fit(correlated.train.x, correlated.train.y, epochs=2, verbose=0)
    assert {"log_variance_task_1", "log_variance_task_2"} <= set(history.history)
    assert float(model.rule.log_variances[0]) != 0.0  # learned, not left at the start


@pytest.mark.parametrize("make_rule", [rules.Equal, rules.PCGrad])
def test_one_task_reduces_to_the_plain_model(make_rule, correlated):
    task = correlated.tasks[0]

    def trained(wrap):
        mtl.set_seed(1)
        network = mtl.models.build_shared_bottom(
            correlated.input_dim, [task], 8, tower_units=4
        )
        model = MultiTaskModel(network, [task], make_rule()) if wrap else network
        mtl.training.compile_for_tasks(model, [task], learning_rate=1e-2)
        dataset = mtl.training.to_dataset(
            correlated.train, [task], batch_size=64, shuffle=True, seed=1
        )
        model.fit(dataset, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    for a, b in zip(trained(wrap=False), trained(wrap=True), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rule_name", list(RULES))
def test_a_batch_without_labels_for_a_task_gives_finite_losses(rule_name, correlated):
    model = _model(correlated, _example(rule_name, correlated))
    x = correlated.train.x[:32]
    y = {name: values[:32] for name, values in correlated.train.y.items()}
    weights = {"task_1": np.ones(32, "float32"), "task_2": np.zeros(32, "float32")}
    for _ in range(3):  # a few steps, so that GradNorm's and DWA's state is used too
        logs = model.train_on_batch(x, y, sample_weight=weights, return_dict=True)
    assert logs["task_2_loss"] == 0.0
    assert all(np.isfinite(value) for value in logs.values())
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_sample_weights_mask_a_task_in_fit(correlated):
    labelled = correlated.train.with_missing_labels("task_2", 100, seed=0)
    model = _model(correlated, rules.PCGrad())
    dataset = mtl.training.to_dataset(labelled, batch_size=64, shuffle=True, seed=0)
    history = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    assert all(np.isfinite(history.history["task_2_loss"]))


def test_rules_and_model_refuse_bad_arguments(correlated):
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        rules.DWA(temperature=0)
    with pytest.raises(ValueError, match="alpha must be a number >= 0"):
        rules.GradNorm(alpha=-1)
    with pytest.raises(
        ValueError, match="learning_rate must be a number.*got learning_rate='fast'"
    ):
        rules.GradNorm(learning_rate="fast")
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        rules.GradNorm(learning_rate=0)
    with pytest.raises(
        ValueError, match="seed must be an integer, e.g. 0; got seed=1.5"
    ):
        rules.PCGrad(seed=1.5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        rules.PCGrad(seed=-1)
    with pytest.raises(ValueError, match=r"weights\['a'\] must be a positive number"):
        rules.Static({"a": -1.0})
    with pytest.raises(
        ValueError, match=r"weights must have one entry per task \['a', 'b'\]"
    ):
        rules.Static({"a": 1.0}).setup(["a", "b"])
    network = mtl.models.build_shared_bottom(correlated.input_dim, correlated.tasks, 8)
    with pytest.raises(ValueError, match="rule must be an mtl_tutorial.rules.Rule"):
        MultiTaskModel(network, correlated.tasks, rule="pcgrad")
    with pytest.raises(
        ValueError, match="network's outputs .* must be named after the tasks"
    ):
        MultiTaskModel(network, correlated.tasks[:1])
    model = MultiTaskModel(network, correlated.tasks)
    with pytest.raises(
        ValueError, match="MultiTaskModel takes no loss or loss_weights"
    ):
        model.compile(loss="mse")
    with pytest.raises(ValueError, match="rule=mtl.rules.Static"):
        mtl.training.compile_for_tasks(
            model, correlated.tasks, loss_weights={"task_1": 1, "task_2": 2}
        )


def test_task_gradient_cosines_on_the_shared_parameters(correlated):
    model = _model(correlated, rules.Equal())
    x, y = correlated.train.x[:64], {k: v[:64] for k, v in correlated.train.y.items()}
    cosines = model.task_gradient_cosines(x, y)
    assert cosines.shape == (2, 2)
    # The shared parameters are the shared bottom's kernel (6 x 8) and bias (8).
    gradients = model.task_gradients(x, y)
    assert gradients.shape == (2, 6 * 8 + 8)
    unit = gradients / np.linalg.norm(gradients, axis=1, keepdims=True)
    np.testing.assert_allclose(cosines, unit @ unit.T, rtol=1e-5)
    np.testing.assert_allclose(np.diag(cosines), 1.0, rtol=1e-5)
    np.testing.assert_allclose(cosines, cosines.T)
    # Identical labels for both tasks and identical towers give identical gradients: cosine 1.
    same = {"task_1": y["task_1"], "task_2": y["task_1"]}
    tower_1 = model.network.get_layer("task_1_tower").get_weights()
    model.network.get_layer("task_2_tower").set_weights(tower_1)
    head_1 = model.network.get_layer("task_1").get_weights()
    model.network.get_layer("task_2").set_weights(head_1)
    assert model.task_gradient_cosines(x, same)[0, 1] == pytest.approx(1.0, abs=1e-5)
    # Large opposite labels: the errors, and so the gradients, point opposite ways.
    opposite = {"task_1": 100 * y["task_1"], "task_2": -100 * y["task_1"]}
    assert model.task_gradient_cosines(x, opposite)[0, 1] < -0.9


def test_a_new_rule_is_one_small_class(correlated):
    class FirstTaskOnly(rules.Rule):
        def task_weights(self):
            return tf.one_hot(0, self.num_tasks)

    model = _model(correlated, FirstTaskOnly())
    tower_2 = [
        w.numpy().copy() for w in model.network.get_layer("task_2_tower").weights
    ]
    model.fit(correlated.train.x, correlated.train.y, epochs=1, verbose=0)
    for before, variable in zip(
        tower_2, model.network.get_layer("task_2_tower").weights, strict=True
    ):
        np.testing.assert_array_equal(
            before, variable.numpy()
        )  # task 2 gets no gradient


def test_trains_under_a_distribution_strategy_with_two_replicas(on_two_cpus):
    # Two logical CPUs must be configured before TensorFlow starts, so this runs in its own process.
    on_two_cpus(
        """
        import numpy as np, tensorflow as tf
        import mtl_tutorial as mtl
        from mtl_tutorial import rules
        data = mtl.data.make_correlated_tasks(512, 0.5, input_dim=6, seed=0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        for cls in rules.RULES.values():
            rule = cls.example([task.name for task in data.tasks])
            mtl.set_seed(0)
            with strategy.scope():
                network = mtl.models.build_shared_bottom(6, data.tasks, 8)
                model = mtl.multitask_model.MultiTaskModel(network, data.tasks, rule)
                mtl.training.compile_for_tasks(model, data.tasks, learning_rate=1e-2)
            dataset = mtl.training.to_dataset(data.train, batch_size=64)
            history = model.fit(dataset, epochs=3, shuffle=False, verbose=0)
            losses = history.history["loss"]
            assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
        print("ok")
        """,
        timeout=300,
    )


def test_two_replicas_take_the_same_step_and_log_the_same_losses_as_one(on_two_cpus):
    # Keras's losses already divide by the number of replicas under tf.distribute; a model that
    # divided again would take half a step on two replicas (and log half its losses). One SGD step
    # on the same batch must move the weights as far on two replicas as on one, for a rule that
    # weights losses (Static) and one whose state reads the losses themselves (Uncertainty).
    on_two_cpus(
        """
        import numpy as np, tensorflow as tf, keras
        import mtl_tutorial as mtl
        from mtl_tutorial import rules
        data = mtl.data.make_correlated_tasks(128, 0.5, input_dim=6, seed=0)
        x, y = data.train.x[:64], {k: v[:64] for k, v in data.train.y.items()}
        names = [task.name for task in data.tasks]
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        for cls in (rules.Static, rules.Uncertainty):
            def make():
                network = mtl.models.build_shared_bottom(6, data.tasks, 8)
                model = mtl.multitask_model.MultiTaskModel(network, data.tasks, cls.example(names))
                model.compile(optimizer=keras.optimizers.SGD(0.1))
                return model
            mtl.set_seed(0)
            one = make()
            with strategy.scope():
                two = make()
            start = one.get_weights()
            two.set_weights(start)
            logs = [
                m.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0).history
                for m in (one, two)
            ]
            moved = [
                np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(m.get_weights(), start)))
                for m in (one, two)
            ]
            assert moved[0] > 0, cls
            np.testing.assert_allclose(moved[1] / moved[0], 1.0, rtol=1e-4, err_msg=str(cls))
            for name in ["loss", *(f"{n}_loss" for n in names)]:
                np.testing.assert_allclose(logs[1][name], logs[0][name], rtol=1e-4, err_msg=name)
        print("ok")
        """,
        timeout=300,
    )


@pytest.mark.parametrize("rule_name", list(RULES))
def test_restart_also_resets_the_rules_state(rule_name, correlated):
    model = _model(correlated, _example(rule_name, correlated))
    start = [w.numpy().copy() for w in model.rule.weights]
    restart = mtl.training.Restart(model)
    model.fit(correlated.train.x, correlated.train.y, epochs=3, verbose=0)
    if start:  # a rule with state (Uncertainty, DWA, GradNorm) changes it in training
        assert any(
            not np.array_equal(a, w.numpy())
            for a, w in zip(start, model.rule.weights, strict=True)
        )
    restart()
    for a, w in zip(start, model.rule.weights, strict=True):
        np.testing.assert_array_equal(a, w.numpy())


def _reference_famo_logits(before, after, steps, learning_rate=0.025, decay=0.01):
    """The logits after ``steps`` updates, as the reference implementation (PyTorch Adam) computes them."""

    def gradient_of(xi):
        z = np.exp(xi) / np.exp(xi).sum()
        delta = np.log(before + 1e-8) - np.log(after + 1e-8)
        return z * (delta - z @ delta) + decay * xi

    return _numpy_adam_on_logits(gradient_of, len(before), steps, learning_rate)


def test_famo_follows_the_reference_update_and_favours_the_slower_task():
    rule = _rule(rules.FAMO())
    before, after = (
        np.array([1.0, 2.0]),
        np.array([0.5, 1.9]),
    )  # task 1's loss halves, task 2's barely moves
    for _ in range(3):
        rule.after_update(tf.constant(before, "float32"), tf.constant(after, "float32"))
    np.testing.assert_allclose(
        rule.logits.numpy(), _reference_famo_logits(before, after, 3), rtol=1e-4
    )
    weights = rule.task_weights().numpy()
    assert (
        weights[1] > 0.5 > weights[0]
    )  # the task whose loss fell less now counts more
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-6)


def test_famo_gradient_divides_each_task_by_its_loss():
    rule = _rule(rules.FAMO())
    rule.logits.assign([0.3, -0.3])
    losses = tf.Variable([0.5, 4.0])
    with tf.GradientTape() as tape:
        total = rule.total(losses)
    z = np.exp([0.3, -0.3]) / np.exp([0.3, -0.3]).sum()
    c = (z / np.array([0.5, 4.0])).sum()
    np.testing.assert_allclose(
        tape.gradient(total, losses).numpy(), z / (c * np.array([0.5, 4.0])), rtol=1e-5
    )
