"""Every public function and class of ``mtl_tutorial`` refuses a bad argument with a useful message.

The test walks the public API (each module's ``__all__``, or its public names). For every parameter it
passes a value of the wrong kind, chosen from the parameter's annotation (a string for a number, a number
for a string or a sequence, a non-task for tasks, ...), with every other argument valid (``VALID``), and
requires a ``ValueError`` or ``TypeError`` whose message names the argument, shows the value, and says what
was expected ("must", "expected" or "e.g."). ``test_the_walk_covers_the_public_api`` fails when a public
callable has no entry in ``VALID`` or ``NOT_WALKED``.
"""

from __future__ import annotations

import inspect
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import mtl_tutorial as mtl

MODULES = [
    mtl.data,
    mtl.models,
    mtl.training,
    mtl.multitask_model,
    mtl.rules,
    mtl.metrics,
    mtl.experiments,
    mtl.plots,
]
TASKS = (
    mtl.Task("kind", "classification", num_classes=3),
    mtl.Task("size", "regression", unit="cm"),
)
SHAPES = {"image": (4, 4, 1), "audio": (5,)}


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, o in vars(module).items()
            if not n.startswith("_")
            and getattr(o, "__module__", None) == module.__name__
        ]
    return {
        f"{module.__name__.split('.')[-1]}.{n}": getattr(module, n)
        for n in names
        if callable(getattr(module, n))
    }


PUBLIC = {name: obj for module in MODULES for name, obj in _public(module).items()}


def _results():
    return pd.DataFrame(
        [
            {
                "seed": s,
                "model": m,
                "task": t.name,
                "split": "test",
                "value": v + 0.01 * s,
            }
            for s in range(3)
            for m, v in (("a", 0.5), ("b", 0.6))
            for t in TASKS
        ]
    )


def _network():
    return mtl.models.build_shared_bottom(3, TASKS, 4, 2)


def _compiled():
    return mtl.training.compile_for_tasks(_network(), TASKS)


def _rule_arguments(rule: type[mtl.rules.Rule]):
    """The arguments of the registered rule's ``example``: its config, less the base layer's entries."""
    config = rule.example([task.name for task in TASKS]).get_config()
    base = mtl.rules.Rule().get_config()
    return (), {key: value for key, value in config.items() if key not in base}


def _evaluate_tasks_arguments():
    data = mtl.data.make_correlated_tasks(100, input_dim=3)
    network = mtl.models.build_shared_bottom(3, data.tasks, 4, 2)
    return (mtl.training.compile_for_tasks(network, data.tasks), data), {}


