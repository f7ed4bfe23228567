"""Rules that turn the tasks' losses into one training update.

A rule is the pluggable part of :class:`~mtl_tutorial.multitask_model.MultiTaskModel`: the model computes
one loss per task, and the rule decides what to do with them. Loss-based rules weight the losses and let
TensorFlow differentiate the weighted sum; gradient-based rules (``uses_task_gradients = True``) receive
each task's gradient on the shared parameters and combine them themselves. Taught in
:doc:`/book/part1_multitask/05_learned_weights` and :doc:`/book/part1_multitask/06_conflicting_gradients`.

Every rule is a Keras layer, so its state (learned log-variances, current weights, first losses) is saved
and loaded with the model. A new rule is one small subclass of :class:`Rule` that overrides
``task_weights`` (and ``total`` or ``combine`` if weighting is not enough). The package's own rules are
decorated with :func:`register`, which lists them in ``RULES``, the registry that the package's tests and
benchmark walk, and registers them with Keras so that saved models load them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from mtl_tutorial.validation import check_number, check_seed, check_types

__all__ = [
    "DWA",
    "FAMO",
    "RULES",
    "Equal",
    "GradNorm",
    "PCGrad",
    "RandomWeights",
    "Rule",
    "Static",
    "Uncertainty",
    "register",
]


class Rule(keras.layers.Layer):
    """Base class: weights every task's loss by 1 and sums.

    Subclasses override some of these, each called inside the compiled training step:

    - ``task_weights()``: the current weight of each task's loss, a tensor of shape ``(K,)``; logged by
      the model as ``weight_<task>`` every epoch.
    - ``total(losses)``: the loss to minimise, from the ``(K,)`` tensor of task losses; by default
      ``sum_k task_weights()[k] * losses[k]``.
    - ``begin_step(step)``: called at the start of every training step with the optimizer's step number,
      before the losses are computed (a rule that draws new weights each step draws them here).
    - ``combine(gradients, losses, step)``: for rules with ``uses_task_gradients = True``, the update of the
      shared parameters from the ``(K, P)`` matrix of the tasks' gradients on them (flattened); by default
      the weighted sum of the rows. Parameters that only one task reaches get that task's weighted gradient.
    - ``after_update(losses, losses_after)``: for rules with ``uses_losses_after_update = True``, called
      after every update with the batch's losses before it and after it (the model runs the batch through
      once more: one extra forward pass, whatever the number of tasks).
    - ``end_epoch(losses)``: called after every epoch of ``fit`` with the epoch's mean training loss per
      task, as a NumPy array.
    - ``extra_logs(losses, gradients)``: more numbers to log, as a dict of scalar tensors whose names
      ``extra_log_names()`` gives after ``setup``; ``gradients`` is ``None`` for loss-based rules.

    ``setup(task_names)`` is called once by the model; rules create their variables there.
    ``example(task_names)`` builds a working instance without knowing the rule's arguments.
    """

    uses_task_gradients: bool = False
    uses_losses_after_update: bool = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.task_names: tuple[str, ...] = ()

    @classmethod
    def example(cls, task_names: Sequence[str]) -> Rule:
        """An instance for the tasks ``task_names``, for tests and benchmarks: ``cls()`` by default.

        A rule whose arguments have no defaults overrides this with typical arguments.
        """
        del task_names
        return cls()

    def setup(self, task_names: Sequence[str]) -> None:
        """Remember the tasks, in the model's order; subclasses create their variables here."""
        self.task_names = tuple(task_names)
        self.built = True

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    def task_weights(self):
        return ops.ones((self.num_tasks,))

    def begin_step(self, step) -> None:
        del step

    def total(self, losses):
        return ops.sum(self.task_weights() * losses)

    def combine(self, gradients, losses, step):
        del losses, step
        return ops.sum(ops.expand_dims(self.task_weights(), 1) * gradients, axis=0)

    def after_update(self, losses, losses_after) -> None:
        del losses, losses_after

    def end_epoch(self, losses: np.ndarray) -> None:
        del losses

    def extra_log_names(self) -> tuple[str, ...]:
        return ()

    def extra_logs(self, losses, gradients=None) -> dict:
        del losses, gradients
        return {}

    def call(self, losses):
        # A layer must be callable; calling a rule gives the total loss it would minimise.
        return self.total(losses)


#: The package's rules by class name, in the order they are defined. The tests, the benchmark and the API
#: checks walk this registry, which ``register`` fills.
RULES: dict[str, type[Rule]] = {}


