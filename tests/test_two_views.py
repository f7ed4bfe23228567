"""The two-view generator: the label lives where its three weights put it."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

import mtl_tutorial as mtl


def _accuracy(data, select, model=None):
    model = model or LogisticRegression(max_iter=2000)
    model.fit(select(data.train.x), data.train.y["label"])
    return model.score(select(data.test.x), data.test.y["label"])


def view_a(x):
    return x["view_a"]


def view_b(x):
    return x["view_b"]


def both(x):
    return np.hstack([x["view_a"], x["view_b"]])


def test_shapes_determinism_and_balance():
    data = mtl.data.make_two_views(1000, view_dim=6, seed=1)
    assert data.input_shapes == {"view_a": (6,), "view_b": (6,)}
    assert [task.name for task in data.tasks] == ["label"]
    assert data.train.x["view_a"].dtype == np.float32
    again = mtl.data.make_two_views(1000, view_dim=6, seed=1)
    np.testing.assert_array_equal(data.test.x["view_b"], again.test.x["view_b"])
    assert 0.4 < data.train.y["label"].mean() < 0.6


def test_shared_label_is_in_either_view():
    data = mtl.data.make_two_views(3000, shared=1.0, interaction=0.0, seed=0)
    assert _accuracy(data, view_a) > 0.9 and _accuracy(data, view_b) > 0.9


def test_unique_label_needs_both_views_but_each_helps():
    data = mtl.data.make_two_views(3000, unique=1.0, interaction=0.0, seed=0)
    alone = max(_accuracy(data, view_a), _accuracy(data, view_b))
    assert 0.6 < alone < 0.85
    assert _accuracy(data, both) > alone + 0.1


def test_interaction_label_is_invisible_to_each_view_and_to_a_linear_model():
    data = mtl.data.make_two_views(3000, interaction=1.0, seed=0)
    for select in (view_a, view_b, both):
        assert _accuracy(data, select) < 0.58  # chance is 0.5
    # A non-linear model that sees both views at once finds it.
    mlp = MLPClassifier((32,), max_iter=2000, random_state=0)
    assert _accuracy(data, both, mlp) > 0.85


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 5}, "n_samples must be an integer of at least 10"),
        ({"view_dim": 1}, "view_dim must be an integer of at least 2"),
        ({"shared": -1.0}, "shared must be a number >= 0"),
        ({"interaction": 0.0}, "At least one of shared, unique, interaction"),
        ({"noise_std": "high"}, "noise_std must be a number.*; got noise_std='high'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mtl.data.make_two_views(**kwargs)
