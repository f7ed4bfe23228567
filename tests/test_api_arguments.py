"""Every public function and class of ``mtl_tutorial`` refuses a bad argument with a useful message.

The test walks the public API (each module's ``__all__``, or its public names). For every parameter it
passes a value of the wrong kind, chosen from the parameter's annotation (a string for a number, a number
for a string or a sequence, a non-task for tasks, ...), with every other argument valid (``VALID``), and
requires a ``ValueError`` or ``TypeError`` whose message names the argument, shows the value, and says what
was expected ("must", "expected" or "e.g."). ``test_the_walk_covers_the_public_api`` fails when a public
callable has no entry in ``VALID`` or ``NOT_WALKED``. Two more checks keep the package's one layer of
argument checks in agreement: every walked callable accepts its valid arguments with NumPy scalars in place of
Python numbers (a kind that ``check_types`` accepts is not refused later), and every public parameter named
``seed`` refuses -1 with ``check_seed``'s message.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import mtl_tutorial as mtl
from mtl_tutorial import distributed as mtl_distributed

MODULES = [
    mtl.data,
    mtl.models,
    mtl.training,
    mtl.multitask_model,
    mtl.rules,
    mtl.metrics,
    mtl.experiments,
    mtl.plots,
    mtl.scaling,
    mtl.serving,
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
# Public callables that the modules' ``__all__`` leave out but the walk covers: the splits' methods that
# draw with a seed, and the digits modules' functions that take one.
ALSO_WALKED = {
    "data.Split.sample": mtl.data.Split.sample,
    "data.Split.with_missing_labels": mtl.data.Split.with_missing_labels,
    "data.Split.with_missing_modality": mtl.data.Split.with_missing_modality,
    "data.Split.with_noise": mtl.data.Split.with_noise,
    "digits.key_tone_prompts": mtl.data.digits.key_tone_prompts,
    "av_digits.audio_statistics": mtl.data.av_digits.audio_statistics,
    "av_digits.raw_av_digits": mtl.data.av_digits.raw_av_digits,
}
CALLABLES = {**PUBLIC, **ALSO_WALKED}


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


def _split():
    return mtl.data.make_correlated_tasks(100, input_dim=4).train


def _two_views_split():
    return mtl.data.make_two_views(100).train


@functools.cache
def _audio_statistics():
    return mtl.data.av_digits.audio_statistics()


def _tiny_builder(data):
    return mtl.models.build_shared_bottom(3, data.tasks, 4, 2)


def _evaluate_tasks_arguments():
    data = mtl.data.make_correlated_tasks(100, input_dim=3)
    network = mtl.models.build_shared_bottom(3, data.tasks, 4, 2)
    return (mtl.training.compile_for_tasks(network, data.tasks), data), {}


# Valid arguments for each public callable: (positional, keyword) factories. Parameters not listed take
# their defaults; those are walked too.
VALID = {
    "data.load_penguins": lambda: ((), {}),
    "data.load_av_digits": lambda: ((), {}),
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
    "models.AuxiliaryHeadsModel": lambda: (
        (
            mtl.models.build_fusion_model(SHAPES, TASKS, auxiliary_heads=1.0).graph,
            ("kind", "size"),
            {"image": 1.0, "audio": 0.5},
        ),
        {"mask_missing": True},
    ),
    "models.auxiliary_name": lambda: (("kind", "image"), {}),
    "models.DualEncoder": lambda: (
        (
            mtl.models.modality_encoder((5,), 4, "a_enc"),
            mtl.models.modality_encoder((5,), 4, "b_enc"),
        ),
        {},
    ),
    "training.compile_for_tasks": lambda: ((_network(), TASKS), {}),
    "multitask_model.MultiTaskModel": lambda: ((_network(), TASKS), {}),
    "training.to_dataset": lambda: ((_split(),), {}),
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
    # Methods take their instance first.
    "data.Split.sample": lambda: ((_split(), 10), {"seed": 0}),
    "data.Split.with_missing_labels": lambda: ((_split(), "task_1", 10), {"seed": 0}),
    "data.Split.with_missing_modality": lambda: (
        (_two_views_split(), "view_a"),
        {"fraction": 0.5, "seed": 0},
    ),
    "data.Split.with_noise": lambda: ((_two_views_split(), "view_a", 0.5), {"seed": 0}),
    "digits.key_tone_prompts": lambda: ((_audio_statistics(),), {"seed": 0}),
    "av_digits.audio_statistics": lambda: ((), {"seed": 0}),
    "av_digits.raw_av_digits": lambda: (("test",), {"seed": 0}),
    "serving.raw_request": lambda: ((4,), {"seed": 0}),
    "scaling.committed_results": lambda: (("scale",), {}),
    "scaling.time_training": lambda: (
        (_tiny_builder, mtl.data.make_correlated_tasks(100, input_dim=3)),
        {"epochs": 1},
    ),
    "scaling.compare_configurations": lambda: (
        (_tiny_builder, mtl.data.make_correlated_tasks(100, input_dim=3), {"a": {}}),
        {"reference": "a", "repeats": 1},
    ),
}
# Public callables without arguments to get wrong, or whose arguments are Keras's own or tensors.
NOT_WALKED = {
    "data.MultiTaskData": "a dataclass the loaders fill; readers do not build one by hand",
    "data.Split": "a dataclass the loaders fill",
    "models.ModalityPresence": "no arguments of its own (Keras layer options only)",
    "models.PresentSum": "no arguments of its own",
    "models.PresentAverage": "no arguments of its own",
    "models.TensorFusion": "no arguments of its own",
    "models.symmetric_info_nce": "takes tensors inside a training step",
    "models.gathered_info_nce": "takes tensors inside a replica's training step",
    "rules.Rule": "the base class",
    "rules.register": "a class decorator for the package's own rules; it refuses a non-rule itself",
    "plots.use_book_style": "no arguments",
    "experiments.Comparison": "a result that compare and compare_values build; not built by hand",
    "experiments.ComparisonLog": "no arguments",
    "serving.export_for_serving": "needs a trained network; tests/test_serving.py checks its refusals",
    "serving.describe_signature": "reads an exported artefact; tests/test_serving.py checks its refusal",
    "serving.endpoint_latency": "times an exported artefact; tests/test_serving.py checks its table",
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
    if a.startswith("Rule"):
        return "not a rule"
    # Before the mappings: a number or a mapping (``float | Mapping[str, float]``) takes 3.
    if a.startswith(("int", "float")):
        return "three"
    if a.startswith(("Sequence", "tuple", "Mapping", "dict")) or "Mapping" in a:
        return 3
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
        for parameter in inspect.signature(CALLABLES[name]).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            bad = bad_value(name, parameter)
            if bad is not None:
                yield pytest.param(
                    name, parameter.name, bad, id=f"{name}({parameter.name}={bad!r})"
                )


def _call_with(name, argument, value):
    """Call public callable ``name`` with its valid arguments, except ``argument=value``."""
    obj = CALLABLES[name]
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
        CALLABLES[name](*args, **kwargs)
    plt.close("all")


def test_the_walk_covers_the_public_api():
    assert set(CALLABLES) == set(VALID) | set(NOT_WALKED), (
        f"not walked: {sorted(set(CALLABLES) - set(VALID) - set(NOT_WALKED))}; "
        f"gone: {sorted((set(VALID) | set(NOT_WALKED)) - set(CALLABLES))}"
    )


# --- One layer of checks: NumPy scalars pass wherever Python numbers do; seeds follow check_seed -----------


def _numpy_scalars(value):
    """``value`` with every Python int (not bool) a ``np.int64`` and every Python float a ``np.float64``,
    inside tuples, lists and dict values too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, tuple | list):
        return type(value)(_numpy_scalars(item) for item in value)
    if isinstance(value, dict):
        return {key: _numpy_scalars(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("name", list(VALID))
def test_numpy_scalars_are_accepted_wherever_python_numbers_are(name):
    """``check_types`` accepts NumPy integers and floats for ``int`` and ``float``: no later check may refuse
    them. Every argument, the valid ones and the defaults, goes in with NumPy scalars for Python numbers."""
    obj = CALLABLES[name]
    args, kwargs = VALID[name]()
    bound = inspect.signature(obj).bind(*args, **kwargs)
    bound.apply_defaults()
    for argument, value in bound.arguments.items():
        bound.arguments[argument] = _numpy_scalars(value)
    obj(*bound.args, **bound.kwargs)


def _package_seed_callables() -> set:
    """Every public function, class and public method of the package with a parameter named ``seed``."""
    found = set()
    for info in pkgutil.walk_packages(mtl.__path__, "mtl_tutorial."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                name.startswith("_")
                or getattr(obj, "__module__", None) != module.__name__
            ):
                continue
            candidates = (
                [obj] if inspect.isfunction(obj) or inspect.isclass(obj) else []
            )
            if inspect.isclass(obj):
                candidates += [
                    member
                    for member_name, member in vars(obj).items()
                    if not member_name.startswith("_") and inspect.isfunction(member)
                ]
            for candidate in candidates:
                try:
                    parameters = inspect.signature(candidate).parameters
                except ValueError:  # a built-in's, such as an exception class's
                    continue
                if "seed" in parameters:
                    found.add(candidate)
    return found


SEEDED = [
    name for name in VALID if "seed" in inspect.signature(CALLABLES[name]).parameters
]


# Public callables with a seed that the walk cannot call with valid arguments, and why.
SEED_NOT_WALKED = {
    mtl_distributed.run_workers: "starts worker processes; tests/test_distributed.py checks its refusals",
    mtl_distributed.train_worker: "joins a cluster; run_workers checks the settings first",
}


def test_every_public_seed_parameter_is_walked():
    walked = {CALLABLES[name] for name in SEEDED} | set(SEED_NOT_WALKED)
    missing = _package_seed_callables() - walked
    assert not missing, (
        f"parameters named seed that the walk misses: {sorted(map(str, missing))}"
    )


@pytest.mark.parametrize("bad", [-1, np.int64(-1)], ids=["int", "np.int64"])
@pytest.mark.parametrize("name", SEEDED)
def test_a_negative_seed_is_refused_by_check_seed(name, bad):
    with pytest.raises(ValueError) as raised:
        _call_with(name, "seed", bad)
    message = str(raised.value)
    assert message.startswith(
        "seed must be a non-negative integer (as NumPy and scikit-learn require), e.g. 0; got seed="
    ), message
    _assert_useful(message, "seed", bad)


def test_train_over_seeds_refuses_a_negative_seed_naming_it():
    (models, data, _), kwargs = VALID["experiments.train_over_seeds"]()
    with pytest.raises(
        ValueError,
        match=r"seeds\[1\] must be a non-negative integer \(as NumPy and scikit-learn require\), "
        r"e\.g\. 0; got seeds\[1\]=-1\.",
    ):
        mtl.experiments.train_over_seeds(models, data, (0, -1), **kwargs)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
