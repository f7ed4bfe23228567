import numpy as np
import pytest

from mtl_tutorial import Task
from mtl_tutorial.tasks import check_keys, check_tasks


def test_classification_task_properties():
    task = Task("species", "classification", num_classes=3, class_names=("a", "b", "c"))
    assert task.output_units == 3
    assert task.output_activation == "softmax"
    assert task.loss == "sparse_categorical_crossentropy"
    assert task.metric == "accuracy"
    assert task.higher_is_better


def test_regression_task_properties():
    task = Task("mass", "regression", unit="g")
    assert task.output_units == 1
    assert task.output_activation is None
    assert task.loss == "mse"
    assert task.metric == "mae"
    assert not task.higher_is_better


def test_a_numpy_integer_number_of_classes_is_kept_as_an_int():
    task = Task("species", "classification", num_classes=np.int64(3))
    assert task.num_classes == 3
    assert (
        type(task.output_units) is int
    )  # Keras refuses NumPy integers as a layer's width


@pytest.mark.parametrize("num_classes", [None, 0, 1, 2.5, True, np.int64(1)])
def test_classification_without_enough_classes_is_refused(num_classes):
    with pytest.raises(ValueError, match=r"needs num_classes >= 2; got num_classes="):
        Task("species", "classification", num_classes=num_classes)


def test_regression_with_classes_is_refused():
    with pytest.raises(ValueError, match="takes no num_classes; got num_classes=3"):
        Task("mass", "regression", num_classes=3)


def test_unknown_kind_and_bad_name_are_refused():
    with pytest.raises(ValueError, match="kind must be one of .* got kind='ranking'"):
        Task("order", "ranking")
    with pytest.raises(ValueError, match="identifier .* got name='body mass'"):
        Task("body mass", "regression")


def test_class_names_must_match_num_classes():
    with pytest.raises(ValueError, match="class_names has 2 entries but num_classes=3"):
        Task("species", "classification", num_classes=3, class_names=("a", "b"))


def test_check_tasks(two_tasks):
    assert check_tasks(list(two_tasks)) == two_tasks
    assert check_tasks(two_tasks[0]) == (two_tasks[0],)
    with pytest.raises(ValueError, match="at least one Task"):
        check_tasks([])
    with pytest.raises(ValueError, match="repeats task names \\['kind'\\]"):
        check_tasks([two_tasks[0], two_tasks[0]])
    with pytest.raises(
        ValueError, match="must hold mtl_tutorial.Task objects; got str"
    ):
        check_tasks(["kind"])


def test_check_keys_names_unknown_and_missing(two_tasks):
    check_keys({"kind": 1, "size": 2}, two_tasks, "y")
    with pytest.raises(
        ValueError, match=r"unknown keys \['colour'\], missing keys \['size'\]"
    ):
        check_keys({"kind": 1, "colour": 2}, two_tasks, "y")
    with pytest.raises(ValueError, match="y must be a dict keyed by task name"):
        check_keys([1, 2], two_tasks, "y")