@check_types
def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator for the package's rules: list ``cls`` in ``RULES`` and register it with Keras.

    Keras knows the rule as ``mtl_tutorial>ClassName``, so a saved model with it loads in safe mode. The
    package's tests, its benchmark and the API checks enumerate ``RULES``: a new rule decorated with
    ``register`` is covered by their generic checks with nothing else to change.

    Raises:
        ValueError: if ``cls`` is not a subclass of :class:`Rule`.
    """
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        raise ValueError(
            f"cls must be a subclass of mtl_tutorial.rules.Rule, e.g. Equal; got cls={cls!r}."
        )
    RULES[cls.__name__] = keras.saving.register_keras_serializable(
        package="mtl_tutorial"
    )(cls)
    return cls


@register
class Equal(Rule):
    """The plain sum of the tasks' losses: what ``compile`` does without ``loss_weights``."""


@register
class Static(Rule):
    """Fixed weights, one per task: ``sum_k w_k L_k``, like ``compile(loss_weights=...)``.

    Args:
        weights: Weight of each task's loss, keyed by task name.
    """

    @check_types
    def __init__(self, weights: Mapping[str, float], **kwargs) -> None:
        super().__init__(**kwargs)
        if len(weights) == 0:
            raise ValueError(
                f"weights must map task names to numbers, e.g. {{'a': 1.0}}; got weights={weights!r}."
            )
        for name, value in weights.items():
            check_number(value, f"weights[{name!r}]", 1.0, low=0, low_open=True)
        self.weights_by_task = {
            str(name): float(value) for name, value in weights.items()
        }

    @classmethod
    def example(cls, task_names: Sequence[str]) -> Static:
        """Distinct weights ``2 / (1 + 3k)`` for the ``k``-th task: 2, 0.5, 0.29, 0.2, ..."""
        return cls({name: 2.0 / (1 + 3 * k) for k, name in enumerate(task_names)})

    def setup(self, task_names: Sequence[str]) -> None:
        super().setup(task_names)
        if sorted(self.weights_by_task) != sorted(self.task_names):
            raise ValueError(
                f"weights must have one entry per task {sorted(self.task_names)}; "
                f"got weights for {sorted(self.weights_by_task)}."
            )
        self._fixed = ops.convert_to_tensor(
            [self.weights_by_task[name] for name in self.task_names]
        )

    def task_weights(self):
        return self._fixed

    def get_config(self) -> dict:
        return {**super().get_config(), "weights": self.weights_by_task}


@register
class Uncertainty(Rule):
    """Uncertainty weighting (Kendall, Gal and Cipolla, 2018).

    Learns one log-variance ``s_k = log sigma_k^2`` per task and minimises
    ``sum_k 0.5 * exp(-s_k) * L_k + 0.5 * s_k``, the regression form of the paper, for every task. A task
    whose loss stays high (a noisy task) gets a large ``s_k`` and so a small weight ``0.5 * exp(-s_k)``;
    the ``0.5 * s_k`` term stops every ``s_k`` from growing without bound. For a mean squared error the
    optimal ``s_k`` is ``log L_k``.
    """

    def setup(self, task_names: Sequence[str]) -> None:
        super().setup(task_names)
        self.log_variances = self.add_weight(
            shape=(self.num_tasks,), initializer="zeros", name="log_variances"
        )

    def task_weights(self):
        return 0.5 * ops.exp(-self.log_variances)

    def total(self, losses):
        return ops.sum(self.task_weights() * losses + 0.5 * self.log_variances)

    def extra_log_names(self) -> tuple[str, ...]:
        return tuple(f"log_variance_{name}" for name in self.task_names)

    def extra_logs(self, losses, gradients=None) -> dict:
        del losses, gradients
        return {
            f"log_variance_{name}": self.log_variances[k]
            for k, name in enumerate(self.task_names)
        }