# Valid arguments for each public callable: (positional, keyword) factories. Parameters not listed take
# their defaults; those are walked too.
VALID = {
    "data.load_penguins": lambda: ((), {}),
    "data.load_multimodal_digits": lambda: ((), {}),
    "data.make_correlated_tasks": lambda: ((200,), {"input_dim": 5}),
    "data.make_two_views": lambda: ((200,), {}),
    "data.task_directions": lambda: ((0.5,), {"input_dim": 5}),
    "data.stratified_split": lambda: (
        (50,),
        {"labels": None, "val_fraction": 0.2, "test_fraction": 0.2, "seed": 0},
    ),
    "data.label_correlation": lambda: (
        (mtl.data.make_correlated_tasks(100, input_dim=4),),
        {},
    ),
    "models.build_shared_trunk": lambda: ((3, TASKS), {}),
    "models.build_shared_bottom": lambda: ((3, TASKS), {}),
    "models.build_cross_stitch": lambda: ((3, TASKS), {}),
    "models.build_mixture_of_experts": lambda: ((3, TASKS), {}),
    "models.build_ple": lambda: ((3, TASKS), {}),
    "models.build_fusion_model": lambda: ((SHAPES, TASKS), {}),
    "models.build_capstone": lambda: ((SHAPES, TASKS), {}),
    "models.build_post_model": lambda: ((SHAPES, TASKS[1], TASKS[0]), {}),
    "models.modality_encoder": lambda: (((5,), 4, "enc"), {}),
    "models.MixtureOfExperts": lambda: ((3, 4), {}),
    "models.CustomizedGateControl": lambda: ((2, 2, 1, 4), {}),
    "models.CrossStitch": lambda: ((), {}),
    "models.GatedMultimodalUnit": lambda: ((4,), {}),
    "models.CrossModalAttention": lambda: ((), {}),
    "models.ModalityDropout": lambda: ((), {}),
    "models.DualEncoder": lambda: (
        (
            mtl.models.modality_encoder((5,), 4, "a_enc"),
            mtl.models.modality_encoder((5,), 4, "b_enc"),
        ),
        {},
    ),
    "training.compile_for_tasks": lambda: ((_network(), TASKS), {}),
    "multitask_model.MultiTaskModel": lambda: ((_network(), TASKS), {}),
    "training.to_dataset": lambda: (
        (mtl.data.make_correlated_tasks(100, input_dim=4).train,),
        {},
    ),
    "training.Restart": lambda: ((_compiled(),), {}),
    "training.set_seed": lambda: ((0,), {}),
    **{
        f"rules.{name}": lambda rule=rule: _rule_arguments(rule)
        for name, rule in mtl.rules.RULES.items()
    },
    "metrics.task_metric": lambda: ((TASKS[1], np.zeros((4, 1)), np.ones((4, 1))), {}),
    "metrics.delta_m": lambda: (
        ({"kind": 0.5, "size": 1.0}, {"kind": 0.4, "size": 2.0}, TASKS),
        {},
    ),
    "metrics.recall_at_k": lambda: ((np.eye(4), np.eye(4)), {}),
    "metrics.evaluate_tasks": lambda: _evaluate_tasks_arguments(),
    "metrics.pareto_front": lambda: ((np.eye(3), (True, False, True)), {}),
    "experiments.results_table": lambda: (
        ({0: {"a": {"kind": 0.5}}},),
        {"split": "test"},
    ),
    "experiments.select_split": lambda: ((_results(), "test"), {}),
    "experiments.summarise": lambda: ((_results(),), {"split": "test"}),
    "experiments.compare": lambda: (
        (_results(), TASKS[0], "b", "a"),
        {"split": "test", "decimals": 2},
    ),
    "experiments.compare_values": lambda: (([0.1, 0.2, 0.15],), {"decimals": 2}),
    "experiments.delta_m_by_seed": lambda: (
        (_results(), TASKS, "b", "a"),
        {"split": "test"},
    ),
    "experiments.t_quantile": lambda: ((5,), {}),
    "experiments.sign_test_p": lambda: ((3, 5), {}),
    "experiments.holm": lambda: (([0.01, 0.2],), {}),
    "experiments.baseline_scores": lambda: (
        (mtl.data.make_correlated_tasks(100, input_dim=3), "val"),
        {},
    ),
    "experiments.train_over_seeds": lambda: (
        (
            {"m": lambda d: mtl.models.build_shared_bottom(3, d.tasks, 4, 2)},
            mtl.data.make_correlated_tasks(100, input_dim=3),
            (0,),
        ),
        {"epochs": 1},
    ),
    "plots.plot_paired_seeds": lambda: ((_results(), TASKS), {"split": "test"}),
    "plots.plot_tradeoff": lambda: ((_results(), TASKS), {"split": "test"}),
    "plots.plot_against": lambda: ((_results(), "seed"), {}),
    "plots.task_curve": lambda: (({"kind_loss": [1.0, 0.5]}, "kind"), {}),
    "plots.plot_task_curves": lambda: (
        ({"a": {"kind_loss": [1.0, 0.5]}}, TASKS[:1]),
        {},
    ),
    "plots.plot_gate_weights": lambda: (
        ({"p": np.full((2, 3), 1 / 3)}, ["kind", "size"]),
        {},
    ),
}
# Public callables without arguments to get wrong, or whose arguments are Keras's own or tensors.
NOT_WALKED = {
    "data.MultiTaskData": "a dataclass the loaders fill; readers do not build one by hand",
    "data.Split": "a dataclass the loaders fill",
    "models.ModalityPresence": "no arguments of its own (Keras layer options only)",
    "models.PresentAverage": "no arguments of its own",
    "models.TensorFusion": "no arguments of its own",
    "models.symmetric_info_nce": "takes tensors inside a training step",
    "rules.Rule": "the base class",
    "rules.register": "a class decorator for the package's own rules; it refuses a non-rule itself",
    "plots.use_book_style": "no arguments",
    "experiments.Comparison": "a result that compare and compare_values build; not built by hand",
    "experiments.ComparisonLog": "no arguments",
}


