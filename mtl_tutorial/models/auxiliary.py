"""Auxiliary heads: each modality's own heads, trained beside the fused model.

A fused model can under-train the encoder of one modality (modality imbalance): measured by a linear probe,
the encoder learns less inside the fused model than alone. One hypothesis is that once the other modality
predicts the training labels well, the fused loss gives the slower encoder little error to learn from.
Wang, Tran and Feiszli ("What makes training multi-modal classification networks hard?", CVPR 2020)
motivate per-modality heads differently, by over-fitting, and weight their losses by Gradient-Blending. The
remedy built here gives every modality ``m`` its own tower and head per task on its encoder's features, and
trains them with the fused outputs, with weights ``w_m`` the caller chooses (uniform, or Gradient-Blending
weights computed as in the chapter)::

    loss = fused loss + sum_m w_m * (loss of modality m's auxiliary heads)

The auxiliary heads are only a training signal: the model's outputs are the tasks' fused outputs, so
compiling, fitting, :func:`~mtl_tutorial.metrics.evaluate_tasks` and
:func:`~mtl_tutorial.experiments.train_over_seeds` treat it as any other model;
:meth:`AuxiliaryHeadsModel.auxiliary_outputs` scores the heads. Build one with
``build_fusion_model(..., auxiliary_heads=w)``. Taught in
:doc:`/book/part2_multimodal/03_modality_imbalance`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from mtl_tutorial.validation import check_number, check_types

__all__ = ["AuxiliaryHeadsModel", "auxiliary_name"]


@check_types
def auxiliary_name(task: str, modality: str) -> str:
    """The name of the auxiliary output of ``task`` on ``modality``'s features: ``"<task>_aux_<modality>"``.

    It is also the name of that auxiliary head's layer; its tower is ``"<task>_tower_aux_<modality>"``.
    """
    return f"{task}_aux_{modality}"


def _present(inputs):
    """1.0 for each example whose input has a non-zero entry, 0.0 where it is all zeros: shape ``(batch,)``.

    The same test as :class:`~mtl_tutorial.models.ModalityPresence`, which marks a missing modality.
    """
    flat = ops.reshape(inputs, (ops.shape(inputs)[0], -1))
    return ops.cast(ops.any(ops.not_equal(flat, 0), axis=1), "float32")


@keras.saving.register_keras_serializable(package="mtl_tutorial")
class AuxiliaryHeadsModel(keras.Model):
    """A multi-modal model trained with auxiliary heads on each modality's features (Wang et al., 2020).

    Wraps a functional ``graph`` whose outputs are the tasks' fused outputs, named after the tasks, and, for
    each modality ``m`` of ``auxiliary_weights`` and each task, the auxiliary output
    ``"<task>_aux_<m>"`` (:func:`auxiliary_name`) of a head that reads that modality's encoder alone.
    The model's outputs, and ``call``'s, are the tasks' fused outputs only: it compiles with
    :func:`~mtl_tutorial.training.compile_for_tasks` and scores with
    :func:`~mtl_tutorial.metrics.evaluate_tasks` as a plain model does. Only the loss differs:
    :meth:`compute_loss` adds, for each modality ``m``, ``auxiliary_weights[m]`` times the compiled loss
    (the same per-task losses and ``loss_weights``) of the auxiliary outputs on ``m``. One forward pass
    computes both: ``call`` keeps the auxiliary outputs of the same step for :meth:`compute_loss`.

    ``loss`` in the logs (training and ``evaluate``) is that whole objective; ``<task>_loss`` and the
    metrics are the fused outputs' alone. The model is compiled as usual, with a loss per output: it is
    not a :class:`~mtl_tutorial.multitask_model.MultiTaskModel`, and weighting or gradient rules do not
    see the auxiliary losses (wrapped in one, its auxiliary heads would not be trained).

    With ``mask_missing``, an example whose input of modality ``m`` is all zeros (a missing modality, see
    ``allow_missing`` of :func:`~mtl_tutorial.models.build_fusion_model`) adds nothing to ``m``'s
    auxiliary loss, so that heads never learn from blank inputs. As with a sample weight of 0, such an
    example still counts in the batch's mean.

    Attributes:
        network: The fused model alone: a functional view of ``graph`` (the same layers) whose outputs
            are the tasks'.
        graph: The functional model with every output, the auxiliary ones included.

    Args:
        graph: A functional model with the outputs described above, and nothing else.
        task_names: The tasks, in order.
        auxiliary_weights: ``{modality: w_m}``, each ``w_m >= 0``: the modalities that have auxiliary
            heads and the weight of each one's loss. The keys must be names of ``graph``'s inputs.
        mask_missing: If true, an example without modality ``m`` (all zeros) adds no auxiliary loss on
            ``m``.

    Raises:
        ValueError: if a weight is negative, a modality is not an input of ``graph``, or ``graph``'s
            outputs are not the tasks' and the auxiliary ones.
    """

    @check_types
    def __init__(
        self,
        graph: keras.Model,
        task_names: Sequence[str],
        auxiliary_weights: Mapping[str, float],
        *,
        mask_missing: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        task_names = list(task_names)
        if not task_names or len(set(task_names)) != len(task_names):
            raise ValueError(
                f"task_names must be distinct names of tasks, at least one, e.g. ('digit',); "
                f"got task_names={task_names!r}."
            )
        inputs = graph.input
        modalities = list(inputs) if isinstance(inputs, Mapping) else []
        if not auxiliary_weights:
            raise ValueError(
                "auxiliary_weights must give at least one modality its weight, e.g. {'image': 1.0}; "
                f"got auxiliary_weights={dict(auxiliary_weights)!r}."
            )
        weights = {}
        for modality, weight in auxiliary_weights.items():
            if modality not in modalities:
                raise ValueError(
                    f"auxiliary_weights must be keyed by the model's modalities {modalities}; got the "
                    f"key {modality!r} in auxiliary_weights={dict(auxiliary_weights)!r}."
                )
            weights[modality] = check_number(
                weight, f"auxiliary_weights[{modality!r}]", 1.0, low=0
            )
        expected = task_names + [
            auxiliary_name(t, m) for m in weights for t in task_names
        ]
        if sorted(graph.output_names) != sorted(expected):
            raise ValueError(
                f"graph's outputs must be the tasks' and the auxiliary ones, {sorted(expected)}; "
                f"got {sorted(graph.output_names)}."
            )
        self.graph = graph
        self.network = keras.Model(
            inputs, {t: graph.output[t] for t in task_names}, name=f"{self.name}_fused"
        )
        self.task_names = tuple(task_names)
        self.auxiliary_weights = weights
        self.mask_missing = bool(mask_missing)
        # The auxiliary outputs of the latest call, for compute_loss in the same step, and how many times
        # compute_loss had to compute them again (traced steps count once): Python state, not tracked.
        object.__setattr__(self, "_latest", None)
        object.__setattr__(self, "_passes_again", 0)

    @property
    def output_names(self) -> list[str]:
        return list(self.task_names)

    @property
    def auxiliary_names(self) -> list[str]:
        """The auxiliary outputs' names, modality by modality and task by task."""
        return [
            auxiliary_name(t, m)
            for m in self.auxiliary_weights
            for t in self.task_names
        ]

    def call(self, inputs, training=None):
        outputs = self.graph(inputs, training=training)
        predictions = {t: outputs[t] for t in self.task_names}
        auxiliary = {a: outputs[a] for a in self.auxiliary_names}
        object.__setattr__(
            self, "_latest", (predictions[self.task_names[0]], auxiliary)
        )
        return predictions

    def _auxiliary_predictions(self, x, y_pred, training):
        """The auxiliary outputs that go with ``y_pred``: kept by ``call``, or computed again from ``x``."""
        latest = self._latest
        object.__setattr__(self, "_latest", None)
        if latest is not None and latest[0] is y_pred[self.task_names[0]]:
            return latest[1]
        # y_pred was not computed by the latest call (e.g. compute_loss called by hand): one more pass.
        object.__setattr__(self, "_passes_again", self._passes_again + 1)
        outputs = self.graph(x, training=training)
        return {a: outputs[a] for a in self.auxiliary_names}

    def auxiliary_loss(self, y, auxiliary, modality, sample_weight=None):
        """The compiled loss of ``modality``'s auxiliary outputs on a batch, before its weight ``w_m``.

        Args:
            y: The targets, ``{task: labels}`` (or one array for a single task).
            auxiliary: The auxiliary outputs, ``{"<task>_aux_<modality>": prediction}``, as
                :meth:`auxiliary_outputs` or the graph give them.
            modality: Whose auxiliary outputs.
            sample_weight: As given to ``fit``: ``None``, one weight per example, or ``{task: weights}``.
                With ``mask_missing``, examples without the modality are left out by the caller (see
                :meth:`compute_loss`).

        Returns:
            ``sum_k loss_weight_k * L_k(y_k, auxiliary output k)`` with the compiled losses.
        """
        if self._compile_loss is None:
            raise ValueError(
                "auxiliary_loss uses the compiled losses: compile the model first, e.g. with "
                "mtl.training.compile_for_tasks(model, tasks)."
            )
        if not isinstance(y, Mapping):
            y = (
                {self.task_names[0]: y}
                if len(self.task_names) == 1
                else dict(zip(self.task_names, y, strict=True))
            )
        predictions = {
            t: auxiliary[auxiliary_name(t, modality)] for t in self.task_names
        }
        if not self._compile_loss.built:
            self._compile_loss.build(y, predictions)
        total = 0.0
        # The compiled losses, output by output, without CompileLoss.__call__: that would also log the
        # auxiliary losses under the fused outputs' "<task>_loss" names.
        for path, loss_fn, loss_weight, _ in self._compile_loss._flat_losses:
            (task,) = path
            weight = _weight_of(sample_weight, task)
            value = ops.cast(loss_fn(y[task], predictions[task], weight), "float32")
            total = total + (value if loss_weight is None else value * loss_weight)
        return total

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The compiled loss of the fused outputs plus ``sum_m w_m`` times modality ``m``'s auxiliary loss.

        With ``mask_missing``, each example's weight in ``m``'s auxiliary loss is multiplied by whether it
        has ``m`` (0 where ``x[m]`` is all zeros).
        """
        total = super().compute_loss(
            x, y, y_pred, sample_weight=sample_weight, training=training
        )
        if y is None:
            return total
        auxiliary = self._auxiliary_predictions(x, y_pred, training)
        for modality, w in self.auxiliary_weights.items():
            if w == 0:
                continue
            weight = sample_weight
            if self.mask_missing:
                present = _present(x[modality])
                weight = {
                    t: present
                    if _weight_of(sample_weight, t) is None
                    else ops.reshape(
                        ops.cast(_weight_of(sample_weight, t), "float32"), (-1,)
                    )
                    * present
                    for t in self.task_names
                }
            total = total + w * self.auxiliary_loss(y, auxiliary, modality, weight)
        return total

    def auxiliary_outputs(self, x, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Every auxiliary head's predictions on ``x`` (in inference mode), to score each head.

        Returns:
            ``{"<task>_aux_<modality>": predictions}`` (NumPy arrays), modality by modality.
        """
        outputs = self.graph.predict(x, batch_size=batch_size, verbose=0)
        return {a: np.asarray(outputs[a]) for a in self.auxiliary_names}

    def get_layer(self, name=None, index=None):
        """A layer of :attr:`graph` (an encoder such as ``"image_encoder"``, a head), as for a plain model."""
        return self.graph.get_layer(name, index)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "graph": keras.saving.serialize_keras_object(self.graph),
            "task_names": list(self.task_names),
            "auxiliary_weights": dict(self.auxiliary_weights),
            "mask_missing": self.mask_missing,
        }

    @classmethod
    def from_config(cls, config: dict) -> AuxiliaryHeadsModel:
        config = dict(config)
        graph = keras.saving.deserialize_keras_object(config.pop("graph"))
        return cls(graph, **config)


def _weight_of(sample_weight, task):
    """The sample weights of ``task`` in ``sample_weight`` (``None``, one array, or one per task)."""
    if isinstance(sample_weight, Mapping):
        return sample_weight.get(task)
    return sample_weight