@register
class DWA(Rule):
    """Dynamic weight average (Liu, Johns and Davison, 2019).

    After each epoch ``t``, with ``r_k = L_k(t) / L_k(t-1)`` the ratio of task ``k``'s mean training loss
    over the last two epochs, the weights of the next epoch are ``K * softmax(r / temperature)``: a task
    whose loss fell less than the others' gets more weight. The weights are 1 for the first two epochs.

    Args:
        temperature: Softness of the softmax; large values give equal weights. The paper uses 2.
    """

    @check_types
    def __init__(self, temperature: float = 2.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.temperature = check_number(
            temperature, "temperature", 2.0, low=0, low_open=True
        )

    def setup(self, task_names: Sequence[str]) -> None:
        super().setup(task_names)
        self.current = self.add_weight(
            shape=(self.num_tasks,), initializer="ones", trainable=False, name="current"
        )
        # The mean losses of the last two epochs (row 0 the older) and how many epochs have been seen.
        self.history = self.add_weight(
            shape=(2, self.num_tasks),
            initializer="zeros",
            trainable=False,
            name="history",
        )
        self.epochs_seen = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="epochs_seen"
        )

    def task_weights(self):
        return ops.convert_to_tensor(self.current)

    @staticmethod
    def weights_from(
        previous: np.ndarray, last: np.ndarray, temperature: float
    ) -> np.ndarray:
        """``K * softmax((last / previous) / temperature)``: DWA's weights from two epochs' mean losses."""
        ratio = np.divide(
            last, previous, out=np.ones_like(last, dtype=float), where=previous > 0
        )
        scaled = ratio / temperature
        exp = np.exp(scaled - scaled.max())
        return len(last) * exp / exp.sum()

    def end_epoch(self, losses: np.ndarray) -> None:
        losses = np.asarray(losses, dtype="float32")
        history = np.stack([ops.convert_to_numpy(self.history)[1], losses])
        epochs_seen = float(ops.convert_to_numpy(self.epochs_seen)) + 1.0
        self.history.assign(history)
        self.epochs_seen.assign(epochs_seen)
        if epochs_seen >= 2:
            self.current.assign(
                self.weights_from(history[0], history[1], self.temperature).astype(
                    "float32"
                )
            )

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}


def _add_logits(rule: Rule) -> None:
    """Give ``rule`` one logit per task (zeros: equal weights) and the state of Adam's step on them."""

    def state(name, shape=(rule.num_tasks,)):
        return rule.add_weight(
            shape=shape,
            initializer="zeros",
            trainable=False,
            aggregation="mean",
            name=name,
        )

    rule.logits = state("logits")
    rule.first_moment = state("first_moment")
    rule.second_moment = state("second_moment")
    rule.updates = state("updates", shape=())


def _adam_step_on_logits(rule: Rule, gradient, learning_rate: float) -> None:
    """One Adam step (Kingma and Ba, 2015; default betas 0.9, 0.999 and epsilon 1e-8) on ``rule.logits``.

    Adam divides each step by a running estimate of the gradient's size, so the logits move by about
    ``learning_rate`` per step whatever the units of ``gradient``.
    """
    step = rule.updates + 1.0
    m = 0.9 * rule.first_moment + 0.1 * gradient
    v = 0.999 * rule.second_moment + 0.001 * ops.square(gradient)
    m_hat = m / (1.0 - ops.power(0.9, step))
    v_hat = v / (1.0 - ops.power(0.999, step))
    rule.logits.assign(rule.logits - learning_rate * m_hat / (ops.sqrt(v_hat) + 1e-8))
    rule.first_moment.assign(m)
    rule.second_moment.assign(v)
    rule.updates.assign(step)


def _softmax_weights(logits, num_tasks: int):
    if num_tasks == 1:  # softmax over one logit is 1 (Keras warns about it)
        return ops.ones((1,))
    return ops.softmax(ops.convert_to_tensor(logits))