def _bad_value(annotation: str):
    """A value of the wrong kind for a parameter annotated ``annotation``, or None to skip it."""
    a = annotation.replace(" ", "")
    if a in ("", "inspect._empty") or "Axes" in a:
        return None
    if "ndarray" in a:
        return "three"
    if "Callable" in a:
        return 3
    if a.startswith("bool"):
        return "yes"
    if "Task" in a and "Sequence" in a:
        return ["not a task"]
    if a.startswith("Task"):
        return "not a task"
    if a.startswith(("Sequence", "tuple", "Mapping", "dict")) or "Mapping" in a:
        return 3
    if a.startswith(("int", "float")):
        return "three"
    if a.startswith("str"):
        return 3
    if a.startswith("History") or a.startswith("Mapping[str,History"):
        return 3
    if any(
        k in a for k in ("keras.Model", "DataFrame", "MultiTaskData", "Split", "Figure")
    ):
        return "not it"
    return None


def _walk(bad_value):
    """One case per walked parameter for which ``bad_value(name, parameter)`` gives a value (not None)."""
    for name in VALID:
        for parameter in inspect.signature(PUBLIC[name]).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            bad = bad_value(name, parameter)
            if bad is not None:
                yield pytest.param(
                    name, parameter.name, bad, id=f"{name}({parameter.name}={bad!r})"
                )


def _call_with(name, argument, value):
    """Call public callable ``name`` with its valid arguments, except ``argument=value``."""
    obj = PUBLIC[name]
    args, kwargs = VALID[name]()
    bound = inspect.signature(obj).bind_partial(*args, **kwargs)
    bound.arguments[argument] = value
    return obj(*bound.args, **bound.kwargs)


def _assert_useful(message, argument, bad):
    assert argument in message, f"the message does not name {argument!r}: {message}"
    assert repr(bad) in message or str(bad) in message, (
        f"the message does not show {bad!r}: {message}"
    )
    assert re.search(r"must|expected|e\.g\.", message), (
        f"the message says nothing expected: {message}"
    )


@pytest.mark.parametrize(
    "name, argument, bad",
    list(_walk(lambda name, parameter: _bad_value(str(parameter.annotation)))),
)
def test_a_bad_argument_is_refused_with_a_useful_message(name, argument, bad):
    with pytest.raises((ValueError, TypeError)) as raised:
        _call_with(name, argument, bad)
    _assert_useful(str(raised.value), argument, bad)


# Number parameters for which a negative value is meaningful, with the reason.
NEGATIVE_ALLOWED = {
    ("data.make_correlated_tasks", "correlation"): "a cosine, in [-1, 1]",
    ("data.task_directions", "correlation"): "a cosine, in [-1, 1]",
}


def _negative(name, parameter):
    """-1 (or -1.0) for a number parameter where a negative value means nothing, else None."""
    kind = str(parameter.annotation).replace(" ", "").split("|")[0]
    if kind not in ("int", "float") or (name, parameter.name) in NEGATIVE_ALLOWED:
        return None
    return -1 if kind == "int" else -1.0


@pytest.mark.parametrize("name, argument, bad", list(_walk(_negative)))
def test_a_negative_number_is_refused_where_it_means_nothing(name, argument, bad):
    """Sizes, rates, fractions, noise levels, step sizes and seeds: -1 is out of range for all of them."""
    with pytest.raises(ValueError) as raised:
        _call_with(name, argument, bad)
    _assert_useful(str(raised.value), argument, bad)


def test_negative_numbers_are_allowed_where_they_mean_something():
    for name, argument in NEGATIVE_ALLOWED:
        _call_with(name, argument, -0.5)


def test_valid_arguments_are_valid():
    for name, valid in VALID.items():
        args, kwargs = valid()
        PUBLIC[name](*args, **kwargs)
    plt.close("all")


def test_the_walk_covers_the_public_api():
    assert set(PUBLIC) == set(VALID) | set(NOT_WALKED), (
        f"not walked: {sorted(set(PUBLIC) - set(VALID) - set(NOT_WALKED))}; "
        f"gone: {sorted((set(VALID) | set(NOT_WALKED)) - set(PUBLIC))}"
    )


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