@register
class GradNorm(Rule):
    """GradNorm (Chen et al., 2018): weights that balance the tasks' gradient norms and training rates.

    Each step, with ``g_k`` task ``k``'s gradient on the shared parameters, ``G_k = w_k * ||g_k||`` the
    norm of its weighted gradient, ``L~_k = L_k / L_k(0)`` its loss relative to its first loss and
    ``r_k = L~_k / mean(L~)`` its relative inverse training rate, GradNorm minimises
    ``L_grad = sum_k |G_k - mean(G) * r_k^alpha|`` over the weights, the target ``mean(G) * r_k^alpha`` held
    constant, as in the paper. A task that trains slower than the others (``r_k > 1``) is given a larger
    target and so a larger weight. The model is trained on ``sum_k w_k L_k`` with the weights before the
    step.

    The weights are optimised as the paper and its reference implementations do, by an optimiser of their
    own: here the weights are ``w = K * softmax(xi)``, so that they stay positive and sum to ``K`` (the
    paper renormalises them to sum to ``K`` after each step), and each step is one Adam step on the logits
    ``xi`` along the gradient of ``L_grad``. Adam's step is about ``learning_rate`` in logit units
    whatever the gradients' units, so a large gradient norm cannot throw the weights from one extreme to
    the other between steps. The paper measures ``G_k`` on the last shared layer's weights to save time;
    here it is measured on all shared parameters, whose per-task gradients the model computes anyway.

    Args:
        alpha: Strength of the pull towards equal training rates; the paper's experiments use 0.12 to 1.5.
        learning_rate: Adam's step size for the logits.
    """

    uses_task_gradients = True

    @check_types
    def __init__(
        self, alpha: float = 1.5, learning_rate: float = 0.025, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.alpha = check_number(alpha, "alpha", 1.5, low=0)
        self.learning_rate = check_number(
            learning_rate, "learning_rate", 0.025, low=0, low_open=True
        )

    def setup(self, task_names: Sequence[str]) -> None:
        super().setup(task_names)
        _add_logits(self)
        # Each task's first positive loss, L_k(0); zero until the task has been seen with labels.
        self.first_losses = self.add_weight(
            shape=(self.num_tasks,),
            initializer="zeros",
            trainable=False,
            aggregation="mean",
            name="first_losses",
        )

    def task_weights(self):
        return self.num_tasks * _softmax_weights(self.logits, self.num_tasks)

    def weight_gradient(self, weights, norms, losses, first_losses):
        """The gradient of ``L_grad`` with respect to the weights, target held constant (shape (K,)).

        ``d|w_k ||g_k|| - target_k| / dw_k = sign(w_k ||g_k|| - target_k) * ||g_k||``.
        """
        weighted_norms = weights * norms
        relative = tf.math.divide_no_nan(losses, first_losses)
        rate = tf.math.divide_no_nan(relative, ops.mean(relative))
        target = ops.mean(weighted_norms) * ops.power(rate, self.alpha)
        return ops.sign(weighted_norms - target) * norms

    def combine(self, gradients, losses, step):
        del step
        weights = self.task_weights()
        first = ops.convert_to_tensor(self.first_losses)
        first = ops.where((first > 0) | (losses <= 0), first, losses)
        self.first_losses.assign(first)
        update = ops.sum(ops.expand_dims(weights, 1) * gradients, axis=0)
        norms = ops.sqrt(ops.sum(ops.square(gradients), axis=1))
        by_weight = self.weight_gradient(weights, norms, losses, first)
        # Chain rule through w = K softmax(xi); the softmax's Jacobian is symmetric.
        z = weights / self.num_tasks
        by_logit = self.num_tasks * z * (by_weight - ops.sum(z * by_weight))
        _adam_step_on_logits(self, by_logit, self.learning_rate)
        return update

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "learning_rate": self.learning_rate,
        }


@register
class PCGrad(Rule):
    """Projecting conflicting gradients (Yu et al., 2020).

    For each task ``i``, visit the other tasks ``j`` in a random order; if ``g_i . g_j < 0`` (they
    conflict), remove from ``g_i`` its component along ``g_j``:
    ``g_i <- g_i - (g_i . g_j / ||g_j||^2) g_j``. The update is the sum of the projected gradients.
    Gradients that do not conflict are left as they are, so without conflicts PCGrad is the plain sum.
    Applied here to the shared parameters; task-specific ones get their task's gradient. Also logs
    ``conflict_rate``, the fraction of pairs of tasks whose gradients conflict.

    Args:
        seed: Seed of the random orders; with the training step it fixes them, so runs repeat.
    """

    uses_task_gradients = True

    @check_types
    def __init__(self, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = check_seed(seed)

    @staticmethod
    def project(gradients, order):
        """Projected gradients, shape (K, P), visiting the other tasks in ``order[i]`` for task ``i``."""
        num_tasks = gradients.shape[0]
        squared_norms = ops.sum(ops.square(gradients), axis=1)
        rows = []
        for i in range(num_tasks):
            g = gradients[i]
            for position in range(num_tasks):
                j = order[i][position]
                other = ops.take(gradients, j, axis=0)
                dot = ops.sum(g * other)
                conflict = ops.logical_and(dot < 0, ops.not_equal(j, i))
                scale = tf.math.divide_no_nan(dot, ops.take(squared_norms, j))
                g = ops.where(conflict, g - scale * other, g)
            rows.append(g)
        return ops.stack(rows)

    def combine(self, gradients, losses, step):
        del losses
        num_tasks = gradients.shape[0]
        # A fresh random order per task and step, fixed by (seed, step): stateless, so runs repeat.
        order = []
        for i in range(num_tasks):
            seed = tf.stack(
                [
                    tf.constant(self.seed, "int64"),
                    tf.cast(step, "int64") * num_tasks + i,
                ]
            )
            order.append(
                ops.argsort(tf.random.stateless_uniform((num_tasks,), seed=seed))
            )
        return ops.sum(self.project(gradients, order), axis=0)

    @staticmethod
    def conflict_rate(gradients):
        """Fraction of pairs of rows with a negative dot product (0 for one task)."""
        num_tasks = gradients.shape[0]
        if num_tasks < 2:
            return ops.convert_to_tensor(0.0)
        dots = ops.matmul(gradients, ops.transpose(gradients))
        upper = np.triu(np.ones((num_tasks, num_tasks), dtype=bool), k=1)
        pairs = num_tasks * (num_tasks - 1) / 2
        return ops.sum(ops.cast(ops.logical_and(dots < 0, upper), "float32")) / pairs

    def extra_log_names(self) -> tuple[str, ...]:
        return ("conflict_rate",)

    def extra_logs(self, losses, gradients=None) -> dict:
        del losses
        return {"conflict_rate": self.conflict_rate(gradients)}

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@register
class RandomWeights(Rule):
    """Random loss weighting, RLW (Lin et al., 2022): fresh random weights at every step.

    Each step draws ``lambda ~ N(0, I)``, one number per task, and trains on ``sum_k w_k L_k`` with
    ``w = softmax(lambda)`` (the weights sum to 1, as in the paper). No signal is read: the rule is the
    sanity baseline that a rule reading losses or gradients should beat. The draws are fixed by ``seed`` and
    the step number, so runs repeat.

    Args:
        seed: Seed of the draws.
    """

    @check_types
    def __init__(self, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = check_seed(seed)

    def setup(self, task_names: Sequence[str]) -> None:
        super().setup(task_names)
        self.current = self.add_weight(
            shape=(self.num_tasks,),
            initializer=keras.initializers.Constant(1.0 / self.num_tasks),
            trainable=False,
            aggregation="mean",
            name="current",
        )

    def task_weights(self):
        return ops.convert_to_tensor(self.current)

    def begin_step(self, step) -> None:
        seed = tf.stack([tf.constant(self.seed, "int64"), tf.cast(step, "int64")])
        drawn = tf.random.stateless_normal((self.num_tasks,), seed=seed)
        self.current.assign(_softmax_weights(drawn, self.num_tasks))

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@register
class FAMO(Rule):
    """FAMO, fast adaptive multitask optimisation (Liu et al., 2023): loss weights that balance how fast the
    tasks' losses fall, at the cost of one extra forward pass per step, whatever the number of tasks.

    The rule keeps one logit ``xi_k`` per task and the weights ``z = softmax(xi)`` (logged as
    ``weight_<task>``; they sum to 1). The model minimises ``sum_k z_k log(L_k + eps) / c`` with
    ``c = sum_k z_k / (L_k + eps)`` held constant, so its gradient is
    ``sum_k z_k grad L_k / (c (L_k + eps))``: each task's gradient divided by its loss, which makes the update
    blind to the losses' scales. After the update, the batch's losses are computed again, and ``delta_k =
    log(L_k + eps) - log(L'_k + eps)``, the fall of each log-loss, moves the logits: one Adam step (with
    ``weight_decay``, as PyTorch's Adam adds it to the gradient) on ``xi`` along ``J_softmax(xi)^T delta``, so
    a task whose loss fell less than the others' gains weight. As the paper's reference implementation, with
    ``eps = 1e-8`` and the minimum losses at 0.

    One difference from the reference implementation: it also clips the shared parameters' gradient to norm 1,
    which this rule cannot do (the model's optimizer owns the gradient); here the gradient is not clipped.

    Args:
        learning_rate: Adam's step size for the logits (the reference's ``w_lr``).
        decay: Weight decay of the logits (the reference's ``gamma``), pulling them towards equal weights.
    """

    uses_losses_after_update = True
    EPSILON = 1e-8

    @check_types
    def __init__(
        self, learning_rate: float = 0.025, decay: float = 0.01, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.learning_rate = check_number(
            learning_rate, "learning_rate", 0.025, low=0, low_open=True
        )
        self.decay = check_number(decay, "decay", 0.01, low=0)

    def setup(self, task_names: Sequence[str]) -> None:
        super().setup(task_names)
        _add_logits(self)

    def task_weights(self):
        return _softmax_weights(self.logits, self.num_tasks)

    def total(self, losses):
        z = self.task_weights()
        shifted = losses + self.EPSILON
        c = ops.stop_gradient(ops.sum(z / shifted))
        return ops.sum(z * ops.log(shifted)) / c

    def after_update(self, losses, losses_after) -> None:
        z = self.task_weights()
        delta = ops.log(losses + self.EPSILON) - ops.log(losses_after + self.EPSILON)
        # The softmax's Jacobian is symmetric: J^T delta = z * (delta - z . delta).
        gradient = z * (delta - ops.sum(z * delta)) + self.decay * self.logits
        _adam_step_on_logits(self, gradient, self.learning_rate)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "learning_rate": self.learning_rate,
            "decay": self.decay,
        }
